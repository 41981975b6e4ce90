-- the top level builds an endless table
local t = {}
for i = 1, 1e9 do t[i] = string.rep("x", 1000000) .. i end
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
  transitions = { { name = "go", label = "办结", from = "OPEN", to = "DONE", roles = { "clerk" } } },
}
