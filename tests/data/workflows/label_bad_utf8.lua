-- a label that is not UTF-8
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN", label = "\xff\xfe" }, { name = "DONE", terminal = true } },
  transitions = { { name = "go", label = "办结", from = "OPEN", to = "DONE", roles = { "clerk" } } },
}
