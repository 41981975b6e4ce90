-- roles with a gap
return {
  name = "mini",
  initial = "OPEN",
  roles = { [1] = { name = "clerk" }, [3] = { name = "chief" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
  transitions = { { name = "go", label = "办结", from = "OPEN", to = "DONE", roles = { "clerk" } } },
}
