-- A call that returns a function (calls may only return data).
return {guard = function() return function() end end, ok = function() return true end}
