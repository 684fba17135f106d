#!/usr/bin/env bash
# Retry policies (function.json "retry"): a failing event is retried after the policy's
# delay with context.retryContext telling the handler which try it is, its partition waits
# meanwhile while the others go on, and after the last retry the checkpoint moves on.
. "$(dirname "$0")/lib.sh"
need_kafka

hub=retry-$$
topic "$hub" 2
# odd ids to partition 1 (poison id 13, flaky id 7), even ids to partition 0
for i in $(seq 1 2 39); do printf '{"id":%d}\n' "$i"; done >"$T/odd"
for i in $(seq 2 2 40); do printf '{"id":%d}\n' "$i"; done >"$T/even"
kcat -P -b "$HF_KAFKA_PLAIN" -t "$hub" -p 1 -l "$T/odd"
kcat -P -b "$HF_KAFKA_PLAIN" -t "$hub" -p 0 -l "$T/even"

app=$T/app
mkdir -p "$app/f"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 5 } } }
JSON
cat >"$app/local.settings.json" <<JSON
{ "Values": { "Conn": "$HF_KAFKA_PLAIN" } }
JSON
cat >"$app/f/function.json" <<JSON
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "ev",
    "eventHubName": "$hub", "connection": "Conn", "consumerGroup": "g-$hub" } ],
  "retry": { "strategy": "fixedDelay", "maxRetryCount": 2, "delayInterval": "00:00:02" } }
JSON
cat >"$app/f/handler.lua" <<LUA
local out = assert(io.open("$T/rec.out", "a"))
out:setvbuf("no")
return function(ev, context)
  local rc = context.retryContext
  out:write(ev.partition .. " " .. ev.body.id .. " " .. rc.retryCount .. " " .. rc.maxRetryCount .. "\n")
  if ev.body.id == 13 then error("poison event 13") end
  if ev.body.id == 7 and rc.retryCount == 0 then error("flaky event 7") end
end
LUA
timeout $((90 * SLOW)) "$HUBFN" start "$app" --exit-on-eof 2>"$T/run.log"
rc=$?
check exits-0 "exit $rc: $(tail -2 "$T/run.log")" [ "$rc" = 0 ]
tries() { awk -v id="$1" '$2 == id' "$T/rec.out" | wc -l; }
check poison-tried-three-times "id 13 ran $(tries 13) times" [ "$(tries 13)" = 3 ]
check flaky-succeeds-on-retry "id 7 ran $(tries 7) times" [ "$(tries 7)" = 2 ]
check others-once "$(awk '$2 != 7 && $2 != 13' "$T/rec.out" | cut -d' ' -f2 | sort | uniq -d | head -3)" \
    [ "$(awk '$2 != 7 && $2 != 13' "$T/rec.out" | wc -l)" = 38 ]
check retry-context "$(awk '$2 == 13' "$T/rec.out" | tr '\n' ';')" \
    [ "$(awk '$2 == 13 { printf "%s/%s ", $3, $4 }' "$T/rec.out")" = "0/2 1/2 2/2 " ]
check retries-logged "$(grep -m1 'retry 1 of 2' "$T/run.log")" grep -q "retry 1 of 2 in" "$T/run.log"
check final-failure-logged "$(grep 'after 2 retries' "$T/run.log")" \
    grep -q "offsets .* (1 event) after 2 retries; the checkpoint moves past it: .*poison event 13" "$T/run.log"
# The other partition (even ids) finished while the poison event's partition waited.
p_poison=$(awk '$2 == 13 { print $1; exit }' "$T/rec.out")
last_other=$(awk -v p="$p_poison" '$1 != p { n = NR } END { print n }' "$T/rec.out")
first_retry=$(awk '$2 == 13 && $3 == 1 { print NR; exit }' "$T/rec.out")
check other-partitions-flow "other partition's last event at line $last_other, first retry at $first_retry" \
    [ "$last_other" -lt "$first_retry" ]
# Order within the poison partition holds: 15, 17, ... come after 13 is resolved.
after=$(awk -v p="$p_poison" '$1 == p { print $2 }' "$T/rec.out" | tr '\n' ' ')
check partition-waits-in-order "$after" python3 -c '
import sys
ids = [int(x) for x in sys.argv[1].split()]
i = len(ids) - 1 - ids[::-1].index(13)
assert all(x > 13 for x in ids[i + 1:]) and all(x < 13 or x in (13,) for x in ids[:ids.index(13)]), ids
' "$after"
rm -f "$T/rec.out"
timeout $((60 * SLOW)) "$HUBFN" start "$app" --exit-on-eof 2>"$T/run2.log"
check checkpoint-moved-on "second run saw $(lines "$T/rec.out") events" [ "$(lines "$T/rec.out")" = 0 ]
