-- aep-router: Adobe Experience Platform audience changes -> the CRM hub (crm-updates).
--
-- AEP's Azure Event Hubs destination sends one profile per event whenever a mapped audience
-- changes status (or an identity or a mapped attribute changes), and each payload lists
-- every audience the profile holds. Only two statuses are news: `realized` (the profile
-- entered the audience) and `exited` (it left). `existing` only says "still a member", so
-- a profile re-sent for an attribute change produces no message at all.
--
-- Each change becomes one message on crm-updates, keyed by the profile's best identity
-- (see KEY_ORDER), so that every update of one profile lands in one partition, in order.
-- Delivery is at least once: the message carries the qualification time so the CRM can
-- recognise a replay.

-- Identity namespaces in order of preference for the partition key and the profile id:
--   crmid  the CRM's own customer id: the CRM applies the update without a lookup;
--   email  a known person without a CRM record yet: stable, and the CRM can match on it;
--   ecid   the Experience Cloud id every web/app visitor gets: anonymous profiles.
-- A profile with none of the three (say, only a phone number) is keyed by its first other
-- namespace in name order, so the choice never depends on table iteration order.
local KEY_ORDER = { "crmid", "email", "ecid" }

local CHANGES = { realized = "entered", exited = "left" }

local function best_identity(identities)
  for _, ns in ipairs(KEY_ORDER) do
    local ids = identities[ns]
    if ids and ids[1] then return ns, ids[1] end
  end
  local others = {}
  for ns, ids in pairs(identities) do
    if ids[1] then others[#others + 1] = ns end
  end
  table.sort(others)
  if others[1] then return others[1], identities[others[1]][1] end
  return nil, nil
end

-- "Gold members" (5b998cb9-...) when AEP sends segment names, the bare id otherwise.
local function describe(segment)
  if segment.name then return ('"%s" (%s)'):format(segment.name, segment.id) end
  return segment.id
end

local function route(a, ev, context)
  local ns, id = best_identity(a.identities)
  if not id then
    context.log.warn(("offset %d: activation without any identity, skipped"):format(ev.offset))
    return
  end
  local sent = 0
  -- a.segments is sorted by id, so the messages of one profile come out in a stable order.
  for _, segment in ipairs(a.segments) do
    local change = CHANGES[segment.status]
    if change then
      context.bindings.crm:send({
        profile = { namespace = ns, id = id },
        identities = a.identities,
        change = change,
        audience = { id = segment.id, name = segment.name },
        qualifiedAt = segment.lastQualificationTime,
      }, { partitionKey = id })
      context.log(("%s:%s %s audience %s -> crm-updates"):format(ns, id, change, describe(segment)))
      sent = sent + 1
    end
  end
  if sent == 0 then
    context.log.debug(("%s:%s: no audience entered or left (an identity or attribute update)")
                      :format(ns, id))
  end
end

return function(events, context)
  for _, ev in ipairs(events) do
    local a = ev.activation
    if a then
      route(a, ev, context)
    else
      -- Not an AEP profile: say why once per event, and go on with the batch.
      context.log.warn(("offset %d: not an AEP activation (%s), skipped")
                       :format(ev.offset, ev.decodeError or "no segmentMembership or identityMap"))
    end
  end
end
