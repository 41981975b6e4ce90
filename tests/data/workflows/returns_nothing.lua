-- forgets to return the table
local wf = { name = "mini" }
