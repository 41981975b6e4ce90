-- distinct_from holds something that cannot be a transition name
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
  transitions = { { name = "go", from = "OPEN", to = "DONE", roles = { "clerk" }, distinct_from = { "Go Back" } } },
}
