-- table.move over 2^50 empty slots.
return table.move({}, 1, 1 << 50, 2)
