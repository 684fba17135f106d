local cache = {}
local function memo(k) cache[k] = (cache[k] or 0) + 1 return cache[k] end
return { run = function(ev, context) context.log.info(memo(ev.offset), ev.body) return ev.body end }
