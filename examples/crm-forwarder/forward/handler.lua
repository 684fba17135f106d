-- forward: AEP audience changes -> a CRM's REST API.
--
-- For every audience a profile entered (realized), an upsert
--   PUT    {CRM_URL}/profiles/{id}/audiences/{audience}   with a JSON body
-- and for every audience it left (exited)
--   DELETE {CRM_URL}/profiles/{id}/audiences/{audience}
-- where {id} is the profile's best identity: its CRM id, else its email, else its ECID.
-- Audiences it still holds (existing) need nothing: the CRM has them already.
--
-- The http binding "crm" delivers each request after the handler returns and before the
-- checkpoint: 429, 5xx and timeouts are retried (Retry-After honoured), other 4xx fail the
-- invocation, which the retry policy runs again and then sends to the $deadLetter hub.
-- { event = ev } makes the Idempotency-Key header depend on the event and the request's
-- place among the event's requests only, so a request sent again after a crash or a
-- rebalance carries the key it had the first time, however the events were batched.

-- Identity namespaces in order of preference.
local PREFERRED = { "crmid", "email", "ecid" }

local function best_identity(identities)
  for _, ns in ipairs(PREFERRED) do
    local ids = identities[ns]
    if ids and ids[1] then return ns, ids[1] end
  end
end

-- One path segment: every byte but RFC 3986's unreserved ones percent-encoded.
local function segment(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

return function(events, context)
  for _, ev in ipairs(events) do
    local a = ev.activation
    local ns, id
    if a then ns, id = best_identity(a.identities) end
    if not a then
      context.log.warn(("offset %d: not an AEP profile, skipped"):format(ev.offset))
    elseif not id then
      if #a.realized + #a.exited > 0 then
        context.log.warn(("offset %d: audience changes for a profile without a crmid, email "
                          .. "or ecid identity, skipped"):format(ev.offset))
      end
    else
      local base = "/profiles/" .. segment(id) .. "/audiences/"
      local by_id = {}
      for _, s in ipairs(a.segments) do by_id[s.id] = s end
      for _, audience in ipairs(a.realized) do
        local s = by_id[audience]
        context.bindings.crm:send({
          profile = { id = id, namespace = ns },
          audience = { id = audience, name = s.name, qualifiedAt = s.lastQualificationTime },
        }, { path = base .. segment(audience), event = ev })
      end
      for _, audience in ipairs(a.exited) do
        context.bindings.crm:send("", { path = base .. segment(audience), method = "DELETE",
                                        event = ev })
      end
      if #a.realized + #a.exited > 0 then
        context.log(("%s %s: %d audience%s entered, %d left"):format(ns, id, #a.realized,
          #a.realized == 1 and "" or "s", #a.exited))
      end
    end
  end
end
