-- two transitions share a name (use from = {...})
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN" }, { name = "WAIT" }, { name = "DONE", terminal = true } },
  transitions = { { name = "go", from = "OPEN", to = "WAIT", roles = { "clerk" } }, { name = "go", from = "WAIT", to = "DONE", roles = { "clerk" } } },
}
