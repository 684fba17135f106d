local t = { 1, 2, 3 }
table.insert(t, 1, 0)
table.move(t, 1, #t, 2)
return table.remove(t, 1), table.unpack(t)
