-- Guards that keep state in upvalues: a table, a number, and _ENV itself.
local state = {n = 0}
local calls = 0
return {
    guard = function()
        state.n = state.n + 1
        return state.n == 1
    end,
    counter = function()
        calls = calls + 1
        return calls == 1, "called before"
    end,
    swap_env = function()
        local first = answer == nil
        _ENV = {answer = 42}
        return first, "environment kept"
    end,
    ok = function() return state.n == 0 and calls == 0 end,
}
