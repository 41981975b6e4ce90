-- role names are lower-case identifiers
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "data-entry" } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
  transitions = { { name = "go", label = "办结", from = "OPEN", to = "DONE", roles = { "clerk" } } },
}
