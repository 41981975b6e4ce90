-- Driving the collector (and watching memory) from a script.
collectgarbage("collect")
return collectgarbage("count")
