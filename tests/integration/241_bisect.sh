#!/usr/bin/env bash
# bisectOnError on the real broker: a cardinality-many handler that raises when its batch
# holds a poison event. With bisectOnError the failed batches are split until the poison
# events stand alone: exactly those reach the dead-letter hub (after the retry policy ran
# each of them alone), and every other event's output reaches the output hub. Without it,
# whole batches are dead-lettered.
. "$(dirname "$0")/lib.sh"
need_kafka
N=400
POISON="17 18 200 399"

# mkbisect DIR IN OUT DLQ BISECT
mkbisect() {
    local dir=$1 in=$2 out=$3 dlq=$4 bisect=$5
    mkdir -p "$dir/f"
    cat >"$dir/host.json" <<JSON
{ "version": "2.0",
  "extensions": { "eventHubs": { "maxEventBatchSize": 64, "bisectOnError": $bisect } } }
JSON
    echo "{ \"Values\": { \"Conn\": \"$HF_KAFKA_PLAIN\" } }" >"$dir/local.settings.json"
    cat >"$dir/f/function.json" <<JSON
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "$in",
      "connection": "Conn", "consumerGroup": "g-$in", "cardinality": "many" },
    { "type": "eventHub", "direction": "out", "name": "out", "eventHubName": "$out",
      "connection": "Conn" },
    { "type": "eventHub", "direction": "out", "name": "\$deadLetter", "eventHubName": "$dlq",
      "connection": "Conn" } ],
  "retry": { "strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:00.200" } }
JSON
    cat >"$dir/f/handler.lua" <<LUA
local runs = assert(io.open("$dir/runs.out", "a"))
runs:setvbuf("no")
return function(events, context)
  local ids = {}
  for i, ev in ipairs(events) do ids[i] = ev.body.id end
  runs:write(context.retryContext.retryCount, " ", table.concat(ids, ","), "\n")
  for _, ev in ipairs(events) do
    if ev.body.poison then error("poison event " .. ev.body.id) end
  end
  for _, ev in ipairs(events) do
    context.bindings.out:send({ id = ev.body.id })
  end
end
LUA
}

awk -v n=$N -v p=" $POISON " 'BEGIN { for (i = 0; i < n; i++)
    printf "{\"id\":%d%s}\n", i, index(p, " " i " ") ? ",\"poison\":true" : "" }' >"$T/events"

for bisect in true false; do
    in=bis-in-$bisect-$$ out=bis-out-$bisect-$$ dlq=bis-dlq-$bisect-$$
    topic "$in" 1 "$out" 1 "$dlq" 1 || fail "$bisect-topics" "$(tail -2 "$T/topic.err")"
    kcat -P -b "$HF_KAFKA_PLAIN" -t "$in" -z none -l "$T/events" 2>>"$T/kcat.err"
    mkbisect "$T/app-$bisect" "$in" "$out" "$dlq" $bisect
    timeout $((120 * SLOW)) "$HUBFN" start "$T/app-$bisect" --exit-on-eof >"$T/$bisect.out" \
        2>"$T/$bisect.log"
    rc=$?
    check "$bisect-exits-0" "exit $rc: $(tail -2 "$T/$bisect.log")" [ $rc = 0 ]
    kcat -C -b "$HF_KAFKA_PLAIN" -t "$dlq" -e -q -f '%s\n' 2>/dev/null |
        sed 's/.*"id":\([0-9]*\).*/\1/' | sort -n >"$T/dlq-$bisect"
    kcat -C -b "$HF_KAFKA_PLAIN" -t "$out" -e -q -f '%s\n' 2>/dev/null |
        sed 's/.*"id":\([0-9]*\).*/\1/' | sort -n >"$T/out-$bisect"
done

want_dlq=$(echo $POISON | tr ' ' '\n')
check bisect-dead-letters-exactly-the-poison "dead-lettered: $(tr '\n' ' ' <"$T/dlq-true")" \
    [ "$(cat "$T/dlq-true")" = "$want_dlq" ]
check bisect-delivers-every-other-event-once \
    "$(lines "$T/out-true") outputs, $(sort -u "$T/out-true" | wc -l) distinct" \
    [ "$(lines "$T/out-true")" = $((N - 4)) ] && [ "$(sort -u "$T/out-true" | wc -l)" = $((N - 4)) ]
check bisect-outputs-are-not-poison "" bash -c "! grep -qxE '17|18|200|399' '$T/out-true'"
# the retry policy saw the poison events only (those of one batch retry together, and
# are bisected again when they fail again)
check bisect-retries-run-only-poison "$(awk '$1 > 0' "$T/app-true/runs.out" | tr '\n' ' ')" \
    bash -c "[ -z \"\$(awk '\$1 > 0 { print \$2 }' '$T/app-true/runs.out' | tr ',' '\n' |
                   grep -vxE '17|18|200|399')\" ] && grep -q '^1 ' '$T/app-true/runs.out'"
check bisect-logged "" grep -q "bisecting to find the events that fail" "$T/true.log"
# Without bisectOnError whole batches of 64 fail: the poison's batch-mates are lost to
# the dead-letter hub with them.
check without-bisect-whole-batches-dead-lettered "$(lines "$T/dlq-false") dead-lettered" \
    [ "$(lines "$T/dlq-false")" -gt 4 ]
check without-bisect-nothing-lost \
    "$(lines "$T/dlq-false") dead-lettered + $(lines "$T/out-false") delivered" \
    [ $(( $(lines "$T/dlq-false") + $(lines "$T/out-false") )) = $N ]
