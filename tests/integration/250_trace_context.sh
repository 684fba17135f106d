#!/usr/bin/env bash
# Trace context through a real broker: the traceparent (or Diagnostic-Id) of an input event
# reaches the JSON log lines of its invocation, context.traceContext, the hub output (read
# back with kcat) and the HTTP output (seen by tests/tools/httpserver.py); a traceparent
# the handler set is kept; invalid contexts start new traces; with cardinality many the
# first event's context is the invocation's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"
need_kafka

in=trace-in-$$ out=trace-out-$$
topic "$in" 1 "$out" 1
httpd_start web || { fail httpd "$(cat "$T/web.err")"; exit 1; }

app=$T/app
mkdir -p "$app/each" "$app/batch"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 20 } } }
JSON
cat >"$app/local.settings.json" <<JSON
{ "Values": { "Conn": "$HF_KAFKA_PLAIN", "WEB": "$HTTPD_URL" } }
JSON
cat >"$app/each/function.json" <<JSON
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "ev", "eventHubName": "$in",
    "connection": "Conn", "consumerGroup": "each-$$", "cardinality": "one" },
  { "type": "eventHub", "direction": "out", "name": "out", "eventHubName": "$out",
    "connection": "Conn" },
  { "type": "http", "direction": "out", "name": "web", "url": "%WEB%", "maxRetryTime": "00:00:05" } ] }
JSON
cat >"$app/each/handler.lua" <<LUA
local json = require("hubfn").json
local f = assert(io.open("$T/ctx.jsonl", "a"))
f:setvbuf("no")
return function(ev, context)
  local id = ev.body.id
  local tc = context.traceContext
  f:write(json.encode({ id = id, invocationId = context.invocationId, traceparent = tc.traceparent,
    traceParent = tc.traceParent, traceId = tc.traceId, spanId = tc.spanId,
    parentSpanId = tc.parentSpanId or json.null, tracestate = tc.tracestate or json.null,
    sampled = tc.sampled, same = rawequal(tc, context.traceContext) }) .. "\n")
  context.log("seen", id)
  if id == "fail" then error("failing on purpose") end
  local props, headers = { id = id }, { ["x-id"] = id }
  if id == "own" then
    props.traceparent = "00-99999999999999999999999999999999-8888888888888888-01"
    headers.TraceParent = "00-77777777777777777777777777777777-6666666666666666-01"
  end
  context.bindings.out:send({ id = id }, { properties = props })
  context.bindings.web:send({ id = id }, { headers = headers })
end
LUA
cat >"$app/batch/function.json" <<JSON
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "$in",
    "connection": "Conn", "consumerGroup": "batch-$$", "cardinality": "many" } ] }
