-- Dumping a function to bytecode.
return string.dump(function() return 1 end)
