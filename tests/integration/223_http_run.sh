#!/usr/bin/env bash
# HTTP from the Lua side, against tests/tools/httpserver.py:
#   run       `hubfn run` prints each request of an http output binding as a JSON line
#             {binding, method, url, headers, body} with credentials as "***" (the binding's
#             own headers, which resolve settings, always; a send's headers when their name
#             says credential): they appear nowhere in stdout or stderr; it sends nothing;
#             with --live it sends them, the server gets the real headers, the printed
#             Idempotency-Keys, a table body as JSON and a string body as it is, without a
#             Content-Type; a refused request makes it exit 1 with a line naming the URL;
#   example   examples/crm-forwarder with --live: the server gets exactly the requests of
#             its expected.jsonl;
#   handler   require("hubfn").http from a handler on the Kafka test broker: http.requests
#             returns its results in order, an unreachable URL gives nil, err and
#             { error = ... }; while one partition's handler waits 3 s for a slow lookup,
#             the other partition's events are handled and their outputs delivered.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"

httpd_start run || { fail server "$(cat "$T/run.err")"; exit 1; }

# --- run: 4 events; each a POST of its body with a query, a per-request header and a key
# header; even ids also a PUT of a string
fn=$T/runapp/api
mkdir -p "$fn"
echo '{ "version": "2.0" }' >"$T/runapp/host.json"
cat >"$T/runapp/local.settings.json" <<JSON
{ "Values": { "API_URL": "$HTTPD_URL/v2", "API_AUTH": "Bearer tok-SECRET123" } }
JSON
cat >"$fn/function.json" <<'JSON'
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "in",
      "connection": "Conn", "cardinality": "many" },
    { "type": "http", "direction": "out", "name": "crm", "url": "%API_URL%",
      "headers": { "Authorization": "%API_AUTH%", "X-Tenant": "acme" } } ] }
JSON
cat >"$fn/handler.lua" <<'LUA'
return function(events, context)
  for _, ev in ipairs(events) do
    local id = ev.body.id
    context.bindings.crm:send(ev.body, { path = "/items/" .. id,
      query = { z = "1 2", a = "x/y" },
      headers = { ["X-Api-Key"] = "key-SECRET456", ["X-Trace"] = "t-" .. id } })
    if id % 2 == 0 then
      context.bindings.crm:send("plain " .. id, { path = "/notes/" .. id, method = "put" })
    end
  end
end
LUA
for i in 1 2 3 4; do printf '{"id":%d,"name":"n%d"}\n' $i $i; done >"$T/run.events"

# printed FILE URL: the printed lines are the 6 requests, as specified
printed() {
    python3 - "$1" "$2" <<'PY'
import json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
url = sys.argv[2]
want = []
for i in range(1, 5):
    want.append(("POST", f"{url}/items/{i}?a=x%2Fy&z=1%202", {"id": i, "name": f"n{i}"},
                 {"Authorization": "***", "X-Tenant": "***", "X-Api-Key": "***",
                  "X-Trace": f"t-{i}", "Content-Type": "application/json"}))
    if i % 2 == 0:
        want.append(("PUT", f"{url}/notes/{i}", f"plain {i}",
                     {"Authorization": "***", "X-Tenant": "***"}))
assert len(lines) == len(want), f"{len(lines)} lines, want {len(want)}"
keys = set()
for got, (method, u, body, headers) in zip(lines, want):
    assert set(got) == {"binding", "method", "url", "headers", "body"}, got
    h = dict(got["headers"])
    key = h.pop("Idempotency-Key", "")
    assert re.fullmatch(r"[0-9a-f]{32}", key), got
    keys.add(key)
    assert (got["binding"], got["method"], got["url"], got["body"], h) == \
        ("crm", method, u, body, headers), f"got {got}, want {(method, u, body, headers)}"
assert len(keys) == len(lines), "keys repeat"
print("ok")
PY
}
"$HUBFN" run "$fn" --events "$T/run.events" >"$T/dry.out" 2>"$T/dry.err"
rc=$?
check run-exits-0 "exit $rc: $(tail -2 "$T/dry.err")" [ "$rc" = 0 ]
s=$(printed "$T/dry.out" "$HTTPD_URL/v2" 2>&1)
check run-prints-requests "$s" [ "$s" = ok ]
check run-masks-secrets "$(grep -o 'SECRET[0-9]*' "$T/dry.out" "$T/dry.err" | head -3)" \
    bash -c "! grep -q SECRET '$T/dry.out' '$T/dry.err'"
n=$(httpd_stat requests)
check run-sends-nothing "the server got $n requests" [ "$n" = 0 ]

