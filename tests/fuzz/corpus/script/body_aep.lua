for _, ev in ipairs(events) do
  local a = ev.activation
  if a then context.bindings.out:send(json.encode(a.realized), { partitionKey = a.identities.ecid[1] }) else context.fail(ev, "no profile") end
end
return #events
