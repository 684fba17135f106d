#!/usr/bin/env bash
# hubfn run: one function, events from a file, outputs as JSON lines on stdout.
. "$(dirname "$0")/lib.sh"

app=$T/app
mkdir -p "$app/route" "$app/single" "$app/broken"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 3 } } }
JSON
cat >"$app/route/function.json" <<'JSON'
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "in",
    "connection": "Conn", "cardinality": "many" },
  { "type": "eventHub", "direction": "out", "name": "crm", "eventHubName": "crm-updates",
    "connection": "Conn" } ] }
JSON
cat >"$app/route/handler.lua" <<'LUA'
return function(events, context)
  for i, ev in ipairs(events) do
    if ev.decodeError then
      context.bindings.crm:send("bad: " .. ev.body, { properties = { why = ev.decodeError } })
    else
      context.bindings.crm:send({ id = ev.body.id, n = #events, i = i },
                                { partitionKey = "p" .. ev.body.id })
    end
  end
end
LUA
printf '{"id":1}\n{"id":2}\nnot json\n\n{"id":4}\n' >"$T/events"
"$HUBFN" run "$app/route" --events "$T/events" >"$T/out" 2>"$T/err"
rc=$?
check many-exits-0 "exit $rc: $(cat "$T/err")" [ "$rc" = 0 ]
check many-prints-every-output "$(cat "$T/out")" [ "$(lines "$T/out")" = 4 ]
check output-lines-are-json "$(cat "$T/out")" python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows[0] == {"binding": "crm", "eventHubName": "crm-updates", "partitionKey": "p1",
                   "properties": {}, "body": {"id": 1, "n": 3, "i": 1}}, rows[0]
assert rows[2]["body"] == "bad: not json" and rows[2]["partitionKey"] is None
assert "byte" in rows[2]["properties"]["why"], rows[2]
assert rows[3]["body"] == {"id": 4, "n": 1, "i": 1}, rows[3]
' "$T/out"

cat >"$app/single/function.json" <<'JSON'
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "ev", "eventHubName": "in",
    "connection": "Conn" },
  { "type": "eventHub", "direction": "out", "name": "$return", "eventHubName": "out",
    "connection": "Conn" } ] }
JSON
cat >"$app/single/handler.lua" <<'LUA'
return function(ev, context)
  assert(ev.body and ev.offset, "cardinality one gets a single event")
  return { id = ev.body.id, offset = ev.offset,
           part = context.triggerMetadata.partitionContext.partitionId }
end
LUA
"$HUBFN" run "$app/single" --events "$T/events" >"$T/out1" 2>"$T/err1"
rc=$?
check one-exits-0 "exit $rc: $(cat "$T/err1")" [ "$rc" = 0 ]
check one-invokes-per-event "$(cat "$T/out1")" python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["body"].get("id") for r in rows] == [1, 2, None, 4], rows
assert [r["body"]["offset"] for r in rows] == [0, 1, 2, 4], rows
assert all(r["binding"] == "$return" and r["eventHubName"] == "out" for r in rows)
' "$T/out1"

cat >"$app/broken/function.json" <<'JSON'
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "in", "connection": "Conn", "cardinality": "many" } ] }
JSON
cat >"$app/broken/handler.lua" <<'LUA'
local function explode(ev)
  error("cannot route event " .. tostring(ev.body.id))
end
return function(events, context)
  explode(events[1])
end
LUA
"$HUBFN" run "$app/broken" --events "$T/events" >"$T/out2" 2>"$T/err2"
rc=$?
check failure-exits-1 "exit $rc" [ "$rc" = 1 ]
check failure-shows-file-line "$(cat "$T/err2")" grep -q 'handler.lua:2: cannot route event 1' "$T/err2"
check failure-shows-traceback "$(cat "$T/err2")" grep -q 'stack traceback' "$T/err2"
check failure-shows-lines "$(cat "$T/err2")" grep -q 'lines 1-3' "$T/err2"

"$HUBFN" run "$app/route" >/dev/null 2>"$T/err3"
rc=$?
check missing-events-is-usage-error "exit $rc: $(cat "$T/err3")" [ "$rc" = 2 ]
"$HUBFN" run "$app/route" --events "$T/nope" >/dev/null 2>"$T/err4"
rc=$?
check missing-file-exit-2 "exit $rc: $(cat "$T/err4")" grep -q "exit 2 .*nope" <(echo "exit $rc $(cat "$T/err4")")
