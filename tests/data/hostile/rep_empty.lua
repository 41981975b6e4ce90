-- string.rep of an empty string 10^18 times: Lua's own loops for ever.
local a = string.rep("", 1e18)
local b = string.rep("", 1e18, "")
return #a + #b
