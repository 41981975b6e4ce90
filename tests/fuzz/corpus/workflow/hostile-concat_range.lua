-- table.concat over 10^15 indexes whose values come from a C function:
-- no instruction runs between them, so only charging each one stops it.
local t = setmetatable({}, {__index = table.concat})
return table.concat(t, "", 1, 1e15)
