-- table.concat of 64 pieces of 64 KiB with separators: 4 MiB.
local t = {}
for i = 1, 64 do
    t[i] = string.rep("x", 65536)
end
return table.concat(t, ",")
