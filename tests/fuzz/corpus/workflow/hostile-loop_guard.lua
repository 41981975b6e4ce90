-- An endless loop inside a guard; ok() checks the state still works after.
return {
    guard = function(lead)
        while true do
        end
    end,
    ok = function() return true end,
}
