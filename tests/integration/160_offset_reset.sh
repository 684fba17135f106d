#!/usr/bin/env bash
# A checkpoint that points past the end of its hub (the hub was recreated, or its events
# expired): hubfn says so in one warning per partition and resumes from the oldest event
# still in the hub (initialOffsetOptions fromStart), losing nothing that is there.
. "$(dirname "$0")/lib.sh"
need_kafka

hub=reset-$$
topic "$hub" 2
gen_events "$T/events" 100 8
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events"
mkapp "$T/app" "$HF_KAFKA_PLAIN" "$hub" many
for p in 0 1; do
    "$TOP/$BUILD/tools/commit_offset" "$HF_KAFKA_PLAIN" "g-$hub" "$hub" $p 5000 2>>"$T/commit.err"
done
check stale-checkpoint-committed "$(cat "$T/commit.err")" [ ! -s "$T/commit.err" ]
timeout $((60 * SLOW)) "$HUBFN" start "$T/app" --exit-on-eof 2>"$T/run.log"
rc=$?
check exits-0 "exit $rc: $(tail -2 "$T/run.log")" [ "$rc" = 0 ]
warnings=$(grep -c "is no longer in the hub" "$T/run.log")
check warns-per-partition "$warnings warnings: $(grep -m1 'no longer' "$T/run.log")" [ "$warnings" = 2 ]
stats=$(python3 "$TOP/tests/integration/verify.py" 100 "$T/app/rec.out")
check resumes-from-oldest "$stats" [ "$stats" = "seen=100 unique=100 missing=0 dups=0 disorder=0" ]
