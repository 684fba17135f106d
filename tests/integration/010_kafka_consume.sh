#!/usr/bin/env bash
# A hub on a real Kafka broker (host:port connection): every event reaches the handler once,
# in order per partition; a second run of the same group gets nothing (checkpoints held).
. "$(dirname "$0")/lib.sh"
need_kafka

hub=consume-$$
topic "$hub" 4
gen_events "$T/events" 3000 32
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events"

mkapp "$T/app" "$HF_KAFKA_PLAIN" "$hub" many
timeout $((60 * SLOW)) "$HUBFN" start "$T/app" --exit-on-eof --workers 2 2>"$T/run1.log"
rc=$?
check first-run-exits-0 "exit $rc: $(tail -3 "$T/run1.log")" [ "$rc" = 0 ]
cp "$T/app/rec.out" "$T/run1.rec" 2>/dev/null || : >"$T/run1.rec"
stats=$(python3 "$TOP/tests/integration/verify.py" 3000 "$T/run1.rec")
check every-event-once "$stats" [ "$stats" = "seen=3000 unique=3000 missing=0 dups=0 disorder=0" ]

biggest=$(sort -n "$T/app/batches.out" | tail -1)
check batches-respect-max "largest batch $biggest, maxEventBatchSize 50" [ "${biggest:-0}" -le 50 ]
check batches-are-batched "largest batch $biggest: events were not batched" [ "${biggest:-0}" -gt 1 ]

rm -f "$T/app/rec.out"
timeout $((60 * SLOW)) "$HUBFN" start "$T/app" --exit-on-eof 2>"$T/run2.log"
rc=$?
check second-run-exits-0 "exit $rc" [ "$rc" = 0 ]
check second-run-gets-nothing "second run saw $(lines "$T/app/rec.out") events" \
    [ "$(lines "$T/app/rec.out")" = 0 ]
