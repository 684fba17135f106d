#!/usr/bin/env bash
# A poison event goes to the function's dead-letter hub (an output binding named
# $deadLetter) after its retries, unchanged, with headers giving its coordinates, the
# function, the error and the attempts; only then the checkpoint moves; other partitions
# keep flowing meanwhile.
. "$(dirname "$0")/lib.sh"
need_kafka

hub=dlq-in-$$ dlq=dlq-$$
topic "$hub" 2 "$dlq" 1
for i in $(seq 1 2 39); do printf '{"id":%d}\n' "$i"; done >"$T/odd"
for i in $(seq 2 2 40); do printf '{"id":%d}\n' "$i"; done >"$T/even"
kcat -P -b "$HF_KAFKA_PLAIN" -t "$hub" -p 1 -H trace=abc-13 -k user-13 -l "$T/odd"
kcat -P -b "$HF_KAFKA_PLAIN" -t "$hub" -p 0 -l "$T/even"

app=$T/app
mkdir -p "$app/f"
echo '{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 5 } } }' >"$app/host.json"
echo "{ \"Values\": { \"Conn\": \"$HF_KAFKA_PLAIN\" } }" >"$app/local.settings.json"
cat >"$app/f/function.json" <<JSON
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "ev", "eventHubName": "$hub",
      "connection": "Conn", "consumerGroup": "g-$hub" },
    { "type": "eventHub", "direction": "out", "name": "\$deadLetter", "eventHubName": "$dlq",
      "connection": "Conn" } ],
  "retry": { "strategy": "exponentialBackoff", "maxRetryCount": 2,
             "minimumInterval": "00:00:00.500", "maximumInterval": "00:00:01" } }
JSON
cat >"$app/f/handler.lua" <<LUA
local out = assert(io.open("$T/rec.out", "a"))
out:setvbuf("no")
return function(ev, context)
  out:write(ev.partition .. " " .. ev.body.id .. " " .. context.retryContext.retryCount .. "\n")
  if ev.body.id == 13 then error("poison event 13") end
end
LUA
timeout $((90 * SLOW)) "$HUBFN" start "$app" --exit-on-eof 2>"$T/run.log"
rc=$?
check exits-0 "exit $rc: $(tail -2 "$T/run.log")" [ "$rc" = 0 ]
kcat -C -b "$HF_KAFKA_PLAIN" -t "$dlq" -e -q -J >"$T/dlq.json" 2>/dev/null
offset13=$(kcat -C -b "$HF_KAFKA_PLAIN" -t "$hub" -p 1 -e -q -f '%o %s\n' | awk '$2 == "{\"id\":13}" { print $1 }')
check dead-letter-has-the-event "$(cat "$T/dlq.json")" python3 - "$T/dlq.json" "$hub" "$offset13" <<'PY'
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(msgs) == 1, msgs
m = msgs[0]
assert m["payload"] == '{"id":13}', m
assert m["key"] == "user-13", m
h = m["headers"]
h = dict(zip(h[::2], h[1::2])) if isinstance(h, list) else h
assert h["trace"] == "abc-13", h
assert h["hubfn-source-hub"] == sys.argv[2], h
assert h["hubfn-source-partition"] == "1", h
assert h["hubfn-source-offset"] == sys.argv[3], h
assert h["hubfn-function"] == "f", h
assert h["hubfn-attempts"] == "3", h
assert "poison event 13" in h["hubfn-error"], h
PY
check others-processed-once "$(awk '$2 != 13' "$T/rec.out" | wc -l) lines" \
    [ "$(awk '$2 != 13' "$T/rec.out" | wc -l)" = 39 -a "$(awk '$2 != 13 { print $2 }' "$T/rec.out" | sort -u | wc -l)" = 39 ]
last_other=$(awk '$1 == 0 { n = NR } END { print n }' "$T/rec.out")
first_retry=$(awk '$2 == 13 && $3 == 1 { print NR; exit }' "$T/rec.out")
check other-partitions-flow "other partition's last event at line $last_other, first retry at $first_retry" \
    [ "${last_other:-99}" -lt "${first_retry:-0}" ]
check dead-letter-logged "$(grep -m1 'dead-letter' "$T/run.log")" \
    grep -q "1 event of hub $hub partition 1 offsets $offset13-$offset13 sent to dead-letter hub $dlq after 3 attempts" "$T/run.log"
rm -f "$T/rec.out"
timeout $((60 * SLOW)) "$HUBFN" start "$app" --exit-on-eof 2>"$T/run2.log"
check checkpoint-moved-after-dead-letter "second run saw $(lines "$T/rec.out") events" [ "$(lines "$T/rec.out")" = 0 ]
