#!/usr/bin/env bash
# Spans through a real broker to tests/tools/otlpcollector.py, which decodes OTLP/JSON as a
# collector does: one span per invocation with the event's trace and span as its parent,
# the hub, partition, offsets, consumer group, function and outcome (ok, error, timeout,
# dead-lettered) as attributes, links to every event of a batch, the resource from
# OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, the OTEL_EXPORTER_OTLP_HEADERS (kept out
# of the log), the sampler (an unsampled parent is not exported unless always_on), and
# hubfn_trace_spans_exported_total agreeing with what the collector got.
. "$(dirname "$0")/lib.sh"
need_kafka

in=otlp-in-$$ dlq=otlp-dlq-$$
topic "$in" 1 "$dlq" 1

collector_start() {  # collector_start NAME: sets COL_URL, COL_PID
    python3 "$TOP/tests/tools/otlpcollector.py" --log "$T/$1.jsonl" >"$T/$1.out" 2>"$T/$1.err" &
    COL_PID=$!
    PIDS+=("$COL_PID")
    wait_for 10 grep -q listening "$T/$1.out" || { fail collector "$(cat "$T/$1.err")"; exit 1; }
    COL_URL=$(sed -n 's/^listening //p' "$T/$1.out")
}

mkfn() {  # mkfn APP NAME CARDINALITY GROUP [extra bindings json] [extra function json]
    mkdir -p "$1/$2"
    cat >"$1/$2/function.json" <<JSON
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "$in",
    "connection": "Conn", "consumerGroup": "$4", "cardinality": "$3" } ${5:-} ] ${6:-} }
JSON
    cat >"$1/$2/handler.lua" <<'LUA'
return function(ev, context)
  if ev.body == nil then return end          -- cardinality many: nothing to fail
  if ev.body.id == "err" then error("failing on purpose") end
  if ev.body.id == "slow" and os.getenv("SLOW_FN") == context.functionName then
    local t = os.clock() + 5; while os.clock() < t do end
  end
end
LUA
}
app=$T/app
mkdir -p "$app"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "functionTimeout": "00:00:01",
  "extensions": { "eventHubs": { "maxEventBatchSize": 50 } } }
JSON
echo "{ \"Values\": { \"Conn\": \"$HF_KAFKA_PLAIN\" } }" >"$app/local.settings.json"
mkfn "$app" plain one "plain-$$"
mkfn "$app" dead one "dead-$$" \
    ", { \"type\": \"eventHub\", \"direction\": \"out\", \"name\": \"\$deadLetter\", \"eventHubName\": \"$dlq\", \"connection\": \"Conn\" }" \
    ', "retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:00.200" }'
mkfn "$app" batch many "batch-$$"

A=4bf92f3577b34da6a3ce929d0e0e4736 B=0af7651916cd43dd8448eb211c80319c
C=1bf92f3577b34da6a3ce929d0e0e4736 D=2bf92f3577b34da6a3ce929d0e0e4736
send() {  # send ID [HEADER=VALUE...]: one event to partition 0
    local id=$1; shift
    local args=()
    for h in "$@"; do args+=(-H "$h"); done
    printf '{"id":"%s"}\n' "$id" | kcat -P -b "$HF_KAFKA_PLAIN" -t "$in" -p 0 "${args[@]}" \
        2>>"$T/kcat.err"
}
send ok "traceparent=00-$A-a1a1a1a1a1a1a1a1-01"                  # offset 0
send err "traceparent=00-$B-b1b1b1b1b1b1b1b1-01"                 # 1
send slow "Diagnostic-Id=00-$C-c1c1c1c1c1c1c1c1-01"              # 2
send none                                                        # 3
send unsampled "traceparent=00-$D-d1d1d1d1d1d1d1d1-00"           # 4

collector_start col
SECRET=k3y-s3cret-value-$$
SLOW_FN=plain OTEL_EXPORTER_OTLP_ENDPOINT=$COL_URL OTEL_BSP_SCHEDULE_DELAY=200 \
    OTEL_SERVICE_NAME=orders-svc \
    OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test,service.namespace=crm%20team" \
    OTEL_EXPORTER_OTLP_HEADERS="x-api-key=$SECRET,x-tenant=t%201" \
    start_bg "$T/run.log" "$HUBFN" start "$app" --http-port 0
pid=$BG
wait_for 20 grep -q "on http://" "$T/run.log"
port=$(sed -n 's|.*on http://0\.0\.0\.0:\([0-9]*\).*|\1|p' "$T/run.log" | head -1)
# plain: 4 (the unsampled one is not exported); dead: 5 (err twice); batch: at least 1
curl -s --max-time $((40 * SLOW)) "$COL_URL/_control/wait?spans=10&timeout=$((30 * SLOW))" \
    >"$T/stats.json"
