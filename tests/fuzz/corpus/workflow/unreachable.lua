-- ORPHAN has no way in
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN" }, { name = "ORPHAN" }, { name = "DONE", terminal = true } },
  transitions = { { name = "go", from = "OPEN", to = "DONE", roles = { "clerk" } }, { name = "finish", from = "ORPHAN", to = "DONE", roles = { "clerk" } } },
}
