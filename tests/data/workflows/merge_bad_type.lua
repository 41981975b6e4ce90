-- merge must name a text field
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { name = "n", type = "number" } },
  states = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
  transitions = { { name = "go", from = "OPEN", to = "DONE", roles = { "clerk" }, merge = "n" } },
}
