#!/usr/bin/env bash
# eventHubState failures, each one clear line and no event lost: a state hub that is not
# compacted, has the wrong partition count, is missing, or is the input hub (exit 2 at
# start); a partition whose state is over stateMaxBytes (exit 1 at its restore); an
# invocation whose writes would go over it (that invocation fails, the state keeps what it
# had); a state hub that cannot be reached (the partitions wait, /readyz says why, nothing
# is handled or checkpointed, and a later start handles everything).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/state_lib.sh"
need_kafka
in=st-err-in-$$
topic "$in" 4 st-err-plain-$$ 4
state_topic st-err-two-$$ 2
state_topic st-err-ok-$$ 4
gen_events "$T/events" 400 16
produce "$HF_KAFKA_PLAIN" "$in" "$T/events"

start_check() {  # start_check NAME STATE_HUB EXPECTED_CODE TEXT...: one line naming it
    local name=$1 hub=$2 want=$3 rc line; shift 3
    mkstateapp "$T/$name" "$HF_KAFKA_PLAIN" "$in" "$hub"
    timeout $((60 * SLOW)) "$HUBFN" start "$T/$name" --exit-on-eof --log-format text \
        >/dev/null 2>"$T/$name.log"
    rc=$?
    line=$(grep -m1 'error' "$T/$name.log")
    check "$name-exit-$want" "exit $rc: $line" [ "$rc" = "$want" ]
    for text in "$@"; do
        check "$name-says-$(echo "$text" | tr -c 'a-z0-9\n' '-' | cut -c1-30)" "$line" \
            grep -qF -- "$text" <<<"$line"
    done
    check "$name-handles-nothing" "$(lines "$T/$name/seen.out") events handled" \
        [ ! -s "$T/$name/seen.out" ]
    ! grep -q 'SharedAccessKey=' "$T/$name.log" || fail "$name-no-secret" "a key in the log"
}

start_check not-compacted "st-err-plain-$$" 2 "hub st-err-plain-$$ is not compacted (cleanup.policy=delete)" \
    "--config cleanup.policy=compact" "--cleanup-policy Compact" "--partitions 4"
start_check wrong-partitions "st-err-two-$$" 2 \
    "state hub st-err-two-$$ has 2 partitions and input hub $in has 4" "--partition-count 4"
start_check missing "st-err-nope-$$" 2 "hub st-err-nope-$$ does not exist" "cleanup policy compact"
start_check input-hub "$in" 2 "hub $in is the function's input hub"

# over the bound at restore: partition 0 of the state hub holds ~6 KB, the bound is 4 KB
state_topic st-err-big-$$ 4
awk 'BEGIN { pad = sprintf("%1000s", ""); gsub(/ /, "x", pad)
    for (i = 0; i < 6; i++) printf "big%d\t\"%s\"\n", i, pad }' >"$T/big"
kcat -P -b "$HF_KAFKA_PLAIN" -t st-err-big-$$ -p 0 -K $'\t' -l "$T/big" 2>>"$T/kcat.err"
mkstateapp "$T/bound" "$HF_KAFKA_PLAIN" "$in" "st-err-big-$$" '"stateMaxBytes": 4096'
timeout $((60 * SLOW)) "$HUBFN" start "$T/bound" --exit-on-eof --log-format text \
    >/dev/null 2>"$T/bound.log"
rc=$?
line=$(grep -m1 'stateMaxBytes' "$T/bound.log")
check restore-over-bound-exit-1 "exit $rc: $(tail -2 "$T/bound.log")" [ "$rc" = 1 ]
check restore-over-bound-says-where "$line" grep -qF \
    "partition 0 of hub st-err-big-$$ holds more than extensions.eventHubs.stateMaxBytes (4096 bytes" <<<"$line"
check restore-over-bound-handles-nothing "$(lines "$T/bound/seen.out") events handled" \
    [ ! -s "$T/bound/seen.out" ]

# over the bound in an invocation: values of 3 KB against a 4 KB bound; no retry policy, so
# the checkpoint moves past the failed batch, and the state keeps only what fit
in2=st-err-in2-$$ st2=st-err-st2-$$
topic "$in2" 1
state_topic "$st2" 1
mkstateapp "$T/inv" "$HF_KAFKA_PLAIN" "$in2" "$st2" '"stateMaxBytes": 4096, "maxEventBatchSize": 1'
cat >"$T/inv/cnt/handler.lua" <<'LUA'
return function(events, context)
  local ev = events[1]
  context.bindings.state:set(ev.body.k, string.rep("x", ev.body.size))
