#!/usr/bin/env bash
# The http output binding's Idempotency-Key and permanent failures, on the Kafka test broker
# against tests/tools/httpserver.py:
#   keys     hubfn is killed (SIGKILL) while a slow server answers, then started again:
#            every event is delivered, every request sent more than once carries the same
#            key each time, and distinct requests carry distinct keys; for a function with
#            cardinality many sending two requests per event with { event = ev }, and one
#            with cardinality one sending two requests per invocation without it;
#   dead     the server answers some events 400, 302 (not followed), or 503 until the
#            binding's maxRetryTime runs out: their invocations fail (after the function's
#            retry) and the events land in the $deadLetter hub with the binding, the status
#            and the answer in headers; the others are delivered; nothing is lost.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"
need_kafka

# keyapp DIR HUB URL: functions "many" and "one" on HUB, each sending two requests per event
keyapp() {
    local dir=$1 hub=$2 url=$3 f
    mkdir -p "$dir/many" "$dir/one"
    cat >"$dir/host.json" <<'JSON'
{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 25 },
                                    "kafka": { "session.timeout.ms": "6000" } } }
JSON
    echo "{ \"Values\": { \"Conn\": \"$HF_KAFKA_PLAIN\", \"CRM\": \"$url\" } }" >"$dir/local.settings.json"
    for f in many one; do
        cat >"$dir/$f/function.json" <<JSON
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "$hub",
      "connection": "Conn", "consumerGroup": "g-$f-$hub", "cardinality": "$f" },
    { "type": "http", "direction": "out", "name": "crm", "url": "%CRM%/$f",
      "maxConcurrency": 4 } ] }
JSON
    done
    cat >"$dir/many/handler.lua" <<'LUA'
return function(events, context)
  for _, ev in ipairs(events) do
    context.bindings.crm:send(ev.body, { event = ev, path = "/a/" .. ev.body.id })
    context.bindings.crm:send(ev.body, { event = ev, path = "/b/" .. ev.body.id, method = "PUT" })
  end
end
LUA
    cat >"$dir/one/handler.lua" <<'LUA'
return function(ev, context)
  context.bindings.crm:send(ev.body, { path = "/a/" .. ev.body.id })
  context.bindings.crm:send(ev.body, { path = "/b/" .. ev.body.id, method = "PUT" })
end
LUA
}

# --- keys: 300 events in 4 partitions, every answer after 50 ms: 600 requests per function
# at 4 in flight take about 8 s; the kill comes once 150 requests were answered.
N=300
hub=idk-$$
topic "$hub" 4
gen_events "$T/keys.events" $N 16
produce "$HF_KAFKA_PLAIN" "$hub" "$T/keys.events"
httpd_start keys || { fail keys-server "$(cat "$T/keys.err")"; exit 1; }
httpd_script '[{"delay_ms": 50}]'
keyapp "$T/keys" "$hub" "$HTTPD_URL"
start_bg "$T/keys.run1.log" "$HUBFN" start "$T/keys"
pid=$BG
wait_for 60 bash -c "[ \$(wc -l <'$HTTPD_LOG') -ge 150 ]"
kill -9 "$pid"
wait "$pid" 2>/dev/null
before=$(wc -l <"$HTTPD_LOG")
check keys-killed-mid-run "killed after $before of $((4 * N)) requests" [ "$before" -lt $((4 * N)) ]
timeout $((120 * SLOW)) "$HUBFN" start "$T/keys" --exit-on-eof 2>"$T/keys.run2.log"
rc=$?
check keys-restart-exits-0 "exit $rc: $(tail -2 "$T/keys.run2.log")" [ "$rc" = 0 ]
httpd_settle
for f in many one; do
    for p in a b; do
        logcheck "keys-$f-$p-all-delivered" delivered "$HTTPD_LOG" $N --prefix "/$f/$p/"
    done
    logcheck "keys-$f-stable-and-distinct" keys "$HTTPD_LOG" --prefix "/$f/"
    # the kill must have left requests that were sent again, or nothing was tested
    r=$(httplog keys "$HTTPD_LOG" --prefix "/$f/" | sed -n 's/.*repeated=\([0-9]*\).*/\1/p')
    check "keys-$f-some-sent-twice" "repeated=$r" [ "${r:-0}" -gt 0 ]
