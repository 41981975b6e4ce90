-- A definition nested 40 tables deep.
local t = {}
for i = 1, 40 do
    t = {t}
end
return t