"$HUBFN" run "$fn" --events "$T/run.events" --live >"$T/live.out" 2>"$T/live.err"
rc=$?
check live-exits-0 "exit $rc: $(tail -2 "$T/live.err")" [ "$rc" = 0 ]
s=$(printed "$T/live.out" "$HTTPD_URL/v2" 2>&1)
check live-prints-requests "$s" [ "$s" = ok ]
check live-masks-secrets "$(grep -o 'SECRET[0-9]*' "$T/live.out" "$T/live.err" | head -3)" \
    bash -c "! grep -q SECRET '$T/live.out' '$T/live.err'"
s=$(python3 - "$HTTPD_LOG" "$T/live.out" <<'PY'
import json, sys
from urllib.parse import urlsplit
got = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["id"])  # arrival order
printed = [json.loads(l) for l in open(sys.argv[2])]
assert len(got) == len(printed), f"{len(got)} requests, {len(printed)} printed"
for g, p in zip(got, printed):
    u = urlsplit(p["url"])
    h = g["headers"]
    body = p["body"] if isinstance(p["body"], str) else json.dumps(p["body"], separators=(",", ":"))
    assert (g["method"], g["path"], g["query"]) == (p["method"], u.path, u.query), (g, p)
    assert g["body"] == body, (g["body"], body)
    assert h["authorization"] == "Bearer tok-SECRET123", h
    assert h["x-tenant"] == "acme" and h["idempotency-key"] == p["headers"]["Idempotency-Key"], h
    if p["method"] == "POST":
        assert h["x-api-key"] == "key-SECRET456" and h["content-type"] == "application/json", h
    else:
        assert "content-type" not in h, h
print("ok")
PY
)
check live-sends-them "$s" [ "$s" = ok ]
httpd_script '[{"body_contains": "\"id\":3,", "status": 400, "body": "no such item"}]'
"$HUBFN" run "$fn" --events "$T/run.events" --live >"$T/live400.out" 2>"$T/live400.err"
rc=$?
check live-refused-exits-1 "exit $rc" [ "$rc" = 1 ]
check live-refused-names-url "$(grep -m1 'not delivered' "$T/live400.err")" \
    grep -q "HTTP 400 from POST $HTTPD_URL/v2/items/3?a=x%2Fy&z=1%202: no such item" "$T/live400.err"

# --- example: examples/crm-forwarder against a server of its own
httpd_start example || { fail example-server "$(cat "$T/example.err")"; exit 1; }
ex=$TOP/examples/crm-forwarder
CRM_URL=$HTTPD_URL/crm/v1 CRM_AUTH="Bearer example-SECRET789" \
    "$HUBFN" run "$ex/forward" --events "$ex/events.jsonl" --live >"$T/ex.out" 2>"$T/ex.err"
rc=$?
check example-live-exits-0 "exit $rc: $(tail -2 "$T/ex.err")" [ "$rc" = 0 ]
s=$(python3 - "$HTTPD_LOG" "$ex/expected.jsonl" <<'PY'
import json, sys
from urllib.parse import urlsplit
got = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["id"])  # arrival order
want = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
if len(got) != len(want):
    sys.exit(f"the server got {len(got)} requests, expected.jsonl has {len(want)}")
for i, (g, w) in enumerate(zip(got, want), 1):
    u = urlsplit(w["url"])
    h = g["headers"]
    body = w["body"] if isinstance(w["body"], str) else json.dumps(w["body"], separators=(",", ":"))
    problems = []
    if (g["method"], g["path"], g["query"]) != (w["method"], u.path, u.query):
        problems.append(f'{g["method"]} {g["path"]}?{g["query"]} for {w["method"]} {w["url"]}')
    if g["body"] != body:
        problems.append(f'body {g["body"]!r}, want {body!r}')
    if h.get("authorization") != "Bearer example-SECRET789":
        problems.append(f'authorization {h.get("authorization")!r}')
    if h.get("idempotency-key") != w["headers"]["Idempotency-Key"]:
        problems.append(f'key {h.get("idempotency-key")} for {w["headers"]["Idempotency-Key"]}')
    if h.get("content-type") != w["headers"].get("Content-Type"):
        problems.append(f'content-type {h.get("content-type")!r}')
    if problems:
        sys.exit(f"request {i}: " + "; ".join(problems))
print("ok")
PY
)
check example-live-server-got-expected "$s" [ "$s" = ok ]
check example-live-masks-secret "$(grep -c SECRET "$T/ex.out" "$T/ex.err")" \
    bash -c "! grep -q SECRET '$T/ex.out' '$T/ex.err'"

# --- handler: hub of 2 partitions, 2 workers. Partition 0 holds a "multi" event (four
# lookups at once, the third unreachable, then one unreachable lookup alone) and a "slow"
# one (a 3 s lookup, then an output); partition 1's 20 events are produced once the slow
# lookup is in flight, and each sends an output.
need_kafka
httpd_start handler || { fail handler-server "$(cat "$T/handler.err")"; exit 1; }
SLOW_MS=$((3000 * SLOW))
httpd_script "[{\"path\": \"/slow/\", \"delay_ms\": $SLOW_MS}, {\"path\": \"/r/\", \"echo\": true}]"
hub=lookup-$$
topic "$hub" 2
app=$T/lookup
mkdir -p "$app/look"
echo '{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 10 } } }' >"$app/host.json"
echo "{ \"Values\": { \"Conn\": \"$HF_KAFKA_PLAIN\" } }" >"$app/local.settings.json"
cat >"$app/look/function.json" <<JSON
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "$hub",
      "connection": "Conn", "consumerGroup": "g-$hub", "cardinality": "many" },
    { "type": "http", "direction": "out", "name": "out", "url": "$HTTPD_URL/out" } ] }
