#!/usr/bin/env bash
# A rebalance while batches are in flight: a second instance joins the group while the first
# is in the middle of slow batches. The first finishes and checkpoints its in-flight batches
# before letting the partitions go, so together they process every event exactly once.
. "$(dirname "$0")/lib.sh"
need_kafka
N=4000
hub=rebal-$$
topic "$hub" 4
gen_events "$T/events" $N 64
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events"
mkapp "$T/app" "$HF_KAFKA_PLAIN" "$hub" many
export REC_SLOW=0.2
start_bg "$T/a.log" "$HUBFN" start "$T/app" --workers 2 --log-format text
a=$BG
wait_for 60 bash -c "[ \$(cat '$T/app/rec.out' 2>/dev/null | wc -l) -ge 300 ]"
start_bg "$T/b.log" "$HUBFN" start "$T/app" --workers 2 --log-format text
b=$BG
wait_for 60 grep -q "assigned partitions \[[0-9]" "$T/b.log"
wait_for 120 bash -c "[ \$(cat '$T/app/rec.out' 2>/dev/null | wc -l) -ge $N ]"
sleep 1
kill -TERM "$a" "$b"
wait "$a"; ra=$?
wait "$b"; rb=$?
check both-exit-0 "exits $ra $rb" [ "$ra" = 0 -a "$rb" = 0 ]
check rebalanced-mid-batch "instance A never gave partitions up" grep -q "revoked partitions \[[0-9]" "$T/a.log"
stats=$(python3 "$TOP/tests/integration/verify.py" $N "$T/app/rec.out")
eval "${stats// /;}"
check nothing-lost "$stats" [ "$missing" = 0 ]
check nothing-repeated "$stats" [ "$dups" = 0 ]
