#!/usr/bin/env bash
# What a new user broke (issue "limits that escape, errors that vanish"), item by item:
# each check here failed before the fix it names.
. "$(dirname "$0")/lib.sh"

HOST_JSON='{ "version": "2.0" }'
BINDINGS='[ { "type": "eventHubTrigger", "name": "events", "eventHubName": "in", "connection": "C", "cardinality": "many" }, { "type": "eventHub", "direction": "out", "name": "out", "eventHubName": "out", "connection": "C" } ]'
HANDLER='return function(events, context) end'
# app DIR [host.json] [function.json bindings] [handler]: a one-function app "f"
app() {
    local dir=$1 host=${2:-$HOST_JSON} bindings=${3:-$BINDINGS} handler=${4:-$HANDLER}
    mkdir -p "$dir/f"
    printf '%s\n' "$host" >"$dir/host.json"
    printf '{ "bindings": %s }\n' "$bindings" >"$dir/f/function.json"
    printf '%s\n' "$handler" >"$dir/f/handler.lua"
}
run() {  # run APP EVENTS-TEXT [args...]: hubfn run on f; out, err and rc in $T/run.*
    local dir=$1 events=$2; shift 2
    printf '%s' "$events" | timeout $((30 * SLOW)) "$HUBFN" run "$dir/f" --events - \
        --log-format text "$@" >"$T/run.out" 2>"$T/run.err"
    echo $? >"$T/run.rc"
}
rc() { cat "$T/run.rc"; }

# 6. context.fail: the log, the summary and the exit code agree.
app "$T/a6" "" "" 'return function(events, context) context.fail(events[2], "not a profile") end'
run "$T/a6" $'{"n":1}\n{"n":2}\n{"n":3}\n'
check 6-fail-summary-counts-the-event "$(tail -1 "$T/run.err")" \
    grep -q "3 events, 0 outputs, 0 failed invocations, 1 failed event$" "$T/run.err"
check 6-fail-logged-as-such "$(cat "$T/run.err")" \
    grep -q "error \[f\] 1 event failed through context.fail (events on lines 1-3): event at offset 1: not a profile" "$T/run.err"
check 6-fail-exits-1 "exit $(rc)" [ "$(rc)" = 1 ]

# 7. Values that become librdkafka properties are checked when loaded, naming the setting.
app "$T/a7" '{ "version": "2.0", "extensions": { "eventHubs": { "prefetchCount": 20000000 } } }'
run "$T/a7" ''
check 7-prefetch-range-at-load "exit $(rc): $(cat "$T/run.err")" \
    bash -c "[ $(rc) = 2 ] && grep -q 'host.json: extensions.eventHubs.prefetchCount: expected an integer from 0 to 10000000 (librdkafka.s queued.min.messages), got 20000000' '$T/run.err'"
app "$T/a7b"
printf '' | env 'AzureFunctionsJobHost__extensions__kafka__fetch.wait.max.ms=abc' \
    "$HUBFN" run "$T/a7b/f" --events - >/dev/null 2>"$T/a7b.err"
check 7-override-named "$(cat "$T/a7b.err")" \
    grep -q 'extensions.kafka.fetch.wait.max.ms: librdkafka refuses it: .*(set by environment variable AzureFunctionsJobHost__extensions__kafka__fetch.wait.max.ms)' "$T/a7b.err"
check 7-no-trailing-newline-text "$(cat "$T/a7b.err")" bash -c "! grep -q '\\\\n' '$T/a7b.err'"
app "$T/a7c" '{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 99999999999999999999 } } }'
run "$T/a7c" ''
check 7-big-number-in-digits "$(cat "$T/run.err")" \
    bash -c "grep -q 'got 100000000000000000000' '$T/run.err' && ! grep -q 'e+20' '$T/run.err'"
