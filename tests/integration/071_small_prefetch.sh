#!/usr/bin/env bash
# prefetchCount 0, 1 and 2, on the embedded broker's engine (librdkafka's mock cluster, run by
# tests/tools/mockbroker) and on Apache Kafka: the host still reaches the end of the hub,
# every event once. A partition whose queue held prefetchCount events has its fetching
# restarted when the queue drains; after a restart the queue holds what is not an event (a
# fetch the restart made stale, librdkafka's markers) and it counts in the queue's length,
# so with prefetchCount 1 each restart used to start the next, for ever (librdkafka's main
# thread and the host's loop spinning, nothing fetched), on both brokers. With these settings
# the fetch budget (its 4 MB floor, against the hub's 14 MB) also pauses drained partitions
# and resumes them in turn, which must lose, repeat and reorder nothing either.
. "$(dirname "$0")/lib.sh"
need_kafka
MOCK=$TOP/$BUILD/tools/mockbroker
N=20000

mkfifo "$T/cmd"
"$MOCK" --topic pf0:32 --topic pf1:32 --topic pf2:32 <"$T/cmd" >"$T/mock.out" 2>"$T/mock.err" &
PIDS+=("$!")
exec 3>"$T/cmd"
wait_for 10 grep -q bootstrap "$T/mock.out"
mock=$(awk '/^bootstrap/ { print $2 }' "$T/mock.out")

# events of about 700 bytes, as AEP payloads are: each partition takes several fetches
gen_events "$T/small" $N 256
pad=$(printf '%0650d' 0)
sed "s/}\$/,\"pad\":\"$pad\"}/" "$T/small" >"$T/events"
for broker in mock kafka; do
    for pf in 0 1 2; do
        if [ $broker = mock ]; then addr=$mock hub=pf$pf; else
            addr=$HF_KAFKA_PLAIN hub=pf$pf-$$; topic "$hub" 32; fi
        # record batches of up to 1 MB: a partition's fetch brings far more than its queue's
        # prefetchCount, and its next fetch is often in flight when fetching restarts
        kcat -P -b "$addr" -t "$hub" -K $'\t' -z none -X linger.ms=5 -X batch.size=1048576 \
            -l "$T/events" 2>>"$T/kcat.err"
        app=$T/$broker-$pf
        mkapp "$app" "$addr" "$hub" many "\"prefetchCount\": $pf"
        timeout $((60 * SLOW)) "$HUBFN" start "$app" --exit-on-eof 2>"$app.log"
        rc=$?
        stats=$(python3 "$TOP/tests/integration/verify.py" $N "$app/rec.out")
        check "$broker-prefetch-count-$pf-reaches-the-end" "exit $rc, $stats" \
            [ "$rc:$stats" = "0:seen=$N unique=$N missing=0 dups=0 disorder=0" ]
    done
done
