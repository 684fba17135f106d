#!/usr/bin/env bash
# HTTP on the loop: /healthz, /readyz (503 before the group is joined and while draining),
# /metrics counting exactly what the run did (events, invocations, failures, retries,
# dead-lettered, outputs), 404, and requests that must not hurt (huge, idle, bad).
. "$(dirname "$0")/lib.sh"

N=500
app=$T/app
mkdir -p "$app/route" "$app/each"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 40 } } }
JSON
echo '{ "Values": { "Conn": "embedded" } }' >"$app/local.settings.json"
# route: cardinality many, fails ids divisible by 10 with context.fail; they are retried
# once, then dead-lettered; every other event goes to the "out" binding.
cat >"$app/route/function.json" <<'JSON'
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "orders",
      "connection": "Conn", "consumerGroup": "g-route", "cardinality": "many" },
    { "type": "eventHub", "direction": "out", "name": "out", "eventHubName": "routed",
      "connection": "Conn" },
    { "type": "eventHub", "direction": "out", "name": "$deadLetter", "eventHubName": "dlq",
      "connection": "Conn" } ],
  "retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:00.200" } }
JSON
cat >"$app/route/handler.lua" <<LUA
local runs = assert(io.open("$T/route.runs", "a"))
runs:setvbuf("no")
return function(events, context)
  runs:write(#events .. " " .. context.retryContext.retryCount .. "\n")
  for _, ev in ipairs(events) do
    if ev.body.id % 10 == 0 then context.fail(ev, "id divisible by 10")
    else context.bindings.out:send(ev.body, { partitionKey = ev.body.k }) end
  end
end
LUA
# each: cardinality one, raises for ids divisible by 5 (no retry policy); an event with
# "slow" keeps its handler busy that many seconds.
cat >"$app/each/function.json" <<'JSON'
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "ev", "eventHubName": "orders",
      "connection": "Conn", "consumerGroup": "g-each", "cardinality": "one" } ] }
JSON
cat >"$app/each/handler.lua" <<'LUA'
return function(ev, context)
  if ev.body.slow then local t = os.clock() + ev.body.slow; while os.clock() < t do end end
  if ev.body.id % 5 == 0 then error("id divisible by 5") end
end
LUA

start_bg "$T/run.log" "$HUBFN" start "$app" --embedded --partitions 3 --workers 2 --http-port 0
pid=$BG
wait_for 20 grep -q "on http://" "$T/run.log"
wait_for 20 grep -q "embedded broker listening at" "$T/run.log"
port=$(sed -n 's|.*on http://0\.0\.0\.0:\([0-9]*\).*|\1|p' "$T/run.log" | head -1)
addr=$(sed -n 's/.*embedded broker listening at \([0-9.:]*\).*/\1/p' "$T/run.log" | head -1)
check port-logged "$(grep -m1 http:// "$T/run.log")" [ -n "$port" ]
url=http://127.0.0.1:$port

code() { curl -s -o "$T/body" -w '%{http_code}' --max-time 5 "$@"; }
c=$(code "$url/healthz")
check healthz-200-ok "$c $(cat "$T/body")" [ "$c $(cat "$T/body")" = "200 ok" ]
# the group's first join takes about 3 s on the mock cluster; readyz says what it waits for
c=$(code "$url/readyz")
if [ "$c" = 503 ]; then
    check readyz-503-names-the-wait "$(cat "$T/body")" grep -q "joining consumer group" "$T/body"
fi
wait_for 20 bash -c "[ \"\$(curl -s --max-time 5 '$url/readyz')\" = ready ]"
c=$(code "$url/readyz")
check readyz-200-after-join "$c $(cat "$T/body")" [ "$c" = 200 ]

