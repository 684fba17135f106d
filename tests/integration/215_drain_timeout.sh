#!/usr/bin/env bash
# The SIGTERM drain has a grace period (--drain-timeout, HUBFN_DRAIN_TIMEOUT): a handler
# still busy when it runs out does not hold the instance up; hubfn says what it abandons
# and exits 1 without checkpointing it.
. "$(dirname "$0")/lib.sh"

app=$T/app
mkdir -p "$app/slow"
echo '{ "version": "2.0", "functionTimeout": "00:01:00" }' >"$app/host.json"
cat >"$app/slow/function.json" <<'JSON'
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "slow", "connection": "Conn", "cardinality": "many" } ] }
JSON
cat >"$app/slow/handler.lua" <<LUA
return function(events)
  io.open("$T/started", "w"):close()
  local t = os.clock() + 30; while os.clock() < t do end
end
LUA
HUBFN_DRAIN_TIMEOUT=2 start_bg "$T/run.log" "$HUBFN" start "$app" --embedded --partitions 1 --log-format text
pid=$BG
wait_for 20 grep -q "listening at" "$T/run.log"
addr=$(sed -n 's/.*embedded broker listening at \([0-9.:]*\).*/\1/p' "$T/run.log" | head -1)
echo '{"id":1}' >"$T/one"
kcat -P -b "$addr" -t slow -l "$T/one" 2>/dev/null
wait_for 30 test -f "$T/started"
start=$(date +%s)
kill -TERM "$pid"
wait "$pid"
rc=$?
took=$(( $(date +%s) - start ))
check exits-1-after-grace "exit $rc after ${took}s: $(tail -2 "$T/run.log")" [ "$rc" = 1 ]
check stops-within-grace "took ${took}s with a 2 s grace period and a 30 s handler" [ "$took" -lt 20 ]
check says-what-it-abandons "$(grep 'drain did not finish' "$T/run.log")" \
    grep -q "drain did not finish within 2 s" "$T/run.log"
