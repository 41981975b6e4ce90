-- states misspelt as stats at the top
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  transitions = { { name = "go", label = "办结", from = "OPEN", to = "DONE", roles = { "clerk" } } },
  stats = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
}
