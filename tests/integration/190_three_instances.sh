#!/usr/bin/env bash
# Three instances in one consumer group share a hub's partitions. One is SIGKILLed and the
# broker is frozen for 2 s meanwhile: the others take over and every input event reaches
# the output hub at least once.
. "$(dirname "$0")/lib.sh"
need_kafka
N=12000
in=three-in-$$ out=three-out-$$
topic "$in" 6 "$out" 6
gen_events "$T/events" $N 96
produce "$HF_KAFKA_PLAIN" "$in" "$T/events"

app=$T/app
mkdir -p "$app/route"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0",
  "extensions": { "eventHubs": { "maxEventBatchSize": 50 },
                  "kafka": { "session.timeout.ms": "6000" } } }
JSON
echo "{ \"Values\": { \"Conn\": \"$HF_KAFKA_PLAIN\" } }" >"$app/local.settings.json"
cat >"$app/route/function.json" <<JSON
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "$in",
    "connection": "Conn", "consumerGroup": "three-$$", "cardinality": "many" },
  { "type": "eventHub", "direction": "out", "name": "out", "eventHubName": "$out",
    "connection": "Conn" } ] }
JSON
cat >"$app/route/handler.lua" <<'LUA'
return function(events, context)
  for _, ev in ipairs(events) do
    context.bindings.out:send({ id = ev.body.id }, { partitionKey = ev.body.k })
  end
  local t = os.clock() + 0.02; while os.clock() < t do end
end
LUA
outputs() { kcat -C -b "$HF_KAFKA_PLAIN" -t "$out" -e -q 2>/dev/null | wc -l; }
unique_outputs() {
    kcat -C -b "$HF_KAFKA_PLAIN" -t "$out" -e -q 2>/dev/null |
        python3 -c 'import json,sys; print(len({json.loads(l)["id"] for l in sys.stdin if l.strip()}))'
}

for i in 1 2 3; do
    start_bg "$T/i$i.log" "$HUBFN" start "$app" --workers 1 --log-format text
    eval "pid$i=$BG"
done
wait_for 60 bash -c "grep -q 'assigned partitions' '$T/i1.log' && grep -q 'assigned partitions' '$T/i2.log' && grep -q 'assigned partitions' '$T/i3.log'"
wait_for 60 bash -c "[ \$(kcat -C -b '$HF_KAFKA_PLAIN' -t '$out' -e -q 2>/dev/null | wc -l) -ge 2000 ]"
shared=0
for i in 1 2 3; do grep -q "assigned partitions \[[0-9]" "$T/i$i.log" && shared=$((shared + 1)); done
check partitions-shared "$shared of 3 instances got partitions" [ "$shared" = 3 ]

kill -KILL "$pid2"
"$TOP/tests/kafka/broker.sh" pause >/dev/null 2>&1
sleep 2
"$TOP/tests/kafka/broker.sh" resume >/dev/null 2>&1
# The survivors take the killed instance's partitions once its session expires (30 s),
# whether or not it had finished its share of the events before it died.
wait_for 90 bash -c "[ \$(grep -h 'assigned partitions' '$T/i1.log' '$T/i3.log' | wc -l) -gt 2 ]"
wait_for 150 bash -c "[ \$(kcat -C -b '$HF_KAFKA_PLAIN' -t '$out' -e -q 2>/dev/null | wc -l) -ge $N ]"
# Let the last in-flight batches land, then stop the survivors.
sleep 2
kill -TERM "$pid1" "$pid3"
wait "$pid1"; rc1=$?
wait "$pid3"; rc3=$?
check survivors-exit-0 "exits $rc1 $rc3" [ "$rc1" = 0 -a "$rc3" = 0 ]
u=$(unique_outputs)
check every-event-reaches-output "$u of $N unique outputs ($(outputs) in all)" [ "$u" = $N ]
check takeover-happened "no survivor took more partitions" \
    bash -c "grep -h 'assigned partitions' '$T/i1.log' '$T/i3.log' | wc -l | awk '{ exit !(\$1 > 2) }'"
