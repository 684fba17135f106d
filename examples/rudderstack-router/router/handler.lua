-- router: RudderStack events -> hubs by event name, then by type.
--
-- The rules are data: EVENT_ROUTES picks a binding for named track events (the ones a
-- downstream team owns, such as orders), TYPE_ROUTES for everything else by type, and
-- "other" catches the rest. A sender can also pick the hub per event, as RudderStack's own
-- destination lets it: integrations.AZURE_EVENT_HUB.topic names an output hub.
--
-- Keys follow RudderStack's Event Hubs destination (userId, else anonymousId), so one
-- user's events stay in order on every output hub.

local EVENT_ROUTES = {
  ["Order Completed"] = "orders",
  ["Order Refunded"]  = "orders",
  ["Order Cancelled"] = "orders",
}

local TYPE_ROUTES = {
  track    = "tracks",
  identify = "profiles",
  alias    = "profiles",
  group    = "profiles",
  page     = "pageviews",
  screen   = "pageviews",
}

-- The names RudderStack accepts for this destination under `integrations`.
local INTEGRATION_NAMES = { "AZURE_EVENT_HUB", "azure_event_hub", "AzureEventHub" }

local function usable(id)
  if type(id) == "string" and id ~= "" then return id end
  if math.type(id) == "integer" then return tostring(id) end
  return nil
end

-- integrations.<name>.topic, when the event names one.
local function topic_override(msg)
  local integrations = msg.integrations
  if type(integrations) ~= "table" then return nil end
  for _, name in ipairs(INTEGRATION_NAMES) do
    local settings = integrations[name]
    if type(settings) == "table" and type(settings.topic) == "string" then
      return settings.topic
    end
  end
  return nil
end

-- The binding whose hub is `hub`: bindings carry their eventHubName.
local function binding_for_hub(bindings, hub)
  for name, binding in pairs(bindings) do
    if binding.eventHubName == hub then return name end
  end
  return nil
end

local function choose(msg, context)
  local topic = topic_override(msg)
  if topic then
    local name = binding_for_hub(context.bindings, topic)
    if name then return name end
    context.log.warn(("topic %q has no output binding; routing by type"):format(topic))
  end
  local kind = type(msg.type) == "string" and msg.type:lower() or ""
  if kind == "track" and EVENT_ROUTES[msg.event] then return EVENT_ROUTES[msg.event] end
  return TYPE_ROUTES[kind] or "other"
end

return function(events, context)
  for _, ev in ipairs(events) do
    local msg = ev.body
    if type(msg) == "table" then
      local name = choose(msg, context)
      local key = usable(msg.userId) or usable(msg.anonymousId)
      context.bindings[name]:send(msg, { partitionKey = key })
      local label = msg.event or msg.name
      context.log(("%s%s from %s -> %s"):format(tostring(msg.type),
        type(label) == "string" and (' "%s"'):format(label) or "",
        key or "(no id)", context.bindings[name].eventHubName))
    else
      context.log.warn(("offset %d: not a JSON object (%s), skipped")
                       :format(ev.offset, ev.decodeError or type(msg)))
    end
  end
end
