-- An endless loop in a __close metamethod, run when the block ends.
do
    local x <close> = setmetatable({}, {
        __close = function()
            while true do
            end
        end,
    })
end
return {}
