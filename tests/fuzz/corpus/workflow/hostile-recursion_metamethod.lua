-- An __index metamethod that indexes itself: every level is a C call.
local t = setmetatable({}, {
    __index = function(t, k)
        return t[k]
    end,
})
return t.x
