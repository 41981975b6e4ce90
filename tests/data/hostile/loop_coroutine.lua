-- An endless loop inside a coroutine. The sandbox has no coroutine library,
-- so this fails at once; the count hook would reach into coroutines anyway.
local co = coroutine.wrap(function()
    while true do
    end
end)
co()
