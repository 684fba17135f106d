#!/usr/bin/env bash
# Bad input to capture, checkpoints, run --captured and send --captured: one clear line
# each (what, where, what to do) and the documented exit code; wrong credentials name the
# namespace and policy; no secret ever printed. A Listen-only policy may capture.
. "$(dirname "$0")/lib.sh"
need_kafka

hub=caperr-$$
topic "$hub" 2
printf 'k\t{"id":1}\nk\t{"id":2}\n' >"$T/ev"
produce "$HF_KAFKA_PLAIN" "$hub" "$T/ev"
wrongkey=WrongKey0123456789abcdefXYZ=
wrong=${HF_EH_CONN/SharedAccessKey=$HF_EH_KEY/SharedAccessKey=$wrongkey}

# run NAME CMD...: exit code in RC, stderr in $T/NAME.err, stdout in $T/NAME.out
run() {
    local name=$1; shift
    timeout $((60 * SLOW)) "$@" >"$T/$name.out" 2>"$T/$name.err"
    RC=$?
}
# one NAME CODE PATTERN: exit CODE and exactly one stderr line, matching PATTERN
one() {
    local name=$1 code=$2 pat=$3
    check "$name" "exit $RC: $(cat "$T/$name.err")" bash -c \
        "[ $RC = $code ] && [ \$(wc -l <'$T/$name.err') = 1 ] && grep -q -- \"\$1\" '$T/$name.err'" _ "$pat"
}

run bad-time "$HUBFN" capture "$HF_KAFKA_PLAIN" "$hub" --from-time yesterday
one bad-time 2 '^hubfn capture: --from-time needs an ISO 8601 date-time such as 2026-05-02T08:15:00Z, not "yesterday" (see `hubfn help capture`)$'
run bad-time-day "$HUBFN" capture "$HF_KAFKA_PLAIN" "$hub" --from-time 2026-02-30T00:00:00Z
one bad-time-day 2 'not "2026-02-30T00:00:00Z"'
run two-starts "$HUBFN" capture "$HF_KAFKA_PLAIN" "$hub" --from-time 2026-01-01 --from-offset 3
one two-starts 2 '^hubfn capture: --from-offset and --from-time cannot be combined: give one start'
run no-partition "$HUBFN" capture "$HF_KAFKA_PLAIN" "$hub" --partition 7
one no-partition 2 "^hubfn capture: hub $hub has partitions 0-1; there is no partition 7$"
run no-hub "$HUBFN" capture "$HF_KAFKA_PLAIN" "nohub-$$"
one no-hub 1 "^hubfn capture: hub nohub-$$ does not exist in Kafka at $HF_KAFKA_PLAIN (check the name, or create the hub)$"
run bad-conn "$HUBFN" capture NoSuchSetting "$hub"
one bad-conn 2 '^hubfn capture: CONNECTION "NoSuchSetting" is neither an app setting'
run out-dir "$HUBFN" capture "$HF_KAFKA_PLAIN" "$hub" --output "$T/no/such/dir/x"
one out-dir 2 "^hubfn capture: --output $T/no/such/dir/x: No such file or directory$"

# Event Hubs credentials
run wrong-key "$HUBFN" capture "$wrong" "$hub"
one wrong-key 1 '^hubfn capture: Event Hubs namespace localhost refused policy RootManageSharedAccessKey: authentication failed'
lconn=$("$TOP/tests/kafka/broker.sh" policy "capreader-$$" ListenKey0123456789abcdefXYZ= listen --topic "$hub")
run listen-policy "$HUBFN" capture "$lconn" "$hub"
check listen-policy-may-capture "exit $RC: $(cat "$T/listen-policy.err")" [ "$RC" = 0 -a "$(lines "$T/listen-policy.out")" = 2 ]
run entity-path-mismatch "$HUBFN" capture "$HF_EH_CONN;EntityPath=other" "$hub"
one entity-path-mismatch 2 "^hubfn capture: the connection is for hub other (EntityPath) but HUB is $hub"