done
# keys of different functions never meet
logcheck keys-distinct-across-functions keys "$HTTPD_LOG"
httpd_stop

# --- dead: 200 events in 2 partitions. The server refuses some events for good: 400 with a
# JSON error (ids divisible by 25), 302 to another address (ids = 13 mod 50: redirects are
# not followed), and 503 on every attempt (ids 7 and 107: retried until maxRetryTime, 2 s,
# then given up). Function "one" (cardinality one) retries once then dead-letters to hub
# dl1-; "many" (batches of 10, { event = ev }) dead-letters at once to dl2- and records each
# invocation's ids.
N=200
hub=dead-$$ dl1=dl1-$$ dl2=dl2-$$
topic "$hub" 2 "$dl1" 1 "$dl2" 1
awk -v n=$N 'BEGIN { for (i = 1; i <= n; i++) {
    r = i % 25 == 0 ? 400 : i % 50 == 13 ? 302 : i % 100 == 7 ? 503 : 0
    printf "k%d\t{\"id\":%d%s}\n", i % 8, i, r ? ",\"refuse\":" r : "" } }' >"$T/dead.events"
produce "$HF_KAFKA_PLAIN" "$hub" "$T/dead.events"
grep -o '"id":[0-9]*,"refuse"' "$T/dead.events" | tr -dc '0-9\n' >"$T/refused.ids"
seq 1 $N | grep -vxF -f "$T/refused.ids" >"$T/good.ids"
httpd_start dead || { fail dead-server "$(cat "$T/dead.err")"; exit 1; }
httpd_script '[
  {"body_contains": "\"refuse\":400", "status": 400,
   "body": {"error": "bad contact: this body is refused"}},
  {"body_contains": "\"refuse\":302", "status": 302, "headers": {"Location": "/elsewhere"},
   "body": "moved: bad contact"},
  {"body_contains": "\"refuse\":503", "status": 503, "body": "bad contact: down for it"}]'
app=$T/dead
mkdir -p "$app/one" "$app/many"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 10 } } }
JSON
echo "{ \"Values\": { \"Conn\": \"$HF_KAFKA_PLAIN\" } }" >"$app/local.settings.json"
cat >"$app/one/function.json" <<JSON
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "ev", "eventHubName": "$hub",
      "connection": "Conn", "consumerGroup": "g-one-$hub", "cardinality": "one" },
    { "type": "http", "direction": "out", "name": "crm", "url": "$HTTPD_URL/one",
      "maxRetryTime": "00:00:02" },
    { "type": "eventHub", "direction": "out", "name": "\$deadLetter", "eventHubName": "$dl1",
      "connection": "Conn" } ],
  "retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:00.200" } }
JSON
cat >"$app/one/handler.lua" <<'LUA'
return function(ev, context)
  context.bindings.crm:send(ev.body, { path = "/" .. ev.body.id })
end
LUA
cat >"$app/many/function.json" <<JSON
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "$hub",
      "connection": "Conn", "consumerGroup": "g-many-$hub", "cardinality": "many" },
    { "type": "http", "direction": "out", "name": "crm", "url": "$HTTPD_URL/many",
      "maxRetryTime": "00:00:02" },
    { "type": "eventHub", "direction": "out", "name": "\$deadLetter", "eventHubName": "$dl2",
      "connection": "Conn" } ] }
