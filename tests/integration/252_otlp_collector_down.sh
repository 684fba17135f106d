#!/usr/bin/env bash
# A collector that is down (nothing listens) or stalled (takes the request, never answers)
# costs no event and no unbounded memory: every event is handled once and checkpointed,
# every span is accounted for (exported + dropped + waiting = invocations), the export
# queue never holds more than its cap, the resident memory stays flat while tens of
# thousands of spans are dropped, and hubfn says so in a few lines, not one per span.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"
need_kafka

N=20000
QUEUE=200
hub=otlp-down-$$
topic "$hub" 2
gen_events "$T/events" $N 16
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
prom() { python3 "$TOP/tests/integration/prom.py" "$T/metrics" get "$@"; }

# run NAME ENDPOINT: host the app (cardinality one: a span per event) until every event is
# processed, scraping as it goes; leaves $T/NAME.samples ("queue rss processed" lines)
run() {
    local name=$1 endpoint=$2
    local app=$T/$name
    mkapp "$app" "$HF_KAFKA_PLAIN" "$hub" one
    sed -i "s/\"g-$hub\"/\"g-$name-$$\"/" "$app/rec/function.json"
    # REC_SLOW: a little CPU per event, so that the scrapes see the run, not just its end.
    # Under ASan, freed memory waits in a quarantine (256 MB by default): keep it small so
    # that the resident memory says what the process holds.
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4" REC_SLOW=0.0005 OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint OTEL_BSP_MAX_QUEUE_SIZE=$QUEUE \
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE=50 OTEL_BSP_SCHEDULE_DELAY=100 OTEL_EXPORTER_OTLP_TIMEOUT=500 \
        start_bg "$T/$name.log" "$HUBFN" start "$app" --http-port 0 --workers 2
    local pid=$BG
    wait_for 20 grep -q "on http://" "$T/$name.log"
    local port; port=$(sed -n 's|.*on http://0\.0\.0\.0:\([0-9]*\).*|\1|p' "$T/$name.log" | head -1)
    : >"$T/$name.samples"
    sample() {
        curl -s --max-time 5 "http://127.0.0.1:$port/metrics" >"$T/metrics" || return 1
        echo "$(prom hubfn_trace_export_queue_spans) $(prom process_resident_memory_bytes)" \
             "$(prom hubfn_events_processed_total)" >>"$T/$name.samples"
        [ "$(prom hubfn_events_processed_total)" = $N ] && [ "$(prom hubfn_checkpoint_lag_events)" = 0 ]
    }
    wait_for $((120 / SLOW + 60)) sample
    cp "$T/metrics" "$T/$name.metrics"
    local dropped queued exported
    dropped=$(prom hubfn_trace_spans_dropped_total)
    queued=$(prom hubfn_trace_export_queue_spans)
    exported=$(prom hubfn_trace_spans_exported_total)
    check "$name-processed-all" "$(tail -1 "$T/$name.samples")" [ "$(prom hubfn_events_processed_total)" = $N ]
    check "$name-checkpointed-all" "checkpoint lag $(prom hubfn_checkpoint_lag_events)" \
        [ "$(prom hubfn_checkpoint_lag_events)" = 0 ]
    check "$name-every-span-accounted" "exported $exported + dropped $dropped + queued $queued != $N" \
        [ $((exported + dropped + queued)) = $N ]
    check "$name-spans-dropped" "dropped $dropped" [ "$dropped" -ge $((N - QUEUE - 50)) ]
    check "$name-none-exported" "exported $exported" [ "$exported" = 0 ]
    local maxq; maxq=$(awk '$1 > m { m = $1 } END { print m + 0 }' "$T/$name.samples")
    check "$name-queue-bounded" "queue reached $maxq" [ "$maxq" -le $((QUEUE + 50)) ]
    kill -TERM "$pid"
    wait "$pid"
    local rc=$?
    check "$name-exits-0" "exit $rc: $(tail -2 "$T/$name.log")" [ "$rc" = 0 ]
    local seen; seen=$(awk '{ print $3 }' "$app/rec.out" | sort -u | wc -l)
    check "$name-each-event-once" "$(lines "$app/rec.out") lines, $seen ids" \
        [ "$(lines "$app/rec.out")" = $N ] && [ "$seen" = $N ]
    local warns; warns=$(grep -c "OTLP export to" "$T/$name.log")
    check "$name-few-warnings" "$warns lines about the export" [ "$warns" -ge 1 ] && [ "$warns" -le 5 ]
    # Memory: the last samples against the first ones taken once events flowed. Dropping
    # ~20000 spans of about 1 KB each must not show; a queue without a cap would hold ~20 MB.
    check "$name-memory-flat" "rss samples: $(awk '{ print $2 }' "$T/$name.samples" | tr '\n' ' ')" \
        awk -v limit=$((12 * 1024 * 1024 * SLOW)) '
            $3 > 2000 && !base { base = $2 } base && $2 - base > grow { grow = $2 - base }
            END { exit !(base && grow < limit) }' "$T/$name.samples"
}

# down: nothing listens there (connection refused)
run down "http://127.0.0.1:$(free_port)"
check down-says-why "$(grep -m1 'OTLP export to' "$T/down.log")" \
    grep -q "spans dropped (no answer: " "$T/down.log"

# stalled: the collector takes each request and never answers (past the 500 ms timeout)
python3 "$TOP/tests/tools/otlpcollector.py" --log "$T/stalled.jsonl" >"$T/col.out" 2>"$T/col.err" &
PIDS+=($!)
wait_for 10 grep -q listening "$T/col.out"
col=$(sed -n 's/^listening //p' "$T/col.out")
curl -s -X POST --data '{"delay_ms": 60000}' "$col/_control/mode" >/dev/null
run stalled "$col"
reqs=$(curl -s --max-time 5 "$col/_control/stats" | json_get - requests)
check stalled-was-tried "$reqs requests" [ "$reqs" -ge 3 ]
check stalled-says-timeout "$(grep -m1 'OTLP export to' "$T/stalled.log")" \
    grep -q "no answer: timed out" "$T/stalled.log"
