-- table.remove trusting a __len that claims 2^50 elements.
local t = setmetatable({}, {__len = function() return 1 << 50 end})
return table.remove(t, 1)
