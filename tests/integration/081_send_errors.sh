#!/usr/bin/env bash
# hubfn send refusals on the real broker: an oversize or invalid event is named by its line
# and nothing is sent (exit 2); a policy with only Listen rights, a wrong key and a missing
# hub each fail (exit 1) with one clear line; no secret is ever printed.
. "$(dirname "$0")/lib.sh"
need_kafka

hub=senderr-$$
topic "$hub" 2
count() { kcat -C -b "$HF_KAFKA_PLAIN" -t "$hub" -e -q 2>/dev/null | wc -l; }

# run NAME ARGS...: hubfn send with ARGS; exit code in RC, stderr in $T/NAME.log
run() {
    local name=$1; shift
    timeout $((90 * SLOW)) "$HUBFN" send "$@" 2>"$T/$name.log" >"$T/$name.out"
    RC=$?
}
# errors NAME: the "hubfn send:" lines of a run's stderr
errors() { grep -c '^hubfn send:' "$T/$1.log"; }

# An event over the limit, by line (JSON lines) and by element (document): nothing sent.
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
ok = {"type": "track", "userId": "u1", "properties": {"n": 1}}
big = {"type": "track", "userId": "u2", "properties": {"pad": "x" * 1100000}}
with open(t + "/big.jsonl", "w") as f:
    for ev in (ok, ok, big, ok):
        f.write(json.dumps(ev) + "\n")
with open(t + "/big.json", "w") as f:
    json.dump({"events": [ok, big, ok]}, f, indent=1)
PY
run big-lines "$HF_EH_CONN" "$hub" "$T/big.jsonl" --key userId,anonymousId
check oversize-line-exit-2 "exit $RC: $(cat "$T/big-lines.log")" [ "$RC" = 2 ]
check oversize-line-named "$(cat "$T/big-lines.log")" grep -q \
    "^hubfn send: $T/big.jsonl:3: the event is 11000[0-9]* bytes with its key, over the limit of 1000000 bytes" \
    "$T/big-lines.log"
check oversize-nothing-sent "$(cat "$T/big-lines.log")" grep -q "nothing sent" "$T/big-lines.log"
run big-doc "$HF_EH_CONN" "$hub" "$T/big.json"
check oversize-element-named "exit $RC: $(cat "$T/big-doc.log")" grep -q \
    "^hubfn send: $T/big.json:[0-9]*: events\[1\] is 11000[0-9]* bytes" "$T/big-doc.log"
run big-raised "$HF_KAFKA_PLAIN" "$hub" "$T/big.jsonl" --max-event-bytes 40
check max-event-bytes-option "exit $RC: $(head -3 "$T/big-raised.log")" \
    [ "$RC" = 2 -a "$(grep -c 'over the limit of 40 bytes' "$T/big-raised.log")" = 4 ]

# Invalid JSON lines: every bad line named, nothing sent.
printf '{"userId":"a"}\n{"userId":"b",}\n{"userId":"c"}\n{"userId":"d\n' >"$T/bad.jsonl"
run bad-json "$HF_EH_CONN" "$hub" "$T/bad.jsonl"
check invalid-json-lines-named "exit $RC: $(cat "$T/bad-json.log")" bash -c \
    "[ $RC = 2 ] && grep -q 'bad.jsonl:2:15: invalid JSON' '$T/bad-json.log' &&
     grep -q 'bad.jsonl:4:11: invalid JSON: unterminated string' '$T/bad-json.log'"
check refused-input-sends-nothing "$(count) events in the hub" [ "$(count)" = 0 ]

# A policy with only Listen rights on the hub (the error RudderStack users hit).
printf '{"userId":"a"}\n{"userId":"b"}\n' >"$T/ok.jsonl"
lkey=ListenKey0123456789abcdefXYZ=
lconn=$("$TOP/tests/kafka/broker.sh" policy "reader-$$" "$lkey" listen --topic "$hub")
run listen "$lconn" "$hub" "$T/ok.jsonl"
check listen-only-exit-1 "exit $RC: $(cat "$T/listen.log")" [ "$RC" = 1 ]
check listen-only-one-line "$(cat "$T/listen.log")" [ "$(errors listen)" = 1 ]
check listen-only-says-send-rights "$(cat "$T/listen.log")" grep -q \
    "^hubfn send: policy reader-$$ may not send to hub $hub in Event Hubs namespace localhost: it needs Send rights on that hub" \
    "$T/listen.log"
