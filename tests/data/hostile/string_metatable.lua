-- Attempts on the shared string metatable and the string library.
return {
    guard = function()
        getmetatable("").__index = {upper = function() return "pwned" end}
        return true
    end,
    rawset_meta = function()
        rawset(getmetatable(""), "__index", {})
        return true
    end,
    replace_lib = function()
        string.upper = function() return "pwned" end
        return true
    end,
    set_meta = function()
        setmetatable(string, nil)
        return true
    end,
    ok = function() return ("a"):upper() == "A" end,
}