end
LUA
printf 'a\t{"k":"a","size":3000}\nb\t{"k":"b","size":3000}\nc\t{"k":"c","size":10}\n' >"$T/inv.events"
produce "$HF_KAFKA_PLAIN" "$in2" "$T/inv.events"
timeout $((60 * SLOW)) "$HUBFN" start "$T/inv" --exit-on-eof --log-format text \
    >/dev/null 2>"$T/inv.log"
rc=$?
check invocation-over-bound-host-goes-on "exit $rc: $(tail -2 "$T/inv.log")" [ "$rc" = 0 ]
check invocation-over-bound-says-why "$(grep -m1 'invocation failed' "$T/inv.log")" grep -qF \
    'bindings.state:set: key "b" would take the state of partition 0 to' "$T/inv.log"
state_dump "$st2" "$T/inv.dump"
check invocation-over-bound-keeps-the-rest "$(cut -c1-20 "$T/inv.dump" | tr '\n' ' ')" \
    [ "$(cut -f1 "$T/inv.dump" | sort | tr '\n' ' ')" = "a c " ]

# the state hub unreachable: its connection leads nowhere
mkstateapp "$T/dead" "$HF_KAFKA_PLAIN" "$in" st-err-ok-$$
sed -i 's|"Values": {|"Values": { "Dead": "127.0.0.1:9", |' "$T/dead/local.settings.json"
python3 - "$T/dead/cnt/function.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
f["bindings"][1]["connection"] = "Dead"
json.dump(f, open(sys.argv[1], "w"))
PY
start_bg "$T/dead.log" "$HUBFN" start "$T/dead" --http-port 0 --http-address 127.0.0.1 --log-format text
pid=$BG
wait_for 60 grep -q 'restoring partition .* so far' "$T/dead.log"
port=$(sed -n 's|.*on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$T/dead.log" | head -1)
ready=$(curl -s "http://127.0.0.1:$port/readyz")
check unreachable-not-ready "$ready" grep -qF "restoring the state of partitions [0,1,2,3] from hub st-err-ok-$$" <<<"$ready"
check unreachable-warns "$(grep -m1 'cannot check hub' "$T/dead.log")" grep -q "cannot check hub st-err-ok-$$ yet" "$T/dead.log"
check unreachable-progress-logged "$(grep -m1 'restoring partition' "$T/dead.log")" \
    grep -q 'restoring partition [0-9] from hub .*0 keys (0 bytes) so far.*the partition waits' "$T/dead.log"
check unreachable-handles-nothing "$(lines "$T/dead/seen.out") events handled" [ ! -s "$T/dead/seen.out" ]
kill -TERM "$pid"
wait "$pid"
rc=$?
check unreachable-stops-cleanly "exit $rc: $(tail -2 "$T/dead.log")" [ "$rc" = 0 ]
# fixed: a start that reaches the state hub handles every event once
sed -i 's|"Dead": "127.0.0.1:9"|"Dead": "'"$HF_KAFKA_PLAIN"'"|' "$T/dead/local.settings.json"
timeout $((60 * SLOW)) "$HUBFN" start "$T/dead" --exit-on-eof 2>"$T/dead2.log"
rc=$?
check reachable-again-handles-all "exit $rc, $(lines "$T/dead/seen.out") of 400 events" \
    [ "$rc" = 0 -a "$(lines "$T/dead/seen.out")" = 400 ]

# a state write refused (the state connection's policy has Listen but no Send): one line
# naming the policy, the hub and the right, exit 1, and the batch is not checkpointed
reader=$("$TOP/tests/kafka/broker.sh" policy "streader$$" "StKey$$=" listen 2>/dev/null | tail -1)
mkstateapp "$T/nosend" "$HF_KAFKA_PLAIN" "$in" st-err-ok-$$
python3 - "$T/nosend" "$reader" <<'PY'
import json, sys
d, conn = sys.argv[1], sys.argv[2]
s = json.load(open(d + "/local.settings.json")); s["Values"]["StConn"] = conn
json.dump(s, open(d + "/local.settings.json", "w"))
f = json.load(open(d + "/cnt/function.json")); f["bindings"][1]["connection"] = "StConn"
f["bindings"][0]["consumerGroup"] = "g-nosend"
json.dump(f, open(d + "/cnt/function.json", "w"))
PY
timeout $((60 * SLOW)) "$HUBFN" start "$T/nosend" --exit-on-eof --log-format text \
    >/dev/null 2>"$T/nosend.log"
rc=$?
line=$(grep -m1 ' error ' "$T/nosend.log")
check refused-write-exit-1 "exit $rc: $(tail -2 "$T/nosend.log")" [ "$rc" = 1 ]
check refused-write-one-line "$line" grep -q "policy streader$$ may not send to hub st-err-ok-$$ .* it needs Send rights" <<<"$line"
check refused-write-no-secret "a key in the log" bash -c "! grep -q 'StKey$$=' '$T/nosend.log'"
check cleanup-policy-unreadable-warns "$(grep -m1 'cleanup policy' "$T/nosend.log")" \
    grep -q "cannot read the cleanup policy of hub st-err-ok-$$" "$T/nosend.log"
: >"$T/nosend/seen.out"
python3 - "$T/nosend" "$HF_KAFKA_PLAIN" <<'PY'
import json, sys
d, conn = sys.argv[1], sys.argv[2]
s = json.load(open(d + "/local.settings.json")); s["Values"]["StConn"] = conn
json.dump(s, open(d + "/local.settings.json", "w"))
PY
timeout $((60 * SLOW)) "$HUBFN" start "$T/nosend" --exit-on-eof 2>"$T/nosend2.log"
rc=$?
check refused-write-not-checkpointed "exit $rc, $(lines "$T/nosend/seen.out") of 400 events handled again" \
    [ "$rc" = 0 -a "$(lines "$T/nosend/seen.out")" = 400 ]

# another output of the invocation refused (its policy has no Send on the output hub): the
# state writes are held until the invocation's other messages are delivered, so none
# reaches the state hub; hubfn stops (exit 1), and a start with the rights counts every
# event once
out=st-err-out-$$ st3=st-err-st3-$$
topic "$out" 4
state_topic "$st3" 4
# (Send on another hub only: the producer starts, and each message to $out is refused)
noout=$("$TOP/tests/kafka/broker.sh" policy "stnoout$$" "NoOut$$=" send --topic "$in" 2>/dev/null | tail -1)
noout=$(sed 's/;EntityPath=[^;]*//' <<<"$noout")
mkstateapp "$T/held" "$HF_KAFKA_PLAIN" "$in" "$st3"
python3 - "$T/held" "$noout" "$out" <<'PY'
import json, sys
d, conn, out = sys.argv[1:4]
s = json.load(open(d + "/local.settings.json")); s["Values"]["OutConn"] = conn
json.dump(s, open(d + "/local.settings.json", "w"))
f = json.load(open(d + "/cnt/function.json"))
f["bindings"][0]["consumerGroup"] = "g-held"
f["bindings"].append({"type": "eventHub", "direction": "out", "name": "out",
                      "eventHubName": out, "connection": "OutConn"})
json.dump(f, open(d + "/cnt/function.json", "w"))
PY
sed -i 's|^  seen:write(table.concat(lines))|  context.bindings.out:send("x")\n  seen:write(table.concat(lines))|' "$T/held/cnt/handler.lua"
timeout $((60 * SLOW)) "$HUBFN" start "$T/held" --exit-on-eof --log-format text \
    >/dev/null 2>"$T/held.log"
rc=$?
check output-refused-exit-1 "exit $rc: $(grep -m1 ' error ' "$T/held.log")" [ "$rc" = 1 ]
check output-refused-says-why "$(grep -m1 ' error ' "$T/held.log")" \
    grep -q "policy stnoout$$ may not send to hub $out" "$T/held.log"
state_dump "$st3" "$T/held.dump1"
check output-refused-no-state-written "$(lines "$T/held.dump1") state records" [ ! -s "$T/held.dump1" ]
python3 - "$T/held" "$HF_KAFKA_PLAIN" <<'PY'
import json, sys
d, conn = sys.argv[1:3]
s = json.load(open(d + "/local.settings.json")); s["Values"]["OutConn"] = conn
json.dump(s, open(d + "/local.settings.json", "w"))
PY
: >"$T/held/seen.out"
timeout $((60 * SLOW)) "$HUBFN" start "$T/held" --exit-on-eof 2>"$T/held2.log"
rc=$?
check output-delivered-run "exit $rc: $(tail -2 "$T/held2.log")" [ "$rc" = 0 ]
state_dump "$st3" "$T/held.dump2"
if why=$(state_verify "$T/events" "$in" "$T/held.dump2" exact); then
    ok output-refused-then-every-event-counted-once
else
    fail output-refused-then-every-event-counted-once "$why"
fi
