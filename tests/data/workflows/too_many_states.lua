-- 129 states
local s = { { name = "OPEN" }, { name = "DONE", terminal = true } }
for i = 1, 127 do s[#s + 1] = { name = "S" .. i } end
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = s,
  transitions = { { name = "go", label = "办结", from = "OPEN", to = "DONE", roles = { "clerk" } } },
}
