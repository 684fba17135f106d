local co = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
local t = {}
for i = 1, 3 do t[i] = co() end
local ok, err = pcall(setmetatable, {}, { __gc = function() end })
table.sort(t, function(a, b) return a > b end)
return table.concat(t, ","):rep(2, ";")
