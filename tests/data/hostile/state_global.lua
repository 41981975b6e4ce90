-- A guard that counts its calls in a global.
return {
    guard = function()
        count = (count or 0) + 1
        return count == 1
    end,
    ok = function() return count == nil end,
}