check listen-only-summary "$(cat "$T/listen.log")" grep -q "^sent 0 events to $hub .* 2 failed" \
    "$T/listen.log"

# A policy with Send rights works.
skey=SendKey0123456789abcdefXYZ=
sconn=$("$TOP/tests/kafka/broker.sh" policy "writer-$$" "$skey" send --topic "$hub")
run send-policy "$sconn" "$hub" "$T/ok.jsonl" --key userId
check send-policy-works "exit $RC: $(cat "$T/send-policy.log")" [ "$RC" = 0 ]
check send-policy-delivers "$(count) events in the hub" [ "$(count)" = 2 ]

# A wrong key: one line naming the namespace and the policy.
wrong=${HF_EH_CONN/SharedAccessKey=$HF_EH_KEY/SharedAccessKey=WrongKey0123456789abcdef=}
run wrong-key "$wrong" "$hub" "$T/ok.jsonl"
check wrong-key-exit-1 "exit $RC: $(cat "$T/wrong-key.log")" [ "$RC" = 1 ]
check wrong-key-one-line "$(cat "$T/wrong-key.log")" [ "$(errors wrong-key)" = 1 ]
check wrong-key-names-namespace-and-policy "$(cat "$T/wrong-key.log")" grep -q \
    "^hubfn send: Event Hubs namespace localhost refused policy RootManageSharedAccessKey: authentication failed" \
    "$T/wrong-key.log"

# A hub that does not exist.
run no-hub "$HF_EH_CONN" "nohub-$$" "$T/ok.jsonl"
check missing-hub-exit-1 "exit $RC: $(cat "$T/no-hub.log")" [ "$RC" = 1 ]
check missing-hub-one-line "$(cat "$T/no-hub.log")" bash -c \
    "[ $(errors no-hub) = 1 ] && grep -q 'hub nohub-$$ does not exist in Event Hubs namespace localhost' '$T/no-hub.log'"

# "embedded" with no embedded broker on its port: one line, exit 1.
eport=$(free_port)
HUBFN_EMBEDDED_PORT=$eport run embedded embedded "$hub" "$T/ok.jsonl"
check embedded-not-listening "exit $RC: $(cat "$T/embedded.log")" bash -c \
    "[ $RC = 1 ] && [ $(errors embedded) = 1 ] && grep -q 'no embedded broker is listening on 127.0.0.1:$eport (start one with hubfn start --embedded)' '$T/embedded.log'"

# A hub-level policy for another hub; a setting that does not exist: exit 2.
run other-hub "$lconn" "other-$$" "$T/ok.jsonl"
check entity-path-mismatch "exit $RC: $(cat "$T/other-hub.log")" bash -c \
    "[ $RC = 2 ] && grep -q 'the connection is for hub $hub (EntityPath) but HUB is other-$$' '$T/other-hub.log'"
(cd "$T" && timeout 20 "$HUBFN" send NoSuchSetting "$hub" ok.jsonl 2>"$T/nosetting.log")
RC=$?
check missing-setting "exit $RC: $(cat "$T/nosetting.log")" bash -c \
    "[ $RC = 2 ] && grep -q 'CONNECTION \"NoSuchSetting\" is neither an app setting' '$T/nosetting.log'"

# No stdout, and no secret anywhere.
check stdout-empty "$(cat "$T"/*.out)" [ -z "$(cat "$T"/*.out)" ]
check no-secret-printed "a key appears in the output" bash -c \
    "! cat '$T'/*.log | grep -qF -e '$HF_EH_KEY' -e '$lkey' -e '$skey' -e WrongKey0123456789abcdef"
