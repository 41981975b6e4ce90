-- An endless loop in a __gc metamethod: it would run when the state closes.
setmetatable({}, {
    __gc = function()
        while true do
        end
    end,
})
return {}
