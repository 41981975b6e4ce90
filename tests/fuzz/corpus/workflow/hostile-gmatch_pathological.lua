-- gmatch and gsub with the same backtracking pattern.
local s = string.rep("a", 1e5)
for w in s:gmatch(".-.-.-.-b") do
end
return s:gsub(".-.-.-.-b", "")
