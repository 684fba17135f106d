-- rudderstack-fanout: RudderStack events -> one hub per event type.
--
--   track     -> rs-tracks      (binding "tracks")
--   identify  -> rs-identities  (binding "identities")
--   any other -> rs-other       (page, screen, group, alias, ...; binding "other")
--
-- Each event is forwarded unchanged (the whole RudderStack message), with its type (and a
-- track's event name) in the properties so consumers can filter without parsing the body.
-- The partition key follows RudderStack's own Event Hubs destination: userId, else
-- anonymousId. So one user's events stay in order in one partition of every output hub, as
-- they were on the input hub.

local json = require("hubfn").json

-- Output binding per type; `hub` only names it in the log (function.json decides).
local ROUTES = {
  track    = { binding = "tracks",     hub = "rs-tracks" },
  identify = { binding = "identities", hub = "rs-identities" },
}
local OTHER = { binding = "other", hub = "rs-other" }

-- RudderStack keys by `userId || anonymousId` (JavaScript truthiness): a non-empty string
-- or a number. JSON null arrives as hubfn.null, which is truthy in Lua, hence the type tests.
local function usable(id)
  if type(id) == "string" and id ~= "" then return id end
  if math.type(id) == "integer" then return tostring(id) end
  return nil
end

local function partition_key(msg)
  return usable(msg.userId) or usable(msg.anonymousId)
end

local function route(ev, context)
  local msg = ev.body
  if type(msg) ~= "table" or type(msg.type) ~= "string" then
    -- Not a RudderStack message: keep it (as sent) on rs-other rather than drop it.
    local why = ev.decodeError or "no \"type\" field"
    local raw = type(msg) == "string" and msg or json.encode(msg)
    context.bindings.other:send(raw, { partitionKey = ev.partitionKey,
                                       properties = { error = why } })
    context.log.warn(("offset %d: not a RudderStack event (%s) -> rs-other"):format(ev.offset, why))
    return
  end
  local kind = msg.type:lower()
  local r = ROUTES[kind] or OTHER
  local key = partition_key(msg)
  local properties = { type = kind }
  if kind == "track" and type(msg.event) == "string" then properties.event = msg.event end
  context.bindings[r.binding]:send(msg, { partitionKey = key, properties = properties })

  local what = kind
  if properties.event then
    what = ('%s "%s"'):format(kind, properties.event)
  elseif (kind == "page" or kind == "screen") and type(msg.name) == "string" then
    what = ('%s "%s"'):format(kind, msg.name)
  end
  context.log(("%s from %s -> %s"):format(what, key or "(no userId or anonymousId)", r.hub))
end

return function(events, context)
  for _, ev in ipairs(events) do
    route(ev, context)
  end
end
