-- Each gsub doubles the string.
local s = "x"
while true do
    s = s:gsub(".", "%0%0")
end
