-- string.rep asked for a gigabyte.
local s = string.rep("x", 1e9)
return #s
