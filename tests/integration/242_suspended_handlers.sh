#!/usr/bin/env bash
# Handlers that wait on require("hubfn").http are suspended while they wait (their
# coroutine yields) and keep every promise of a handler that does not:
#   timeout   a request still running at functionTimeout fails the invocation as timed out
#   errors    an error raised after the answers came names the handler's line
#   yield     coroutine.yield in the handler itself fails with a clear message
#   nested    a request from a coroutine of the script's own waits and answers
#   pcall     a request inside pcall, and an error after it, behave as without suspension
#   drain     SIGTERM while invocations wait on slow answers: they finish, their events are
#             checkpointed, and a second run handles none of them again
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"

httpd_start api || { fail server "$(cat "$T/api.err")"; exit 1; }
httpd_script '[{"path": "/slow", "delay_ms": 3000}, {"path": "/wait", "delay_ms": 400}]' >/dev/null

# mkfn DIR TIMEOUT: a cardinality-one function whose handler is read from stdin
mkfn() {
    mkdir -p "$1/f"
    echo "{ \"version\": \"2.0\", \"functionTimeout\": \"$2\" }" >"$1/host.json"
    echo "{ \"Values\": { \"API\": \"$HTTPD_URL\" } }" >"$1/local.settings.json"
    cat >"$1/f/function.json" <<'JSON'
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "ev",
    "eventHubName": "hub", "connection": "Conn" },
  { "type": "eventHub", "direction": "out", "name": "$return", "eventHubName": "out",
    "connection": "Conn" } ] }
JSON
    cat >"$1/f/handler.lua"
}

# --- timeout: the request outlives functionTimeout (1 s)
mkfn "$T/to" "00:00:01" <<'LUA'
local http = require("hubfn").http
return function(ev, context)
  local res, err = http.request{ url = os.getenv("API") .. "/slow" }
  return { got = res and res.status or err }
end
LUA
echo '{"n":1}' | "$HUBFN" run "$T/to/f" --events - >"$T/to.out" 2>"$T/to.err"
check timeout-fails-the-invocation "$(cat "$T/to.err")" grep -q "timed out" "$T/to.err"
check timeout-sends-nothing "$(cat "$T/to.out")" [ ! -s "$T/to.out" ]

# --- errors after the answer, and requests inside pcall
mkfn "$T/err" "00:00:30" <<'LUA'
local http = require("hubfn").http
return function(ev, context)
  local ok, res = pcall(http.request, { url = os.getenv("API") .. "/wait" })
  assert(ok and res.status == 200, "pcall around a request")
  local bad, err = http.request{ url = "http://127.0.0.1:1/refused" }
  assert(bad == nil and err, "a refused request gives nil, err")
  if ev.body.n == 2 then error("boom after the answers") end
  return { n = ev.body.n, status = res.status }
end
LUA
printf '{"n":1}\n{"n":2}\n{"n":3}\n' | "$HUBFN" run "$T/err/f" --events - >"$T/err.out" 2>"$T/err.err"
check error-after-resume-names-the-line "$(cat "$T/err.err")" \
    grep -q 'handler.lua:7: boom after the answers' "$T/err.err"
check others-answered "$(cat "$T/err.out")" \
    bash -c "[ \$(grep -c '\"status\":200' '$T/err.out') = 2 ]"

# --- coroutine.yield in the handler itself
mkfn "$T/yield" "00:00:30" <<'LUA'
return function(ev, context)
  coroutine.yield(1)
  return { n = 1 }
end
LUA
echo '{"n":1}' | "$HUBFN" run "$T/yield/f" --events - >"$T/yield.out" 2>"$T/yield.err"
check yield-outside-a-coroutine "$(cat "$T/yield.err")" \
    grep -q "attempt to yield from outside a coroutine" "$T/yield.err"

# --- a request inside the script's own coroutine
mkfn "$T/nested" "00:00:30" <<'LUA'
local http = require("hubfn").http
return function(ev, context)
  local co = coroutine.wrap(function()
    local res = http.request{ url = os.getenv("API") .. "/wait" }
    coroutine.yield(res.status)
    return "second"
  end)
  local first, second = co(), co()
  return { first = first, second = second }
end
LUA
echo '{"n":1}' | "$HUBFN" run "$T/nested/f" --events - >"$T/nested.out" 2>"$T/nested.err"
check nested-coroutine-request "$(cat "$T/nested.out" "$T/nested.err")" \
    grep -q '"first":200,"second":"second"' "$T/nested.out"

# --- drain with invocations waiting on slow answers
need_kafka
hub=susp-$$
topic "$hub" 2 || fail topic "$(tail -2 "$T/topic.err")"
for i in $(seq 1 40); do printf 'k%d\t{"id":%d}\n' $((i % 8)) "$i"; done >"$T/events"
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events"
app=$T/drain
mkdir -p "$app/f"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0",
  "extensions": { "eventHubs": { "maxEventBatchSize": 2, "partitionConcurrency": 8 } } }
JSON
echo "{ \"Values\": { \"Conn\": \"$HF_KAFKA_PLAIN\", \"API\": \"$HTTPD_URL\" } }" \
    >"$app/local.settings.json"
cat >"$app/f/function.json" <<JSON
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "ev",
    "eventHubName": "$hub", "connection": "Conn", "consumerGroup": "g-$hub" } ] }
JSON
cat >"$app/f/handler.lua" <<LUA
local http = require("hubfn").http
local out = assert(io.open("$T/drain.out", "a"))
out:setvbuf("no")
return function(ev, context)
  local res = assert(http.request{ url = os.getenv("API") .. "/wait?id=" .. ev.body.id })
  assert(res.status == 200)
  out:write(ev.body.id, "\n")
end
LUA
start_bg "$T/drain1.log" "$HUBFN" start "$app" --workers 1
pid=$BG
wait_for 60 test -s "$T/drain.out"
kill -TERM "$pid"
wait "$pid"
rc=$?
check drain-exits-0 "exit $rc: $(tail -2 "$T/drain1.log")" [ $rc = 0 ]
first=$(lines "$T/drain.out")
timeout $((60 * SLOW)) "$HUBFN" start "$app" --exit-on-eof --workers 1 2>"$T/drain2.log"
check drain-second-run-exits-0 "$(tail -2 "$T/drain2.log")" [ $? = 0 ]
total=$(lines "$T/drain.out")
distinct=$(sort -n "$T/drain.out" | uniq | wc -l)
check drain-every-event-once "$first then $total lines, $distinct distinct" \
    [ "$distinct" = 40 ] && [ "$total" = 40 ]
check drain-was-mid-run "$first of 40 before SIGTERM" [ "$first" -lt 40 ]
