-- A gmatch iterator made while loading holds its position: state a later
-- call could use.
local it = ("a b c"):gmatch("%a")
return {guard = function() return it() ~= nil end}
