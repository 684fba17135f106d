#!/usr/bin/env bash
# Crash and stop mid-run on a real broker, then start again:
# SIGKILL loses nothing (duplicates only from batches not yet checkpointed);
# SIGTERM drains, exits 0, and neither loses nor duplicates anything.
. "$(dirname "$0")/lib.sh"
need_kafka
N=20000

run_case() {  # run_case NAME SIGNAL
    local name=$1 sig=$2 hub=$1-$$
    topic "$hub" 4
    gen_events "$T/$name.events" $N 64
    produce "$HF_KAFKA_PLAIN" "$hub" "$T/$name.events"
    mkapp "$T/$name" "$HF_KAFKA_PLAIN" "$hub" many
    REC_SLOW=0.01 start_bg "$T/$name.run1.log" "$HUBFN" start "$T/$name" --workers 2
    local pid=$BG
    wait_for 60 bash -c "[ \$(cat '$T/$name/rec.out' 2>/dev/null | wc -l) -ge 4000 ]"
    kill -"$sig" "$pid"
    wait "$pid"
    local rc=$?
    mv "$T/$name/rec.out" "$T/$name.rec1"
    local before=$(lines "$T/$name.rec1")
    if [ "$sig" = TERM ]; then
        check "$name-exits-0" "exit $rc after SIGTERM: $(tail -2 "$T/$name.run1.log")" [ "$rc" = 0 ]
    fi
    check "$name-was-mid-run" "killed after $before of $N events" [ "$before" -lt $N ]
    timeout $((90 * SLOW)) "$HUBFN" start "$T/$name" --exit-on-eof --workers 2 2>"$T/$name.run2.log"
    rc=$?
    check "$name-second-run-exits-0" "exit $rc: $(tail -2 "$T/$name.run2.log")" [ "$rc" = 0 ]
    STATS=$(python3 "$TOP/tests/integration/verify.py" $N "$T/$name.rec1" "$T/$name/rec.out")
    eval "${STATS// /;}"
    check "$name-loses-nothing" "$STATS" [ "$missing" = 0 ]
    check "$name-keeps-order" "$STATS" [ "$disorder" = 0 ]
}

run_case kill KILL
# At most one uncheckpointed batch per partition (4 x maxEventBatchSize 50) plus one whose
# checkpoint was in flight.
check kill-duplicates-bounded "$STATS" [ "$dups" -le 400 ]

run_case term TERM
check term-duplicates-nothing "$STATS" [ "$dups" = 0 ]
