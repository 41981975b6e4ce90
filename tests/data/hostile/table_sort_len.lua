-- table.sort trusting a __len that claims 2^30 elements.
local t = setmetatable({}, {__len = function() return 1 << 30 end})
table.sort(t)
