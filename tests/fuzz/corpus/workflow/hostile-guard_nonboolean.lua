-- Guards that answer something other than true or false, "reason".
return {
    guard = function() return 42 end,
    table_reason = function() return false, {} end,
    nothing = function() end,
    ok = function() return true end,
}
