-- Routes Adobe Experience Platform audience activations to a CRM hub.
--
-- AEP sends a profile whenever one of its mapped audiences changes status (or an identity
-- or a mapped attribute changes), and every payload lists all the audiences the profile
-- holds. So we act on the changes only: `realized` (entered) and `exited` (left); audiences
-- still held (`existing`) are not news.
--
-- The output is keyed by the best identity the profile has: a CRM id first (the key the CRM
-- itself uses), then an email, then the ECID, so all updates of one profile land in one
-- partition, in order.

local KEY_ORDER = { "crmid", "email", "email_lc_sha256", "ecid" }

local function best_identity(identities)
  for _, ns in ipairs(KEY_ORDER) do
    local ids = identities[ns]
    if ids and ids[1] then return ns, ids[1] end
  end
  for ns, ids in pairs(identities) do
    if ids[1] then return ns, ids[1] end
  end
  return nil, nil
end

return function(events, context)
  for _, ev in ipairs(events) do
    local a = ev.activation
    if a then
      local ns, id = best_identity(a.identities)
      if not id then
        context.log.warn("activation without identities at offset", ev.offset)
      else
        for _, change in ipairs({ "realized", "exited" }) do
          for _, audience in ipairs(a[change]) do
            context.bindings.crm:send(
              { profile = id, namespace = ns, audience = audience,
                change = change == "realized" and "entered" or "left" },
              { partitionKey = id })
            context.log(("%s %s audience %s"):format(id, change == "realized" and "entered" or "left", audience))
          end
        end
      end
    end
  end
end
