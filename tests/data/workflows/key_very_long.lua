-- an unknown key too long to suggest anything
return {
  name = "mini",
  initial = "OPEN",
  roles = { { name = "clerk", this_key_is_far_too_long_to_be_a_typo_of_anything = 1 } },
  fields = { { name = "x", label = "甲", type = "text" } },
  states = { { name = "OPEN", label = "开" }, { name = "DONE", label = "完", terminal = true } },
  transitions = { { name = "go", label = "办结", from = "OPEN", to = "DONE", roles = { "clerk" } } },
}
