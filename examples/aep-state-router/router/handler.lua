-- router: AEP audience changes -> the CRM hub, each (profile, audience) change once.
--
-- AEP sends a profile again whenever a mapped attribute or identity is written, even with
-- the same value, retries deliveries that failed, and keeps no order; hubfn redelivers
-- what was not checkpointed after a crash. So the function remembers, per profile and
-- audience, the membership it last sent to the CRM ("in" or "out", and the qualification
-- time it came with) in the eventHubState binding `sent`, and sends a change only when it
-- differs from that:
--   realized, existing  -> "in"    (the profile is in the audience)
--   exited              -> "out"
-- A change older than the one last sent (an AEP retry that arrives late) is dropped.
-- A crash after both hubs took a batch but before its checkpoint runs the events again
-- against the state that already holds what was sent: nothing goes out again. (hubfn
-- writes the state only after the CRM hub took the messages: a crash in between repeats a
-- change, never loses one.)
--
-- The state is per partition of the input hub: this function reads a hub whose events are
-- keyed by the profile's ECID, so that every update of a profile meets the same state
-- (README: AEP sets no key; a keying function puts one on).

local MEMBERSHIP = { realized = "in", existing = "in", exited = "out" }

-- The profile's id for the CRM: its CRM id, else its email, else its ECID.
local PREFERRED = { "crmid", "email", "ecid" }

local function best_identity(identities)
  for _, ns in ipairs(PREFERRED) do
    local ids = identities[ns]
    if ids and ids[1] then return ns, ids[1] end
  end
end

-- The state key of a profile: its ECID, which every AEP profile has and which does not
-- change when a CRM id or an email is added later.
local function profile_key(identities)
  local ecid = identities.ecid and identities.ecid[1]
  if ecid then return "ecid:" .. ecid end
  local ns, id = best_identity(identities)
  return ns and (ns .. ":" .. id)
end

local function route(a, ev, context)
  local sent = context.bindings.sent
  local profile = profile_key(a.identities)
  local ns, id = best_identity(a.identities)
  if not profile or not id then
    context.log.warn(("offset %d: a profile without an ecid, crmid or email, skipped")
                     :format(ev.offset))
    return
  end
  for _, s in ipairs(a.segments) do
    local now = MEMBERSHIP[s.status]
    local key = profile .. "/" .. s.id
    local last = now and sent:get(key)
    if now and (not last or last.membership ~= now) then
      if last and last.qualifiedAt and s.qualifiedAt and s.qualifiedAt < last.qualifiedAt then
        context.log(("%s/%s: %s qualified %s is older than the %s already sent, dropped")
                    :format(profile, s.id, s.status, s.lastQualificationTime,
                            last.membership))
      else
        context.bindings.crm:send({
          profile = { namespace = ns, id = id },
          audience = { id = s.id, name = s.name },
          membership = now,
          qualifiedAt = s.lastQualificationTime,
        }, { partitionKey = id })
        sent:set(key, { membership = now, qualifiedAt = s.qualifiedAt })
      end
    end
  end
end

return function(events, context)
  for _, ev in ipairs(events) do
    local a = ev.activation
    if a then
      route(a, ev, context)
    else
      context.log.warn(("offset %d: not an AEP profile (%s), skipped")
                       :format(ev.offset, ev.decodeError or "no segmentMembership or identityMap"))
    end
  end
end