# checkpoints
mkapp "$T/app" "$HF_KAFKA_PLAIN" "$hub" many
ck() { run "$1" "$HUBFN" checkpoints "$T/app" rec "${@:2}"; }
ck set-bad --set yesterday
one set-bad 2 '^hubfn checkpoints: --set needs earliest, latest, an ISO 8601 date-time or PARTITION:OFFSET\[,PARTITION:OFFSET...\], not "yesterday"'
ck set-bad-po --set 0:x
one set-bad-po 2 'not "0:x"'
ck set-bad-po2 --set 0:1,
one set-bad-po2 2 'not "0:1,"'
ck set-unknown-partition --set 9:0
one set-unknown-partition 2 "^hubfn checkpoints: --set 9:0: hub $hub has partitions 0-1; there is no partition 9$"
ck set-past-end --set 0:50
one set-past-end 2 '^hubfn checkpoints: --set 0:50: partition 0 holds '
ck set-twice --set 1:0,1:0
one set-twice 2 '^hubfn checkpoints: --set: partition 1 is given twice$'
ck dry-alone --dry-run
one dry-alone 2 '^hubfn checkpoints: --dry-run goes with --set'
run no-function "$HUBFN" checkpoints "$T/app" nope
one no-function 2 "^hubfn checkpoints: $T/app/nope: no function nope in app $T/app"
run no-args "$HUBFN" checkpoints
one no-args 2 '^hubfn checkpoints: missing FUNCTION'
mkapp "$T/eh" "$wrong" "$hub" many
run ck-wrong-key "$HUBFN" checkpoints "$T/eh/rec"
one ck-wrong-key 1 '^hubfn checkpoints: function rec: Event Hubs namespace localhost refused policy RootManageSharedAccessKey: authentication failed (check SharedAccessKeyName and SharedAccessKey in setting Conn)$'
run ck-wrong-key-set "$HUBFN" checkpoints "$T/eh/rec" --set earliest
one ck-wrong-key-set 1 'authentication failed'

# run --captured and send --captured on lines that are no capture records
printf '{"partition":0,"offset":1,"body":"ok"}\n{"id":2}\n\n{"partition":0,"offset":"3","body":""}\n' >"$T/bad.jsonl"
run run-bad "$HUBFN" run "$T/app/rec" --captured "$T/bad.jsonl" --log-format text
check run-bad-records-exit-2 "exit $RC: $(cat "$T/run-bad.err")" [ "$RC" = 2 ]
check run-bad-records-named "$(cat "$T/run-bad.err")" bash -c '
    grep -q "bad.jsonl:2: column 1: the record has no \"partition\" (not a capture record: skipped)" "$1" &&
    grep -q "bad.jsonl:4: column 25: \"offset\" must be a whole number from 0" "$1" &&
    grep -q "2 lines were not capture records" "$1"' _ "$T/run-bad.err"
check run-bad-runs-the-rest "$(cat "$T/app/rec.out" 2>&1)" [ "$(cat "$T/app/rec.out")" = "0 1 ok" ]
run run-missing "$HUBFN" run "$T/app/rec" --captured "$T/nothere.jsonl"
check run-missing-file "exit $RC: $(cat "$T/run-missing.err")" bash -c "[ $RC = 2 ] && grep -q -- '--captured $T/nothere.jsonl: No such file or directory' '$T/run-missing.err'"
run send-bad "$HUBFN" send "$HF_KAFKA_PLAIN" "$hub" --captured "$T/bad.jsonl"
check send-bad-records "exit $RC: $(cat "$T/send-bad.err")" bash -c "[ $RC = 2 ] &&
    grep -q '^hubfn send: $T/bad.jsonl:2: column 1: the record has no' '$T/send-bad.err' &&
    grep -q '^hubfn send: nothing sent: 2 problems in $T/bad.jsonl' '$T/send-bad.err'"
run send-key "$HUBFN" send "$HF_KAFKA_PLAIN" "$hub" --captured "$T/bad.jsonl" --key id
one send-key 2 '^hubfn send: --key does not apply to --captured: the records hold their keys'
run send-by-key "$HUBFN" send "$HF_KAFKA_PLAIN" "$hub" "$T/ev" --by-key
one send-by-key 2 '^hubfn send: --by-key applies to --captured only'
run send-wrong-key "$HUBFN" send "$wrong" "$hub" --captured "$T/listen-policy.out"
check send-captured-wrong-key "exit $RC: $(cat "$T/send-wrong-key.err")" bash -c "[ $RC = 1 ] &&
    grep -q '^hubfn send: Event Hubs namespace localhost refused policy RootManageSharedAccessKey: authentication failed' '$T/send-wrong-key.err'"

# No secret in anything printed.
check no-secret-printed "$(grep -l -e "$HF_EH_KEY" -e "$wrongkey" -e ListenKey0123 "$T"/*.err "$T"/*.out 2>/dev/null)" \
    bash -c "! grep -q -e '$HF_EH_KEY' -e '$wrongkey' -e ListenKey0123 '$T'/*.err '$T'/*.out"