"$HUBFN" start "$T/a7c" --http-port 70000 2>"$T/port.err"
check 7-port-range-said "$(cat "$T/port.err")" grep -q "from 0 to 65535" "$T/port.err"
"$HUBFN" start "$T/a7c" --workers 0 2>"$T/workers.err"
check 7-workers-range-said "$(cat "$T/workers.err")" grep -q "from 1 to [0-9]*, not 0" "$T/workers.err"

# 8. Typos: a binding key that changes what the handler receives is an error; others warn.
app "$T/a8" "" '[ { "type": "eventHubTrigger", "name": "events", "eventHubName": "in", "connection": "C", "cardinalty": "many" } ]'
run "$T/a8" ''
check 8-cardinalty-is-an-error "exit $(rc): $(cat "$T/run.err")" \
    bash -c "[ $(rc) = 2 ] && grep -q 'f/function.json: bindings\[0\].cardinalty: not a key hubfn knows (did you mean cardinality?' '$T/run.err'"
app "$T/a8b" '{ "version": "2.0", "functionTimout": "00:00:10" }'
run "$T/a8b" ''
check 8-host-json-typo-warned "$(cat "$T/run.err")" \
    grep -q "host.json: functionTimout is not a setting hubfn knows; ignored (did you mean functionTimeout?)" "$T/run.err"
app "$T/a8c" "" "" 'return function(events, context)
  for _, ev in ipairs(events) do context.bindings.out:send(ev.body, { partitionkey = "k" }) end
end'
run "$T/a8c" $'{"n":1}\n{"n":2}\n'
check 8-send-option-typo-warned-once "$(cat "$T/run.err")" \
    bash -c "[ \$(grep -c 'bindings.out:send: option \"partitionkey\" is not one hubfn knows; ignored (did you mean partitionKey?)' '$T/run.err') = 1 ]"

# 9. Clear errors for a missing binding, a dot call and a table property.
app "$T/a9" "" "" 'return function(events, context) context.bindings.nope:send(1) end'
run "$T/a9" $'{"n":1}\n'
check 9-missing-binding-named "$(cat "$T/run.err")" \
    grep -q "context.bindings.nope: no such binding (this function's bindings: out)" "$T/run.err"
app "$T/a9b" "" "" 'return function(events, context) context.bindings.out.send({ n = 1 }) end'
run "$T/a9b" $'{"n":1}\n'
check 9-dot-call-explained "$(cat "$T/run.err")" \
    grep -q "bindings.out.send: call it with a colon, bindings.out:send(value)" "$T/run.err"
app "$T/a9c" "" "" 'return function(events, context)
  context.bindings.out:send("x", { properties = { meta = { a = 1 } } })
end'
run "$T/a9c" $'{"n":1}\n'
check 9-table-property-refused "$(cat "$T/run.err") / $(cat "$T/run.out")" \
    bash -c "grep -q 'properties.meta is a table; a property' '$T/run.err' && ! grep -q 'table: 0x' '$T/run.out'"

# 14. Binary bodies keep their bytes in hubfn run's output (base64), no silent U+FFFD.
app "$T/a14" "" '[ { "type": "eventHubTrigger", "name": "events", "eventHubName": "in", "connection": "C", "cardinality": "many", "dataType": "binary" }, { "type": "eventHub", "direction": "out", "name": "out", "eventHubName": "out", "connection": "C" } ]' \
    'return function(events, context) for _, ev in ipairs(events) do context.bindings.out:send(ev.body) end end'
printf 'ok\n\xff\xfe\x01\n' | "$HUBFN" run "$T/a14/f" --events - >"$T/run.out" 2>/dev/null
check 14-binary-body-base64 "$(cat "$T/run.out")" \
    bash -c "grep -q '\"body\":\"ok\"' '$T/run.out' && grep -q '\"bodyBase64\":\"//4B\"' '$T/run.out'"

