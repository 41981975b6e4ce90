-- 65 roles
local r = {}
for i = 1, 65 do r[i] = { name = "r" .. i } end
return {
  name = "mini",
  initial = "OPEN",
  roles = r,
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
  transitions = { { name = "go", label = "办结", from = "OPEN", to = "DONE", roles = { "clerk" } } },
}