gen_events "$T/events" $N 10
produce "$addr" orders "$T/events"
scrape() { curl -s --max-time 5 "$url/metrics" >"$T/metrics"; }
get() { python3 "$TOP/tests/integration/prom.py" "$T/metrics" get "$@"; }
# done: every event of both functions processed or failed for good, and dead-lettered
settled() {
    scrape
    [ $(( $(get hubfn_events_processed_total function=route) +
          $(get hubfn_events_failed_total function=route) )) = $N ] &&
    [ $(( $(get hubfn_events_processed_total function=each) +
          $(get hubfn_events_failed_total function=each) )) = $N ] &&
    [ "$(get hubfn_events_dead_lettered_total function=route)" = $((N / 10)) ]
}
wait_for 60 settled
sleep 1   # nothing more should be counted
scrape
cp "$T/metrics" "$T/metrics.done"
fmt=$(python3 "$TOP/tests/integration/prom.py" "$T/metrics" check)
check metrics-format "$fmt" [ "$fmt" = ok ]
c=$(curl -s -o /dev/null -w '%{content_type}' "$url/metrics")
check metrics-content-type "$c" [ "$c" = "text/plain; version=0.0.4; charset=utf-8" ]

# expect NAME WANT [LABEL=VALUE...]: the summed samples equal WANT
expect() {
    local name=$1 want=$2; shift 2
    local got labels; got=$(get "$name" "$@")
    labels=$(IFS=,; echo "$*")
    check "$name${labels:+{$labels\}}" "got $got, want $want" [ "$got" = "$want" ]
}
runs=$(lines "$T/route.runs")
retried=$(awk '$2 == 1' "$T/route.runs" | wc -l)
ran=$(awk '{ n += $1 } END { print n }' "$T/route.runs")
for f in route each; do
    expect hubfn_events_received_total $N function=$f
    expect hubfn_enqueued_to_done_seconds_count "$([ $f = route ] && echo "$ran" || echo $N)" function=$f
    expect hubfn_enqueued_to_start_seconds_count "$([ $f = route ] && echo "$ran" || echo $N)" function=$f
    expect hubfn_partitions_assigned 3 function=$f
    expect hubfn_consumer_lag_events 0 function=$f
    n=$(grep -c "^hubfn_consumer_lag_events{function=\"$f\"" "$T/metrics")
    check "consumer-lag-per-partition-$f" "$n series" [ "$n" = 3 ]
done
expect hubfn_events_processed_total $((N - N / 10)) function=route
expect hubfn_events_failed_total $((N / 10)) function=route
expect hubfn_invocations_total "$runs" function=route result=success
expect hubfn_invocations_total 0 function=route result=failure
expect hubfn_batch_size_events_count "$runs" function=route
expect hubfn_batch_size_events_sum $((N + N / 10)) function=route
expect hubfn_invocation_duration_seconds_count "$runs" function=route
expect hubfn_retries_total "$retried" function=route
expect hubfn_events_dead_lettered_total $((N / 10)) function=route
expect hubfn_output_messages_delivered_total $((N - N / 10)) function=route binding=out
expect hubfn_output_messages_delivered_total $((N / 10)) function=route 'binding=$deadLetter'
expect hubfn_output_messages_failed_total 0 function=route
expect hubfn_events_processed_total $((N - N / 5)) function=each
expect hubfn_events_failed_total $((N / 5)) function=each
expect hubfn_invocations_total $((N - N / 5)) function=each result=success
expect hubfn_invocations_total $((N / 5)) function=each result=failure
expect hubfn_invocation_duration_seconds_count $N function=each
expect hubfn_retries_total 0 function=each
expect hubfn_offset_resets_total 0
expect hubfn_ready 1
check retried-some "$retried retried batches" [ "$retried" -gt 0 ]
commits=$(get hubfn_checkpoints_committed_total function=route)
check checkpoints-committed "$commits" [ "$commits" -gt 0 ]
routed=$(kcat -C -b "$addr" -t routed -e -q -f '%s\n' 2>/dev/null | wc -l)
check outputs-in-hub-match-metric "$routed in the hub" [ "$routed" = $((N - N / 10)) ]

