-- A table with a metatable that survives loading.
local calls = setmetatable({}, {__index = function() return 0 end})
return {guard = function() return calls.x == 0 end}
