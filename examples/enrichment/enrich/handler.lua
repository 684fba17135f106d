-- enrich: AEP activations from the source namespace -> the same payloads, with audience
-- names and campaigns, on a hub of the target namespace.
--
-- The two sides use different connections (SourceHubs, TargetHubs in function.json), so the
-- enriched stream can live in another Event Hubs namespace than the one AEP writes to.
-- The output keeps AEP's shape, as the AEP tutorial's function did: each membership entry
-- gains "segmentName" and "campaign", so consumers of the target hub read it like any
-- activation (hubfn gives them the same ev.activation view).

local audiences = require("audiences")   -- lib/audiences.lua: lib/ is on package.path

-- Add name and campaign to every membership entry; returns the ids missing from the
-- catalogue. The catalogue's name wins over AEP's, so every system shows the same one.
local function enrich(membership)
  local unknown = {}
  for _, entries in pairs(membership) do
    if type(entries) == "table" then
      for id, entry in pairs(entries) do
        local known = audiences.lookup(id)
        if type(entry) == "table" and known then
          entry.segmentName = known.name
          entry.campaign = known.campaign
        elseif type(entry) == "table" then
          unknown[#unknown + 1] = id
        end
      end
    end
  end
  table.sort(unknown)
  return unknown
end

-- "Gold members, Sports fans" for the log; ids the catalogue lacks as they are.
local function names_of(ids)
  local names = {}
  for i, id in ipairs(ids) do
    local known = audiences.lookup(id)
    names[i] = known and known.name or id
  end
  return table.concat(names, ", ")
end

return function(events, context)
  for _, ev in ipairs(events) do
    local a = ev.activation
    if a then
      local body = ev.body
      local unknown = enrich(body.segmentMembership or {})
      if #unknown > 0 then
        context.log.warn(("offset %d: audiences missing from lib/audiences.lua: %s")
                         :format(ev.offset, table.concat(unknown, ", ")))
      end
      -- The ECID keeps one person's activations in order on the target hub.
      local ecid = a.identities.ecid and a.identities.ecid[1]
      context.bindings.enriched:send(body, { partitionKey = ecid or ev.partitionKey })
      local changes = {}
      if #a.realized > 0 then changes[#changes + 1] = "entered " .. names_of(a.realized) end
      if #a.exited > 0 then changes[#changes + 1] = "left " .. names_of(a.exited) end
      context.log(("ecid %s enriched: %s"):format(ecid or "?",
        #changes > 0 and table.concat(changes, "; ") or "no audience entered or left"))
    else
      context.log.warn(("offset %d: not an AEP activation, skipped"):format(ev.offset))
    end
  end
end
