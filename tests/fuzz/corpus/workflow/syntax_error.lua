-- a missing closing brace
return {
  name = "mini",
  initial = "OPEN"
  states = {},
}