# then nothing more should come: every event settled, the last exports sent
settled() {
    curl -s --max-time 5 "http://127.0.0.1:$port/metrics" >"$T/metrics"
    local got want
    got=$(python3 "$TOP/tests/integration/prom.py" "$T/metrics" get hubfn_trace_spans_exported_total)
    want=$(json_spans)
    [ "$want" -ge 10 ] && [ "$got" = "$want" ] && [ "$(python3 "$TOP/tests/integration/prom.py" "$T/metrics" get \
        hubfn_trace_export_queue_spans)" = 0 ]
}
json_spans() { curl -s --max-time 5 "$COL_URL/_control/stats" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["spans"])'; }
wait_for 20 settled
check exported-metric-agrees "metric $(python3 "$TOP/tests/integration/prom.py" "$T/metrics" get hubfn_trace_spans_exported_total), collector $(json_spans)" settled
kill -TERM "$pid"
wait "$pid"
rc=$?
check exits-0 "exit $rc: $(tail -3 "$T/run.log")" [ "$rc" = 0 ]
check headers-never-logged "the OTLP header value is in the log" bash -c "! grep -q '$SECRET' '$T/run.log'"
check says-where-spans-go "$(grep -m1 OTLP "$T/run.log")" \
    grep -q "exporting spans over OTLP/HTTP (JSON) to $COL_URL/v1/traces as service orders-svc" "$T/run.log"

python3 - "$T" "$A" "$B" "$C" "$D" "$in" "$$" "$SECRET" <<'PY'
import json, sys
T, A, B, C, D, hub, pid, secret = sys.argv[1:]
spans = [json.loads(l) for l in open(T + "/col.jsonl")]
stats = json.load(open(T + "/stats.json"))

def check(name, ok, why=""):
    print(("ok - 251_otlp_export/%s" % name) if ok else
          ("not ok - 251_otlp_export/%s: %s" % (name, why)))

check("collector-found-nothing-wrong", not stats["bad"], stats["bad"][:3])
by = {}
for s in spans:
    by.setdefault(s["name"], []).append(s)
check("span-names-are-functions", sorted(by) == ["batch", "dead", "plain"], sorted(by))
plain = {s["attributes"]["hubfn.offset.first"]: s for s in by.get("plain", [])}
check("plain-spans", sorted(plain) == [0, 1, 2, 3], sorted(plain))

def attrs_ok(s, fn, group, first, last, outcome, retry=0):
    a = s["attributes"]
    want = {"messaging.system": "eventhubs", "messaging.operation.type": "process",
            "messaging.destination.name": hub, "messaging.destination.partition.id": "0",
            "messaging.consumer.group.name": group, "hubfn.function": fn,
            "hubfn.offset.first": first, "hubfn.offset.last": last,
            "messaging.batch.message_count": last - first + 1, "hubfn.outcome": outcome,
            "hubfn.retry_count": retry, "faas.trigger": "pubsub"}
    bad = {k: (a.get(k), v) for k, v in want.items() if a.get(k) != v}
    if len(a.get("faas.invocation_id", "")) != 36:
        bad["faas.invocation_id"] = a.get("faas.invocation_id")
    if s["kind"] != 5 or not s["start"] <= s["end"]:
        bad["kind/times"] = (s["kind"], s["start"], s["end"])
    if outcome == "ok" and s["status"].get("code", 0) != 0:
        bad["status"] = s["status"]
    if outcome != "ok" and (s["status"].get("code") != 2 or a.get("error.type") != outcome):
        bad["status"] = s["status"]
    return bad

for off, outcome in ((0, "ok"), (1, "error"), (2, "timeout"), (3, "ok")):
    s = plain.get(off)
    bad = attrs_ok(s, "plain", "plain-" + pid, off, off, outcome) if s else "missing"
    check("plain-attributes-%d-%s" % (off, outcome), not bad, bad)
p = lambda off: (plain[off]["traceId"], plain[off]["parentSpanId"]) if off in plain else None
check("parent-from-traceparent", p(0) == (A, "a1a1a1a1a1a1a1a1"), p(0))
check("parent-from-traceparent-2", p(1) == (B, "b1b1b1b1b1b1b1b1"), p(1))
check("parent-from-diagnostic-id", p(2) == (C, "c1c1c1c1c1c1c1c1"), p(2))
check("new-trace-without-context", 3 in plain and plain[3]["parentSpanId"] is None and
      plain[3]["traceId"] not in (A, B, C, D), p(3))
check("error-message", "failing on purpose" in plain.get(1, {}).get("status", {}).get("message", ""),
      plain.get(1, {}).get("status"))