c=$(code "$url/nope")
check unknown-path-404 "$c" [ "$c" = 404 ]
c=$(code -X POST "$url/metrics")
check post-405 "$c" [ "$c" = 405 ]
c=$(code -I "$url/healthz")
check head-200 "$c" [ "$c" = 200 ]
# a 1 MB request line, a request that never ends, garbage, 100 idle connections: each is
# answered or closed, and the loop keeps serving
bad=$(python3 - "$port" <<'PY'
import socket, sys
port = int(sys.argv[1])
def ask(data):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        s.sendall(data)
    except OSError:
        pass
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except OSError:
        pass
    s.close()
    return out.split(b"\r\n", 1)[0].decode()
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
print(ask(b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\n\r\n"))
print(ask(b"\x00\xff garbage\r\n\r\n"))
print(ask(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
for s in idle:
    s.close()
PY
)
check huge-request-431 "$bad" [ "$(sed -n 1p <<<"$bad")" = "HTTP/1.1 431 Request Header Fields Too Large" ]
check garbage-400 "$bad" [ "$(sed -n 2p <<<"$bad")" = "HTTP/1.1 400 Bad Request" ]
check serves-past-idle-connections "$bad" [ "$(sed -n 3p <<<"$bad")" = "HTTP/1.1 200 OK" ]
c=$(code "$url/healthz")
check still-healthy "$c" [ "$c" = 200 ]

# a second host on the same port: one line, exit 1
"$HUBFN" start "$app" --embedded --http-port "$port" 2>"$T/second.log" >/dev/null
rc=$?
grep -q "cannot serve HTTP on 0.0.0.0 port $port" "$T/second.log" || rc="$rc, no message"
check port-taken-exit-1 "exit $rc: $(tail -1 "$T/second.log")" [ "$rc" = 1 ]

# drain: while a slow event keeps "each" busy, /readyz says draining; exit 0 afterwards
printf 'k1\t{"id":%d,"k":"k1","slow":%d}\n' $((N + 1)) $((3 * SLOW)) >"$T/slow"
produce "$addr" orders "$T/slow"
received_slow() { scrape; [ "$(get hubfn_events_received_total function=each)" = $((N + 1)) ]; }
wait_for 20 received_slow
sleep 0.5
kill -TERM "$pid"
sleep 0.3
c=$(code "$url/readyz")
check readyz-503-draining "$c $(cat "$T/body")" [ "$c $(cat "$T/body")" = "503 draining" ]
c=$(code "$url/healthz")
check healthz-200-while-draining "$c" [ "$c" = 200 ]
wait "$pid"
rc=$?
check drain-exits-0 "exit $rc: $(tail -3 "$T/run.log")" [ "$rc" = 0 ]

# configuration from the environment; bad values are usage errors
HUBFN_HTTP_PORT=0 HUBFN_HTTP_ADDRESS=127.0.0.1 timeout $((30 * SLOW)) \
    "$HUBFN" start "$app" --embedded --exit-on-eof 2>"$T/env.log" >/dev/null
check env-port-and-address "$(grep -m1 http:// "$T/env.log")" grep -q "on http://127.0.0.1:[0-9]" "$T/env.log"
HUBFN_HTTP_PORT=eighty "$HUBFN" start "$app" --embedded 2>"$T/bad.log" >/dev/null
rc=$?
grep -q HUBFN_HTTP_PORT "$T/bad.log" || rc="$rc, no message"
check env-bad-port-exit-2 "exit $rc: $(cat "$T/bad.log")" [ "$rc" = 2 ]
"$HUBFN" start "$app" --embedded --http-address localhost:80 2>"$T/bad.log" >/dev/null
rc=$?
grep -q -- --http-address "$T/bad.log" || rc="$rc, no message"
check bad-address-exit-2 "exit $rc: $(cat "$T/bad.log")" [ "$rc" = 2 ]
