-- STUCK can be entered but never finished
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN" }, { name = "STUCK" }, { name = "DONE", terminal = true } },
  transitions = { { name = "go", from = "OPEN", to = "DONE", roles = { "clerk" } }, { name = "stick", from = "OPEN", to = "STUCK", roles = { "clerk" } } },
}
