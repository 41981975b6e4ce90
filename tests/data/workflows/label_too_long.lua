-- a label longer than 200 bytes
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", label = string.rep("长", 67) } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
  transitions = { { name = "go", label = "办结", from = "OPEN", to = "DONE", roles = { "clerk" } } },
}
