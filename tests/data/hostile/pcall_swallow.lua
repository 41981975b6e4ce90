-- Catching the budget error with pcall and looping again.
while true do
    pcall(function()
        while true do
        end
    end)
end