check("timeout-message", "timed out" in plain.get(2, {}).get("status", {}).get("message", ""),
      plain.get(2, {}).get("status"))
check("unsampled-not-exported", all(s["traceId"] != D or s["name"] == "batch" for s in spans))
check("links-of-one-event", plain.get(0, {}).get("links") == [{"traceId": A, "spanId": "a1a1a1a1a1a1a1a1"}],
      plain.get(0, {}).get("links"))

dead = sorted(by.get("dead", []), key=lambda s: (s["attributes"]["hubfn.offset.first"],
                                                 s["attributes"]["hubfn.retry_count"]))
got = [(s["attributes"]["hubfn.offset.first"], s["attributes"]["hubfn.retry_count"],
        s["attributes"]["hubfn.outcome"]) for s in dead]
check("dead-letter-outcomes", got == [(0, 0, "ok"), (1, 0, "error"), (1, 1, "dead-lettered"),
                                      (2, 0, "ok"), (3, 0, "ok")], got)
tries = [s for s in dead if s["attributes"]["hubfn.offset.first"] == 1]
check("retry-same-trace-new-span", len(tries) == 2 and
      {s["traceId"] for s in tries} == {B} and tries[0]["spanId"] != tries[1]["spanId"] and
      all(s["parentSpanId"] == "b1b1b1b1b1b1b1b1" for s in tries), tries)
for s in dead:
    a = s["attributes"]
    bad = attrs_ok(s, "dead", "dead-" + pid, a["hubfn.offset.first"], a["hubfn.offset.first"],
                   a["hubfn.outcome"], a["hubfn.retry_count"])
    check("dead-attributes-%d-%d" % (a["hubfn.offset.first"], a["hubfn.retry_count"]), not bad, bad)

first = [s for s in by.get("batch", []) if s["attributes"]["hubfn.offset.first"] == 0]
s = first[0] if first else {}
last = s.get("attributes", {}).get("hubfn.offset.last", -1)
check("batch-span", len(first) == 1 and not attrs_ok(s, "batch", "batch-" + pid, 0, last, "ok"),
      first)
want_links = [l for l in [{"traceId": A, "spanId": "a1a1a1a1a1a1a1a1"},
                          {"traceId": B, "spanId": "b1b1b1b1b1b1b1b1"},
                          {"traceId": C, "spanId": "c1c1c1c1c1c1c1c1"}, None,
                          {"traceId": D, "spanId": "d1d1d1d1d1d1d1d1"}][:last + 1] if l]
check("batch-parent-is-first-event", (s.get("traceId"), s.get("parentSpanId")) ==
      (A, "a1a1a1a1a1a1a1a1"), s.get("parentSpanId"))
check("batch-links-every-event", s.get("links") == want_links, (s.get("links"), want_links))

res = spans[0]["resource"] if spans else {}
check("resource", res.get("service.name") == "orders-svc" and
      res.get("deployment.environment") == "test" and res.get("service.namespace") == "crm team"
      and res.get("telemetry.sdk.name") == "hubfn" and isinstance(res.get("process.pid"), int)
      and res.get("host.name"), res)
check("scope", spans and spans[0]["scope"]["name"] == "hubfn", spans[0]["scope"] if spans else None)
h = spans[0]["headers"] if spans else {}
check("request-headers", h.get("x-api-key") == secret and h.get("x-tenant") == "t 1" and
      h.get("content-type") == "application/json", h)
PY

# The same events, with OTEL_TRACES_SAMPLER=always_on and the signal's own endpoint
# variable: the span of the unsampled parent is exported too, with the parent's trace.
app2=$T/app2
mkdir -p "$app2"
cp "$app/host.json" "$app/local.settings.json" "$app2/"
mkfn "$app2" plain one "plain2-$$"
collector_start col2
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=$COL_URL/v1/traces OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9/unused \
    OTEL_TRACES_SAMPLER=always_on timeout $((60 * SLOW)) "$HUBFN" start "$app2" --exit-on-eof \
    2>"$T/run2.log"
rc=$?
check always-on-exits-0 "exit $rc: $(tail -3 "$T/run2.log")" [ "$rc" = 0 ]
check always-on-exports-all "$(cut -c1-300 "$T/col2.jsonl" 2>/dev/null | head -3)" python3 - "$T/col2.jsonl" "$D" <<'PY'
import json, sys
spans = [json.loads(l) for l in open(sys.argv[1])]
assert len(spans) == 5, len(spans)
assert any(s["traceId"] == sys.argv[2] and s["parentSpanId"] == "d1d1d1d1d1d1d1d1" for s in spans)
PY
