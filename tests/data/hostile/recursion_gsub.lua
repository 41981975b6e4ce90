-- string.gsub whose replacement function calls gsub again.
local function f(s)
    return (s:gsub(".", f))
end
return f("aaa")