JSON
cat >"$app/many/handler.lua" <<LUA
local inv = assert(io.open("$T/many.invocations", "a"))
inv:setvbuf("no")
return function(events, context)
  local ids = {}
  for _, ev in ipairs(events) do
    context.bindings.crm:send(ev.body, { event = ev, path = "/" .. ev.body.id })
    ids[#ids + 1] = ev.body.id
  end
  inv:write(table.concat(ids, " ") .. "\n")
end
LUA
timeout $((90 * SLOW)) "$HUBFN" start "$app" --exit-on-eof 2>"$T/dead.log"
rc=$?
check dead-exits-0 "exit $rc: $(tail -2 "$T/dead.log")" [ "$rc" = 0 ]
httpd_settle
kcat -C -b "$HF_KAFKA_PLAIN" -t "$dl1" -e -q -J >"$T/dl1.json" 2>>"$T/kcat.err"
kcat -C -b "$HF_KAFKA_PLAIN" -t "$dl2" -e -q -J >"$T/dl2.json" 2>>"$T/kcat.err"
# the invocations of "many" that held a refused event
awk 'NR == FNR { bad[$1] = 1; next }
     { for (i = 1; i <= NF; i++) if ($i in bad) { for (j = 1; j <= NF; j++) print $j; next } }' \
    "$T/refused.ids" "$T/many.invocations" | sort -un >"$T/many.failed.ids"
seq 1 $N | grep -vxF -f "$T/many.failed.ids" >"$T/many.ok.ids"

# deadletters FILE IDS ATTEMPTS [OWN]: the dead-letter hub holds exactly the events of IDS,
# each once and unchanged, with the binding, the status (OWN=own: the one its own request
# got, as with cardinality one; else the one that failed its invocation first, as with
# cardinality many), the answer's first bytes, the error and ATTEMPTS
deadletters() {
    python3 - "$@" <<'PY'
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = {int(x) for x in open(sys.argv[2]).read().split()}
attempts = sys.argv[3]
own = sys.argv[4:] == ["own"]
got = []
for m in msgs:
    h = m["headers"]
    h = dict(zip(h[::2], h[1::2])) if isinstance(h, list) else h
    body = json.loads(m["payload"])
    got.append(body["id"])
    status = body.get("refuse") if own else int(h.get("hubfn-http-status", "0"))
    problems = []
    if h.get("hubfn-failed-binding") != "crm":
        problems.append("hubfn-failed-binding=%r" % h.get("hubfn-failed-binding"))
    if status not in (400, 302, 503) or h.get("hubfn-http-status") != str(status):
        problems.append("hubfn-http-status=%r" % h.get("hubfn-http-status"))
    if "bad contact" not in h.get("hubfn-response", ""):
        problems.append("hubfn-response=%r" % h.get("hubfn-response"))
    e = h.get("hubfn-error", "")
    if "HTTP %s" % status not in e or (status == 503) != ("gave up" in e):
        problems.append("hubfn-error=%r" % e)
    if h.get("hubfn-attempts") != attempts:
        problems.append("hubfn-attempts=%r" % h.get("hubfn-attempts"))
    if problems:
        sys.exit("event %d: %s" % (body["id"], ", ".join(problems)))
dups = len(got) - len(set(got))
missing, extra = sorted(want - set(got)), sorted(set(got) - want)
print("dead-lettered=%d dups=%d missing=%s unexpected=%s" % (len(got), dups, missing[:5], extra[:5]))
sys.exit(1 if missing or extra or dups else 0)
PY
}
s=$(deadletters "$T/dl1.json" "$T/refused.ids" 2 own 2>&1); rc=$?
check dead-one-exactly-the-refused-events "$s" [ "$rc" = 0 ]
logcheck dead-one-others-delivered delivered "$HTTPD_LOG" $N --prefix /one/ --ids "$T/good.ids"
# 400 and 302 are tried once per attempt of the policy: twice
n=$(grep '"path": "/one/' "$HTTPD_LOG" | grep -c '"status": \(400\|302\)')
want=$(( 2 * $(grep -c '"refuse":\(400\|302\)' "$T/dead.events") ))
check dead-one-4xx-3xx-not-retried-by-the-binding "$n answers 400 or 302, want $want" [ "$n" = "$want" ]
n=$(grep -c '"path": "/elsewhere' "$HTTPD_LOG")
check dead-redirect-not-followed "$n requests to the Location" [ "$n" = 0 ]
# 503 is retried by the binding, in each attempt of the policy
n=$(grep '"path": "/one/7"' "$HTTPD_LOG" | grep -c '"status": 503')
check dead-one-503-retried-until-max-retry-time "$n answers 503 to event 7" [ "$n" -ge 4 ]
s=$(deadletters "$T/dl2.json" "$T/many.failed.ids" 1 2>&1); rc=$?
check dead-many-the-failed-invocations "$s" [ "$rc" = 0 ]
# the events of a failed invocation whose own request succeeded are delivered and, since
# their invocation failed, dead-lettered too
logcheck dead-many-others-delivered delivered "$HTTPD_LOG" $N --prefix /many/ \
    --ids "$T/many.ok.ids" --others-allowed
check dead-logged "$(grep -m1 'dead-letter' "$T/dead.log")" \
    grep -q "HTTP 400 from POST $HTTPD_URL/one" "$T/dead.log"
