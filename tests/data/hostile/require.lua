-- Loading a module.
local os = require("os")
return os.getenv("HOME")
