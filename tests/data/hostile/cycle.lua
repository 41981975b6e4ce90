-- A definition that contains itself.
local t = {name = "loop"}
t.self = t
return t
