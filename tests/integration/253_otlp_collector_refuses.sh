#!/usr/bin/env bash
# A collector that answers 503 (with Retry-After) gets each request three times (the first
# try and two retries), then the request's spans are dropped and counted; no event is lost.
# Once it answers 200 again, hubfn says so and the spans of later invocations arrive; a
# partial success (rejectedSpans) is counted as dropped with reason "rejected", exactly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"
need_kafka

hub=otlp-503-$$
topic "$hub" 2
python3 "$TOP/tests/tools/otlpcollector.py" --log "$T/col.jsonl" >"$T/col.out" 2>"$T/col.err" &
PIDS+=($!)
wait_for 10 grep -q listening "$T/col.out"
col=$(sed -n 's/^listening //p' "$T/col.out")
mode() { curl -s -X POST --data "$1" "$col/_control/mode" >/dev/null; }
stat() { curl -s --max-time 5 "$col/_control/stats" | json_get - "$1"; }
prom() { python3 "$TOP/tests/integration/prom.py" "$T/metrics" get "$@"; }
mode '{"status": 503, "retry_after": 0}'

app=$T/app
mkapp "$app" "$HF_KAFKA_PLAIN" "$hub" one
OTEL_EXPORTER_OTLP_ENDPOINT=$col OTEL_BSP_MAX_EXPORT_BATCH_SIZE=50 \
    OTEL_BSP_SCHEDULE_DELAY=100 start_bg "$T/run.log" "$HUBFN" start "$app" --http-port 0
pid=$BG
wait_for 20 grep -q "on http://" "$T/run.log"
port=$(sed -n 's|.*on http://0\.0\.0\.0:\([0-9]*\).*|\1|p' "$T/run.log" | head -1)
# done N: N events processed and no span waiting (none queued, none being sent)
done_at() {
    curl -s --max-time 5 "http://127.0.0.1:$port/metrics" >"$T/metrics" &&
    [ "$(prom hubfn_events_processed_total)" = "$1" ] &&
    [ "$(prom hubfn_trace_export_queue_spans)" = 0 ]
}

gen_events "$T/e1" 1000 16
produce "$HF_KAFKA_PLAIN" "$hub" "$T/e1"
wait_for 60 done_at 1000
failed=$(prom hubfn_trace_spans_dropped_total reason=export-failed)
full=$(prom hubfn_trace_spans_dropped_total reason=queue-full)
r503=$(stat by_status.503)
check refused-all-spans "export-failed $failed, queue-full $full" [ "$failed" = 1000 ] && [ "$full" = 0 ]
check three-tries-per-request "$r503 answers 503" [ "$r503" -gt 0 ] && [ $((r503 % 3)) = 0 ]
check failed-spans-per-request "$failed spans in $((r503 / 3)) requests" \
    [ $(( (failed + 49) / 50 )) -le $((r503 / 3)) ] && [ "$failed" -ge $((r503 / 3)) ]
check none-recorded "$(stat spans) spans recorded" [ "$(stat spans)" = 0 ]
check says-503 "$(grep -m1 'OTLP export to' "$T/run.log")" \
    grep -q "the collector answered 503.*also after 2 retries" "$T/run.log"

# the collector is back
mode '{"status": 200, "retry_after": null}'
gen_events "$T/e2" 500 16
produce "$HF_KAFKA_PLAIN" "$hub" "$T/e2"
wait_for 60 done_at 1500
exported=$(prom hubfn_trace_spans_exported_total)
check exports-again "exported $exported, collector $(stat spans)" \
    [ "$exported" = "$(stat spans)" ] && [ "$exported" = 500 ]
check says-works-again "no line" grep -q "OTLP export to $col/v1/traces works again" "$T/run.log"
check nothing-else-dropped "$(prom hubfn_trace_spans_dropped_total) dropped" \
    [ "$(prom hubfn_trace_spans_dropped_total)" = 1000 ]

# a partial success: 3 spans of each request rejected
before200=$(stat by_status.200) spans_before=$(stat spans)
mode '{"rejected": 3}'
gen_events "$T/e3" 300 16
produce "$HF_KAFKA_PLAIN" "$hub" "$T/e3"
wait_for 60 done_at 1800
reqs=$(( $(stat by_status.200) - before200 ))
rejected=$(prom hubfn_trace_spans_dropped_total reason=rejected)
check rejected-counted "rejected $rejected for $reqs requests" \
    [ "$reqs" -gt 0 ] && [ "$rejected" = $((3 * reqs)) ]
check exported-less-rejected "exported $(prom hubfn_trace_spans_exported_total)" \
    [ "$(prom hubfn_trace_spans_exported_total)" = $(( $(stat spans) - rejected )) ]
check says-rejected "no line" grep -q "the collector rejected them: .*rejected by the test" "$T/run.log"

kill -TERM "$pid"
wait "$pid"
rc=$?
check exits-0 "exit $rc: $(tail -2 "$T/run.log")" [ "$rc" = 0 ]
seen=$(awk '{ print $3 }' "$app/rec.out" | sort -u | wc -l)
check each-event-once "$(lines "$app/rec.out") lines, $seen ids" \
    [ "$(lines "$app/rec.out")" = 1800 ] && [ "$seen" = 1000 ]
check collector-found-nothing-wrong "$(stat bad)" [ "$(stat bad)" = "[]" ]
