-- Removing the count hook.
debug.sethook()
while true do
end
