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
    # A short session lets the restarted instance take over the killed one's partitions
    # without waiting 30 s for the dead member to time out.
    mkapp "$T/$name" "$HF_KAFKA_PLAIN" "$hub" many
    python3 - "$T/$name/host.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
h["extensions"]["kafka"] = {"session.timeout.ms": "6000"}
json.dump(h, open(sys.argv[1], "w"))
PY
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
# Duplicates come only from batches not yet checkpointed: per partition, the events seen
# twice are exactly the tail of what the killed run processed, from its last checkpoint on.
check kill-duplicates-only-uncheckpointed-tail "$STATS" python3 - "$T/kill.rec1" "$T/kill/rec.out" <<'PY'
import sys
r1 = [l.split() for l in open(sys.argv[1])]
r2 = [l.split() for l in open(sys.argv[2])]
for p in {x[0] for x in r1}:
    o1 = sorted(int(x[1]) for x in r1 if x[0] == p)
    o2 = {int(x[1]) for x in r2 if x[0] == p}
    again = [o for o in o1 if o in o2]
    if again:
        # the replayed offsets are one contiguous run reaching the end of run 1's progress
        assert again == list(range(again[0], o1[-1] + 1)), (p, again[:5], o1[-1])
    # and run 2 started right where run 1's checkpoint was: nothing before it repeats
    assert not o2 or min(o2) == (again[0] if again else o1[-1] + 1), (p, min(o2))
PY

run_case term TERM
check term-duplicates-nothing "$STATS" [ "$dups" = 0 ]
