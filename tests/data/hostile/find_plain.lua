-- A plain search whose every candidate compares 100000 bytes.
local hay = string.rep("a", 1000000)
local needle = string.rep("a", 100000) .. "b"
return string.find(hay, needle, 1, true)