# 15. $deadletter in any case, like every binding name; help run lists --log-format.
app "$T/a15" "" '[ { "type": "eventHubTrigger", "name": "events", "eventHubName": "in", "connection": "C" }, { "type": "eventHub", "direction": "out", "name": "$deadletter", "eventHubName": "dlq", "connection": "C" } ]'
run "$T/a15" ''
check 15-deadletter-any-case "exit $(rc): $(cat "$T/run.err")" [ "$(rc)" = 0 ]
check 15-help-run-log-format "$("$HUBFN" help run)" bash -c "'$HUBFN' help run | grep -q -- '--log-format'"

# 4 and 5 need the host: the embedded broker.
# 5. With cardinality one, a failure names the failed event's offset, not the batch's.
# 4. An event too big for the dead-letter hub is sent cut to fit, marked, once.
mkdir -p "$T/a45/f"
cat >"$T/a45/host.json" <<'JSON'
{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBytes": 3000 } } }
JSON
cat >"$T/a45/f/function.json" <<'JSON'
{ "bindings": [
  { "type": "eventHubTrigger", "name": "ev", "eventHubName": "in45", "connection": "C" },
  { "type": "eventHub", "direction": "out", "name": "$deadLetter", "eventHubName": "dlq45",
    "connection": "C" } ] }
JSON
cat >"$T/a45/f/handler.lua" <<'LUA'
return function(ev) if ev.body.fail then error("event " .. ev.body.n .. " fails") end end
LUA
start_bg "$T/a45.log" "$HUBFN" start "$T/a45" --embedded --partitions 1 --log-format text
pid=$BG
wait_for 20 grep -q "embedded broker listening at" "$T/a45.log"
addr=$(sed -n 's/.*embedded broker listening at \([0-9.:]*\).*/\1/p' "$T/a45.log" | head -1)
printf '{"n":1}\n{"n":2,"fail":true}\n{"n":3}\n' >"$T/a45a.jsonl"
"$HUBFN" send "$addr" in45 "$T/a45a.jsonl" >/dev/null 2>&1
wait_for 30 bash -c "[ \$(kcat -C -b '$addr' -t dlq45 -e -q 2>/dev/null | wc -l) -ge 1 ]"
python3 -c 'print("{\"n\":4,\"fail\":true,\"pad\":\"" + "x" * 5000 + "\"}")' >"$T/a45b.jsonl"
"$HUBFN" send "$addr" in45 "$T/a45b.jsonl" --max-event-bytes 10000 >/dev/null 2>&1
wait_for 30 bash -c "[ \$(kcat -C -b '$addr' -t dlq45 -e -q 2>/dev/null | wc -l) -ge 2 ]"
kcat -C -b "$addr" -t dlq45 -e -q -f '%h %S\n' >"$T/dlq.headers" 2>/dev/null
sleep 6                           # time for a refusal loop to show, if there were one
kill -TERM "$pid"
wait "$pid"
off=$(grep -o 'offsets [0-9]*-[0-9]* (1 event)' "$T/a45.log" | head -1)
check 5-one-names-the-failed-event "$(grep 'invocation failed' "$T/a45.log" | head -2)" \
    [ "$off" = "offsets 1-1 (1 event)" ]
check 4-too-big-cut-and-marked "$(grep -i 'larger than a dead-letter' "$T/a45.log") / $(tail -1 "$T/dlq.headers")" \
    bash -c "grep -q 'an event of [0-9]* bytes is larger than a dead-letter message may be (maxEventBytes 3000)' '$T/a45.log' && tail -1 '$T/dlq.headers' | grep -q 'hubfn-truncated=true' && tail -1 '$T/dlq.headers' | grep -q 'hubfn-original-bytes=50[0-9][0-9]'"
check 4-no-refusal-loop "$(grep -c 'did not take' "$T/a45.log") refusals" \
    bash -c "! grep -q 'did not take' '$T/a45.log'"
check 4-both-dead-lettered "$(grep 'sent to dead-letter' "$T/a45.log")" \
    bash -c "[ \$(grep -c 'sent to dead-letter hub dlq45' '$T/a45.log') = 2 ]"
