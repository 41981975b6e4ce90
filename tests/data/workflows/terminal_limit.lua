-- a terminal state with a time limit
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN" }, { name = "DONE", terminal = true, limit = { days = 3 } } },
  transitions = { { name = "go", label = "办结", from = "OPEN", to = "DONE", roles = { "clerk" } } },
}
