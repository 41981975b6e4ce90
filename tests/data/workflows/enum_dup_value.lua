-- an enum value appears twice
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = "办事员" } },
  fields = { { name = "x", type = "enum", values = { "是", "否", "是" } } },
  states = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
  transitions = { { name = "go", label = "办结", from = "OPEN", to = "DONE", roles = { "clerk" } } },
}
