-- admin is the engine's own role
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "admin" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
  transitions = { { name = "go", from = "OPEN", to = "DONE", roles = { "admin" } } },
}
