-- The gopherlua peer's handler: the same work as hubfn's full-body handler (workload (a) in
-- tests/bench/consume.sh): every event's body, every segmentMembership.ups.*.status read.
-- Returns the number of realized audiences in the batch.
return function(events)
  local n = 0
  for i = 1, #events do
    for _, s in pairs(events[i].body.segmentMembership.ups) do
      if s.status == "realized" then n = n + 1 end
    end
  end
  return n
end