JSON
cat >"$app/look/handler.lua" <<LUA
local http = require("hubfn").http
local json = require("hubfn").json
local U = "$HTTPD_URL"
local out = assert(io.open("$T/lookup.out", "a"))
out:setvbuf("no")
return function(events, context)
  for _, ev in ipairs(events) do
    local b = ev.body
    if b.kind == "multi" then
      local rs = http.requests{
        { url = U .. "/r/1" },
        { url = U .. "/r/2", method = "POST", body = { n = 2 } },
        { url = "http://127.0.0.1:1/r/3", timeout = 5 },
        { url = U .. "/r/4?q=4", method = "PUT", headers = { ["X-N"] = "4" }, body = "four" } }
      for i, r in ipairs(rs) do
        if r.error then
          out:write(i, " error ", r.error, "\n")
        else
          local e = json.decode(r.body)
          out:write(i, " ", r.status, " ", e.method, " ", e.path, " ", e.query, " ",
                    tostring(e.headers["x-n"]), " ", tostring(e.headers["content-type"]), " ",
                    e.body, " ", tostring(r.headers["content-type"]), "\n")
        end
      end
      local res, err = http.request{ url = "http://127.0.0.1:1/alone", timeout = 5 }
      out:write("alone ", tostring(res), " ", tostring(err), "\n")
    elseif b.kind == "slow" then
      local res, err = http.request{ url = U .. "/slow/" .. b.id, timeout = 60 }
      out:write("slow ", tostring(res and res.status), " ", tostring(err), "\n")
      context.bindings.out:send(b, { event = ev, path = "/" .. b.id })
    else
      context.bindings.out:send(b, { event = ev, path = "/" .. b.id })
    end
  end
end
LUA
printf '{"id":1,"kind":"multi"}\n{"id":2,"kind":"slow"}\n' >"$T/p0"
kcat -P -b "$HF_KAFKA_PLAIN" -t "$hub" -p 0 -l "$T/p0" 2>>"$T/kcat.err"
start_bg "$T/lookup.log" "$HUBFN" start "$app" --workers 2
pid=$BG
slow_in_flight() { [ "$(httpd_stat in_flight)" = 1 ]; }
wait_for 60 slow_in_flight
check handler-slow-lookup-started "in flight: $(httpd_stat in_flight)" slow_in_flight
for i in $(seq 101 120); do printf '{"id":%d}\n' "$i"; done >"$T/p1"
kcat -P -b "$HF_KAFKA_PLAIN" -t "$hub" -p 1 -l "$T/p1" 2>>"$T/kcat.err"
all_out() { [ "$(grep -c '"path": "/out/' "$HTTPD_LOG")" -ge 21 ]; }
wait_for 60 all_out
kill -TERM "$pid"
wait "$pid"
rc=$?
check handler-exits-0 "exit $rc: $(tail -2 "$T/lookup.log")" [ "$rc" = 0 ]
want="1 200 GET /r/1  nil nil  application/json
2 200 POST /r/2  nil application/json {\"n\":2} application/json
3 error Failed to connect to 127.0.0.1 port 1: Couldn't connect to server
4 200 PUT /r/4 q=4 4 nil four application/json
alone nil Failed to connect to 127.0.0.1 port 1: Couldn't connect to server
slow 200 nil"
got=$(sed -E 's/ after [0-9]+ ms//' "$T/lookup.out")   # libcurl says how long it tried
check handler-requests-in-order "$got" [ "$got" = "$want" ]
s=$(python3 - "$HTTPD_LOG" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
slow = [r for r in rs if r["path"].startswith("/slow/")]
other = [r for r in rs if r["path"].startswith("/out/") and int(r["path"][5:]) > 100]
assert len(slow) == 1 and len(other) == 20, (len(slow), len(other))
s = slow[0]
before = [r for r in other if s["mono"] < r["mono"] < s["mono_done"] and r.get("status") == 200]
after_slow = [r for r in rs if r["path"] == "/out/2" and r["mono"] > s["mono_done"]]
print(f"other partition's outputs during the slow lookup: {len(before)} of {len(other)}; "
      f"slow event's output after it: {len(after_slow)}")
sys.exit(0 if len(before) == 20 and len(after_slow) == 1 else 1)
PY
); rc=$?
check handler-slow-lookup-blocks-only-its-partition "$s" [ "$rc" = 0 ]
