#!/usr/bin/env bash
# Partial failure: a cardinality-many handler fails single events with context.fail; only
# those are retried and then dead-lettered, the rest of each batch counts as done.
. "$(dirname "$0")/lib.sh"
need_kafka

hub=part-in-$$ dlq=part-dlq-$$
topic "$hub" 2 "$dlq" 1
gen_events "$T/events" 200 8
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events"
app=$T/app
mkdir -p "$app/f"
echo '{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 25 } } }' >"$app/host.json"
echo "{ \"Values\": { \"Conn\": \"$HF_KAFKA_PLAIN\" } }" >"$app/local.settings.json"
cat >"$app/f/function.json" <<JSON
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "$hub",
      "connection": "Conn", "consumerGroup": "g-$hub", "cardinality": "many" },
    { "type": "eventHub", "direction": "out", "name": "\$deadLetter", "eventHubName": "$dlq",
      "connection": "Conn" } ],
  "retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:00.200" } }
JSON
cat >"$app/f/handler.lua" <<LUA
local out = assert(io.open("$T/rec.out", "a"))
out:setvbuf("no")
return function(events, context)
  for _, ev in ipairs(events) do
    out:write(ev.partition .. " " .. ev.offset .. " " .. ev.body.id .. " " .. context.retryContext.retryCount .. "\n")
    if ev.body.id % 50 == 0 then context.fail(ev, "id " .. ev.body.id .. " is not wanted") end
  end
end
LUA
timeout $((90 * SLOW)) "$HUBFN" start "$app" --exit-on-eof 2>"$T/run.log"
rc=$?
check exits-0 "exit $rc" [ "$rc" = 0 ]
dl=$(kcat -C -b "$HF_KAFKA_PLAIN" -t "$dlq" -e -q -f '%s\n' 2>/dev/null | sort | tr '\n' ' ')
check only-failed-events-dead-lettered "$dl" [ "$(grep -o '"id":[0-9]*' <<<"$dl" | tr '\n' ' ')" = '"id":100 "id":150 "id":200 "id":50 ' ]
retried=$(awk '$4 == 1 { print $3 }' "$T/rec.out" | sort -n | tr '\n' ' ')
check only-failed-events-retried "$retried" [ "$retried" = "50 100 150 200 " ]
once=$(awk '$4 == 0' "$T/rec.out" | wc -l)
check every-event-tried-once-first "$once" [ "$once" = 200 ]
