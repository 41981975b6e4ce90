-- Giving the global table a metatable while loading.
setmetatable(_G, {__index = function(_, k) return k end})
return {}
