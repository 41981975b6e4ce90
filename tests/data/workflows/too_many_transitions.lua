-- 513 transitions
local t = {}
for i = 1, 513 do t[i] = { name = "t" .. i, from = "OPEN", to = "DONE", roles = { "clerk" } } end
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
  transitions = t,
}