JSON
cat >"$app/batch/handler.lua" <<LUA
local f = assert(io.open("$T/batch.out", "a"))
f:setvbuf("no")
return function(events, context)
  local tc = context.traceContext
  local first = events[1].properties.traceparent
  local want = first and first:match("^00%-(%x+)%-(%x+)%-")
  local ok = want and tc.traceId == first:sub(4, 35) and tc.parentSpanId == first:sub(37, 52)
  f:write(#events .. " " .. (first and (ok and "first" or "other") or "none") .. "\n")
end
LUA

# one kcat call per event, so that each gets its own headers
send() {  # send ID [HEADER=VALUE...]
    local id=$1; shift
    local args=()
    for h in "$@"; do args+=(-H "$h"); done
    printf '{"id":"%s"}\n' "$id" | kcat -P -b "$HF_KAFKA_PLAIN" -t "$in" -p 0 "${args[@]}" \
        2>>"$T/kcat.err"
}
send tp "traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" \
        "tracestate=congo=t61rcWkgMzE"
send diag "Diagnostic-Id=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
send legacy "Diagnostic-Id=|0123456789abcdef0123456789abcdef.1a2b.1."
send upper "traceparent=00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"
send none
send own "traceparent=00-11111111111111111111111111111111-2222222222222222-01"
send unsampled "traceparent=00-5bf92f3577b34da6a3ce929d0e0e4736-10f067aa0ba902b7-00"
send fail "traceparent=00-6bf92f3577b34da6a3ce929d0e0e4736-20f067aa0ba902b7-01"

timeout $((90 * SLOW)) "$HUBFN" start "$app" --exit-on-eof --log-format json 2>"$T/run.log"
rc=$?
check exits-0 "exit $rc: $(tail -3 "$T/run.log")" [ "$rc" = 0 ]
kcat -C -b "$HF_KAFKA_PLAIN" -t "$out" -e -q -f '%h\t%s\n' >"$T/out" 2>>"$T/kcat.err"
httpd_stop

# Everything below in one Python run, one check line per claim.
python3 - "$T" <<'PY'
import json, re, sys
T = sys.argv[1]
ctx = {}
for l in open(T + "/ctx.jsonl"):
    r = json.loads(l)
    ctx[r["id"]] = r
logs = []
for l in open(T + "/run.log"):
    try:
        logs.append(json.loads(l))
    except ValueError:
        pass
outs = {}
for l in open(T + "/out"):
    h, body = l.rstrip("\n").split("\t", 1)
    headers = dict(kv.split("=", 1) for kv in h.split(",") if kv)
    outs[json.loads(body)["id"]] = headers
web = {}
for l in open(T + "/web.jsonl"):
    r = json.loads(l)
    web[r["headers"].get("x-id")] = r["headers"]
HEX32, HEX16 = re.compile("^[0-9a-f]{32}$"), re.compile("^[0-9a-f]{16}$")

def check(name, ok, why=""):
    print(("ok - 250_trace_context/%s" % name) if ok else
          ("not ok - 250_trace_context/%s: %s" % (name, why)))

ids = ["tp", "diag", "legacy", "upper", "none", "own", "unsampled", "fail"]
check("every-invocation-saw-a-context", sorted(ctx) == sorted(ids), sorted(ctx))
for i in ids:
    r = ctx.get(i, {})
    good = (HEX32.match(r.get("traceId", "")) and HEX16.match(r.get("spanId", "")) and
            r.get("traceparent") == "00-%s-%s-%s" % (r.get("traceId"), r.get("spanId"),
                                                     "01" if r.get("sampled") else "00") and
            r.get("traceParent") == r.get("traceparent") and r.get("same"))
    check("traceContext-well-formed-%s" % i, bool(good), r)

def expect(i, trace, parent, state=None, sampled=True):
    r = ctx.get(i, {})
    got = (r.get("traceId"), r.get("parentSpanId"), r.get("tracestate"), r.get("sampled"))
    want = (trace if trace else got[0], parent, state, sampled)
    ok = got == want and (trace or got[0] not in [c.get("traceId") for k, c in ctx.items() if k != i])
    check("context-of-%s" % i, ok, "got %s, want %s" % (got, want))

expect("tp", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "congo=t61rcWkgMzE")
expect("diag", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
expect("legacy", "0123456789abcdef0123456789abcdef", None)
expect("upper", None, None)           # invalid: a new trace of its own
expect("none", None, None)
expect("own", "11111111111111111111111111111111", "2222222222222222")
expect("unsampled", "5bf92f3577b34da6a3ce929d0e0e4736", "10f067aa0ba902b7", sampled=False)
check("span-ids-new", all(ctx[i]["spanId"] != ctx[i]["parentSpanId"] for i in ids if i in ctx))

# JSON log lines of each invocation carry its trace and span ids
for i in ids:
    r = ctx.get(i, {})
    lines = [l for l in logs if l.get("message") == "seen " + i]
    ok = len(lines) == 1 and lines[0].get("trace_id") == r.get("traceId") and \
        lines[0].get("span_id") == r.get("spanId") and \
        lines[0].get("invocationId") == r.get("invocationId")
    check("log-line-ids-%s" % i, ok, lines)
fails = [l for l in logs if l.get("level") == "error" and "failing on purpose" in l.get("message", "")]
check("failure-line-ids", len(fails) == 1 and fails[0].get("trace_id") == ctx["fail"]["traceId"]
      and fails[0].get("span_id") == ctx["fail"]["spanId"], fails)
host = [l for l in logs if "trace_id" in l and not l.get("function")]
check("host-lines-without-ids", not host, host[:2])

# outputs: hub headers and HTTP request headers
sent = [i for i in ids if i != "fail"]
check("hub-outputs", sorted(outs) == sorted(sent), sorted(outs))
check("http-outputs", sorted(web) == sorted(sent), sorted(web))
for i in sent:
    if i == "own":
        continue
    r = ctx[i]
    check("hub-traceparent-%s" % i, outs.get(i, {}).get("traceparent") == r["traceparent"],
          outs.get(i))
    check("http-traceparent-%s" % i, web.get(i, {}).get("traceparent") == r["traceparent"],
          web.get(i))
check("hub-tracestate", outs["tp"].get("tracestate") == "congo=t61rcWkgMzE", outs["tp"])
check("http-tracestate", web["tp"].get("tracestate") == "congo=t61rcWkgMzE", web["tp"])
check("unsampled-flag-passed-on", outs["unsampled"]["traceparent"].endswith("-00"))
check("handler-traceparent-kept-hub", outs["own"].get("traceparent") ==
      "00-99999999999999999999999999999999-8888888888888888-01", outs["own"])
check("handler-traceparent-kept-http", web["own"].get("traceparent") ==
      "00-77777777777777777777777777777777-6666666666666666-01", web["own"])

# cardinality many: the invocation continues the first event's trace
rows = [l.split() for l in open(T + "/batch.out")]
check("many-sees-all", sum(int(n) for n, _ in rows) == len(ids), rows)
check("many-first-event-context", rows and all(w in ("first", "none") for _, w in rows) and
      any(w == "first" for _, w in rows), rows)
PY
