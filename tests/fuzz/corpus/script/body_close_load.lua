local x <close> = setmetatable({}, { __close = function() end })
local ok = pcall(error, setmetatable({}, { __tostring = function() return "e" end }))
return load("return " .. tostring(#events))()
