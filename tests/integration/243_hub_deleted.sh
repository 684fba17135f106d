#!/usr/bin/env bash
# The input hub is deleted while hubfn consumes it: hubfn reports it and, on SIGTERM, still
# exits (librdkafka's client may never finish shutting down after such a deletion; the
# host stops waiting for it once the checkpoints are committed).
. "$(dirname "$0")/lib.sh"
need_kafka
hub=gone-$$
topic "$hub" 4 || fail topic "$(tail -2 "$T/topic.err")"
gen_events "$T/events" 2000 16
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events"
mkapp "$T/app" "$HF_KAFKA_PLAIN" "$hub" many
REC_SLOW=0.05 start_bg "$T/run.log" "$HUBFN" start "$T/app" --workers 2
pid=$BG
wait_for 30 grep -q 'assigned partitions \[0' "$T/run.log"
wait_for 30 test -s "$T/app/rec.out"
"$TOP/tests/kafka/broker.sh" tool org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$HF_KAFKA_PLAIN" --delete --topic "$hub" >"$T/delete.out" 2>&1
check deleted "$(tail -2 "$T/delete.out")" [ $? = 0 ]
wait_for 30 grep -q "Unknown topic or partition\|does not exist" "$T/run.log"
check reported "$(tail -3 "$T/run.log")" grep -q "Unknown topic or partition\|does not exist" "$T/run.log"
kill -TERM "$pid"
# wait up to 90 s for it to leave (it must not hang)
for _ in $(seq $((450 * SLOW))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$pid" 2>/dev/null; then
    fail exits-after-sigterm "still running 90 s after SIGTERM: $(tail -2 "$T/run.log")"
    kill -9 "$pid"
else
    ok exits-after-sigterm
fi
