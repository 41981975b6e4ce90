-- a field given as a bare string inside the field table
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { "x", label = "甲" } },
  states = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
  transitions = { { name = "go", label = "办结", from = "OPEN", to = "DONE", roles = { "clerk" } } },
}
