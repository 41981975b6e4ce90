-- An endless loop in a workflow file's top-level code.
local n = 0
while true do
    n = n + 1
end
