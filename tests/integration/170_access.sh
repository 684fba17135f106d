#!/usr/bin/env bash
# Event Hubs rights on the broker's Event Hubs-like SASL_SSL listener, with Kafka ACLs per
# shared access policy: a policy without Listen on the input hub, a policy without Send on
# an output hub, and an unknown hub each give one clear error line naming the namespace,
# the policy and the hub, exit 1, and checkpoint nothing they did not finish.
. "$(dirname "$0")/lib.sh"
need_kafka

in=acl-in-$$ out=acl-out-$$
topic "$in" 2 "$out" 2
gen_events "$T/events" 100 8
produce "$HF_KAFKA_PLAIN" "$in" "$T/events"
send_only=$("$TOP/tests/kafka/broker.sh" policy "sender$$" "SendKey$$=" send --topic "$in" 2>/dev/null | tail -1)
listen_only=$("$TOP/tests/kafka/broker.sh" policy "reader$$" "ReadKey$$=" listen --topic "$in" 2>/dev/null | tail -1)
# The same policy's namespace-level string (no EntityPath, which would override the output
# binding's eventHubName).
listen_ns=$(sed 's/;EntityPath=[^;]*//' <<<"$listen_only")

mkrouter() {  # mkrouter DIR INPUT_CONN OUTPUT_CONN INPUT_HUB
    mkdir -p "$1/f"
    echo '{ "version": "2.0" }' >"$1/host.json"
    python3 - "$1/local.settings.json" "$2" "$3" <<'PY'
import json, sys
json.dump({"Values": {"In": sys.argv[2], "Out": sys.argv[3]}}, open(sys.argv[1], "w"))
PY
    cat >"$1/f/function.json" <<JSON
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "$4",
    "connection": "In", "consumerGroup": "acl-$$", "cardinality": "many" },
  { "type": "eventHub", "direction": "out", "name": "out", "eventHubName": "$out",
    "connection": "Out" } ] }
JSON
    cat >"$1/f/handler.lua" <<'LUA'
return function(events, context)
  for _, ev in ipairs(events) do context.bindings.out:send(ev.body) end
end
LUA
}
errors_in() { grep -c ' error ' "$1"; }

# No Listen right on the input hub.
mkrouter "$T/a" "$send_only" "$HF_EH_CONN" "$in"
timeout $((60 * SLOW)) "$HUBFN" start "$T/a" --exit-on-eof --log-format text 2>"$T/a.log"
rc=$?
check no-listen-exits-1 "exit $rc" [ "$rc" = 1 ]
check no-listen-one-line "$(grep ' error ' "$T/a.log")" [ "$(errors_in "$T/a.log")" = 1 ]
check no-listen-names-policy-and-hub "$(grep ' error ' "$T/a.log")" \
    grep -q "policy sender$$ may not .* hub $in\|policy sender$$ may not use consumer group" "$T/a.log"

# Listen on the input, but the output's policy has no Send right.
mkrouter "$T/b" "$listen_only" "$listen_ns" "$in"
timeout $((60 * SLOW)) "$HUBFN" start "$T/b" --exit-on-eof --log-format text 2>"$T/b.log"
rc=$?
check no-send-exits-1 "exit $rc" [ "$rc" = 1 ]
check no-send-one-line "$(grep ' error ' "$T/b.log")" [ "$(errors_in "$T/b.log")" = 1 ]
check no-send-names-policy-and-hub "$(grep ' error ' "$T/b.log")" \
    grep -q "policy reader$$ may not send to hub $out in .*localhost: it needs Send rights" "$T/b.log"
check no-secret-in-logs "a key was printed" bash -c "! grep -q 'ReadKey$$\|SendKey$$\|$HF_EH_KEY' '$T/a.log' '$T/b.log'"

# With Send rights restored (the root policy for the output), the same group gets every
# event: the failed run checkpointed nothing it had not delivered.
mkrouter "$T/c" "$listen_only" "$HF_EH_CONN" "$in"
timeout $((60 * SLOW)) "$HUBFN" start "$T/c" --exit-on-eof --log-format text 2>"$T/c.log"
rc=$?
check fixed-rights-exit-0 "exit $rc: $(tail -2 "$T/c.log")" [ "$rc" = 0 ]
n=$(kcat -C -b "$HF_KAFKA_PLAIN" -t "$out" -e -q 2>/dev/null | wc -l)
check nothing-lost-to-missing-rights "$n outputs of 100" [ "$n" = 100 ]

# An unknown hub.
mkrouter "$T/d" "$HF_EH_CONN" "$HF_EH_CONN" "nope-$$"
timeout $((60 * SLOW)) "$HUBFN" start "$T/d" --exit-on-eof --log-format text 2>"$T/d.log"
rc=$?
check unknown-hub-exits-1 "exit $rc" [ "$rc" = 1 ]
check unknown-hub-one-line "$(grep ' error ' "$T/d.log")" \
    grep -q "hub nope-$$ does not exist in .*localhost" "$T/d.log"
