-- Recursion without end, not a tail call.
local function f(n)
    return f(n + 1) + 1
end
return f(1)
