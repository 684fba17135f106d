#!/usr/bin/env bash
# The metrics operators look for, against a real broker: process_* agreeing with /proc,
# Lua memory per worker against memoryLimitMB, the lag against the committed checkpoint
# (what KEDA scales on) beside the position lag, the age of the oldest running invocation,
# and invocation-duration buckets that reach functionTimeout.
. "$(dirname "$0")/lib.sh"
need_kafka

hub=ops-$$
topic "$hub" 2
app=$T/app
mkdir -p "$app/hold"
# Checkpoints only at stop (batchCheckpointFrequency far away), so that the checkpoint lag
# shows what the position lag does not.
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "functionTimeout": "00:07:00",
  "extensions": { "eventHubs": { "maxEventBatchSize": 50, "batchCheckpointFrequency": 1000000 },
                  "lua": { "memoryLimitMB": 64 } } }
JSON
echo "{ \"Values\": { \"Conn\": \"$HF_KAFKA_PLAIN\" } }" >"$app/local.settings.json"
cat >"$app/hold/function.json" <<JSON
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "$hub", "connection": "Conn", "consumerGroup": "ops-$$",
    "cardinality": "many" } ] }
JSON
cat >"$app/hold/handler.lua" <<'LUA'
kept = kept or {}
return function(events, context)
  for _, ev in ipairs(events) do
    if ev.body.big then          -- keep about 8 MB in the state
      for i = 1, 8 do kept[#kept + 1] = string.rep(string.char(64 + i), 1024 * 1024) end
    end
    if ev.body.slow then local t = os.clock() + ev.body.slow; while os.clock() < t do end end
  end
end
LUA

gen_events "$T/events" 400 16
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events"
t0=$(date +%s)
start_bg "$T/run.log" "$HUBFN" start "$app" --http-port 0 --workers 2
pid=$BG
wait_for 20 grep -q "on http://" "$T/run.log"
port=$(sed -n 's|.*on http://0\.0\.0\.0:\([0-9]*\).*|\1|p' "$T/run.log" | head -1)
scrape() { curl -s --max-time 5 "http://127.0.0.1:$port/metrics" >"$T/metrics"; }
prom() { python3 "$TOP/tests/integration/prom.py" "$T/metrics" get "$@"; }
processed() { scrape && [ "$(prom hubfn_events_processed_total)" = "$1" ]; }
wait_for 60 processed 400

fmt=$(python3 "$TOP/tests/integration/prom.py" "$T/metrics" check)
check metrics-format "$fmt" [ "$fmt" = ok ]
check position-lag-0 "$(prom hubfn_consumer_lag_events)" [ "$(prom hubfn_consumer_lag_events)" = 0 ]
check checkpoint-lag-all "$(prom hubfn_checkpoint_lag_events) (nothing committed yet)" \
    [ "$(prom hubfn_checkpoint_lag_events function=hold)" = 400 ]
n=$(grep -c '^hubfn_checkpoint_lag_events{function="hold",partition=' "$T/metrics")
check checkpoint-lag-per-partition "$n series" [ "$n" = 2 ]

# process_*: what /proc says of the same process
rss=$(prom process_resident_memory_bytes)
vmrss=$(awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$pid/status")
check process-rss "metric $rss, /proc $vmrss" python3 -c "import sys; a, b = $rss, $vmrss; sys.exit(not (0.7 * b < a < 1.3 * b))"
fds=$(prom process_open_fds)
nfd=$(ls "/proc/$pid/fd" | wc -l)
check process-open-fds "metric $fds, /proc $nfd" python3 -c "import sys; sys.exit(not abs($fds - $nfd) <= 4 and $fds > 5)"
check process-max-fds "metric $(prom process_max_fds), limit $(ulimit -n)" [ "$(prom process_max_fds)" = "$(ulimit -n)" ]
start=$(prom process_start_time_seconds)
check process-start-time "start $start, test began $t0" python3 -c "import sys, time; sys.exit(not ($t0 - 2 <= $start <= time.time()))"
check process-virtual "$(prom process_virtual_memory_bytes)" python3 -c "import sys; sys.exit(not $(prom process_virtual_memory_bytes) >= $rss)"

# Lua memory: one series per worker, the limit, and a handler that keeps 8 MB shows
n=$(grep -c '^hubfn_lua_memory_bytes{worker=' "$T/metrics")
check lua-memory-per-worker "$n series" [ "$n" = 2 ]
check lua-memory-limit "$(prom hubfn_lua_memory_limit_bytes)" [ "$(prom hubfn_lua_memory_limit_bytes)" = $((64 * 1024 * 1024)) ]
before=$(prom hubfn_lua_memory_bytes)
echo 'big	{"id":1001,"big":true}' >"$T/big"
produce "$HF_KAFKA_PLAIN" "$hub" "$T/big"
wait_for 30 processed 401
after=$(prom hubfn_lua_memory_bytes)
check lua-memory-grows "$before -> $after" [ $((after - before)) -ge $((8 * 1024 * 1024)) ]

# the oldest running invocation: 0 while idle, its age while a handler runs for seconds
check oldest-idle "$(prom hubfn_oldest_invocation_age_seconds function=hold)" \
    [ "$(prom hubfn_oldest_invocation_age_seconds function=hold)" = 0 ]
echo 'slow	{"id":1002,"slow":4}' >"$T/slow"
produce "$HF_KAFKA_PLAIN" "$hub" "$T/slow"
running() { scrape && python3 -c "import sys; sys.exit(not $(prom hubfn_oldest_invocation_age_seconds function=hold) >= 1)"; }
check oldest-while-running "$(prom hubfn_oldest_invocation_age_seconds function=hold)" wait_for 30 running
wait_for 30 processed 402
check process-cpu "$(prom process_cpu_seconds_total) s after a handler spent 4 s of CPU" \
    python3 -c "import sys; sys.exit(not $(prom process_cpu_seconds_total) >= 3.5)"
check oldest-back-to-0 "$(prom hubfn_oldest_invocation_age_seconds function=hold)" \
    [ "$(prom hubfn_oldest_invocation_age_seconds function=hold)" = 0 ]

# duration buckets reach functionTimeout (7 minutes)
b='hubfn_invocation_duration_seconds_bucket{function="hold",le='
check duration-buckets "$(grep -o "$b\"[0-9.+Inf]*\"" "$T/metrics" | sed 's/.*le=//' | tr '\n' ' ')" \
    bash -c "grep -q '$b\"60\"}' '$T/metrics' && grep -q '$b\"120\"}' '$T/metrics' &&
             grep -q '$b\"300\"}' '$T/metrics' && grep -q '$b\"420\"}' '$T/metrics' &&
             ! grep -q '$b\"600\"}' '$T/metrics'"
inv=$(prom hubfn_invocations_total function=hold)
check duration-count "$(prom hubfn_invocation_duration_seconds_count) of $inv" \
    [ "$(prom hubfn_invocation_duration_seconds_count function=hold)" = "$inv" ]

# checkpoints are committed at stop: the next start sees no lag against them
kill -TERM "$pid"
wait "$pid"
rc=$?
check exits-0 "exit $rc" [ "$rc" = 0 ]
start_bg "$T/run2.log" "$HUBFN" start "$app" --http-port 0
pid=$BG
wait_for 20 grep -q "on http://" "$T/run2.log"
port=$(sed -n 's|.*on http://0\.0\.0\.0:\([0-9]*\).*|\1|p' "$T/run2.log" | head -1)
lag2() { scrape && [ "$(grep -c '^hubfn_checkpoint_lag_events{function="hold"' "$T/metrics")" = 2 ] &&
         [ "$(prom hubfn_checkpoint_lag_events function=hold)" = 0 ]; }
check checkpoint-lag-after-restart "$(grep '^hubfn_checkpoint_lag_events' "$T/metrics")" wait_for 30 lag2
kill -TERM "$pid"
wait "$pid"
