#!/usr/bin/env bash
# host.json trigger options on a real broker: initialOffsetOptions (fromEnd,
# fromEnqueuedTime), minEventBatchSize with maxWaitTime, cardinality one, and a failing
# handler whose batches are logged with their coordinates and checkpointed past.
. "$(dirname "$0")/lib.sh"
need_kafka

# --- fromEnd: events sent before the group existed are not delivered
hub=fromend-$$
topic "$hub" 2
gen_events "$T/all" 150 4
head -100 "$T/all" >"$T/old"; tail -50 "$T/all" >"$T/new"
produce "$HF_KAFKA_PLAIN" "$hub" "$T/old"
mkapp "$T/end" "$HF_KAFKA_PLAIN" "$hub" many '"initialOffsetOptions": { "type": "fromEnd" }'
start_bg "$T/end.log" "$HUBFN" start "$T/end"
pid=$BG
wait_for 30 grep -q "assigned partitions" "$T/end.log"
sleep 1   # the assignment's starting offsets are resolved asynchronously
produce "$HF_KAFKA_PLAIN" "$hub" "$T/new"
wait_for 30 bash -c "[ \$(cat '$T/end/rec.out' 2>/dev/null | wc -l) -ge 50 ]"
kill -TERM "$pid"; wait "$pid"
old_seen=$(awk '$3 <= 100' "$T/end/rec.out" | wc -l)
new_seen=$(awk '$3 > 100' "$T/end/rec.out" | sort -u | wc -l)
check from-end-skips-old "saw $old_seen old events" [ "$old_seen" = 0 ]
check from-end-gets-new "saw $new_seen of 50 new events" [ "$new_seen" = 50 ]

# --- fromEnqueuedTime: starts at the first event enqueued at or after the time
hub=fromtime-$$
topic "$hub" 2
produce "$HF_KAFKA_PLAIN" "$hub" "$T/old"
sleep 2
since=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 1
produce "$HF_KAFKA_PLAIN" "$hub" "$T/new"
mkapp "$T/time" "$HF_KAFKA_PLAIN" "$hub" many \
    "\"initialOffsetOptions\": { \"type\": \"fromEnqueuedTime\", \"enqueuedTimeUtc\": \"$since\" }"
timeout $((60 * SLOW)) "$HUBFN" start "$T/time" --exit-on-eof 2>"$T/time.log"
old_seen=$(awk '$3 <= 100' "$T/time/rec.out" 2>/dev/null | wc -l)
new_seen=$(awk '$3 > 100' "$T/time/rec.out" 2>/dev/null | sort -u | wc -l)
check from-enqueued-time "old $old_seen (want 0), new $new_seen (want 50): $(tail -2 "$T/time.log")" \
    [ "$old_seen" = 0 -a "$new_seen" = 50 ]

# --- minEventBatchSize: 10 events trickle in, one batch goes out after maxWaitTime
hub=minbatch-$$
topic "$hub" 1
gen_events "$T/ten" 10 1
mkapp "$T/min" "$HF_KAFKA_PLAIN" "$hub" many \
    '"minEventBatchSize": 40, "maxWaitTime": "00:00:01.500"'
start_bg "$T/min.log" "$HUBFN" start "$T/min"
pid=$BG
wait_for 30 grep -q "assigned partitions" "$T/min.log"
while read -r line; do printf "%s\n" "$line" >"$T/single"; produce "$HF_KAFKA_PLAIN" "$hub" "$T/single"; done <"$T/ten"
wait_for 30 bash -c "[ \$(cat '$T/min/rec.out' 2>/dev/null | wc -l) -ge 10 ]"
kill -TERM "$pid"; wait "$pid"
check min-batch-waits-and-gathers "batch sizes: $(tr '\n' ' ' <"$T/min/batches.out")" \
    [ "$(cat "$T/min/batches.out")" = 10 ]

# --- cardinality one: one invocation per event, in order, all checkpointed
hub=one-$$
topic "$hub" 2
gen_events "$T/e300" 300 8
produce "$HF_KAFKA_PLAIN" "$hub" "$T/e300"
mkapp "$T/one" "$HF_KAFKA_PLAIN" "$hub" one
timeout $((60 * SLOW)) "$HUBFN" start "$T/one" --exit-on-eof 2>"$T/one.log"
stats=$(python3 "$TOP/tests/integration/verify.py" 300 "$T/one/rec.out")
check cardinality-one-every-event "$stats" [ "$stats" = "seen=300 unique=300 missing=0 dups=0 disorder=0" ]
check cardinality-one-single-events "sizes: $(sort -u "$T/one/batches.out" | tr '\n' ' ')" \
    [ "$(sort -u "$T/one/batches.out")" = 1 ]

# --- failing handler: logged with traceback and coordinates, counted, checkpointed past
hub=fail-$$
topic "$hub" 2
gen_events "$T/e200" 200 8
produce "$HF_KAFKA_PLAIN" "$hub" "$T/e200"
mkapp "$T/fail" "$HF_KAFKA_PLAIN" "$hub" many
cat >>"$T/fail/rec/handler.lua" <<'LUA'
-- (appended) fail every batch holding an id divisible by 7
LUA
python3 - "$T/fail/rec/handler.lua" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("  out:write(table.concat(lines))",
              "  out:write(table.concat(lines))\n"
              "  for _, ev in ipairs(events) do\n"
              "    if ev.body.id % 7 == 0 then error('poison event ' .. ev.body.id) end\n"
              "  end")
open(p, "w").write(s)
PY
timeout $((60 * SLOW)) "$HUBFN" start "$T/fail" --exit-on-eof 2>"$T/fail.log"
rc=$?
check failing-handler-exit-0 "exit $rc" [ "$rc" = 0 ]
check failure-logged-with-coordinates "$(grep -m1 'invocation failed' "$T/fail.log")" \
    grep -qE "invocation failed on hub $hub partition [0-9]+ offsets [0-9]+-[0-9]+.*handler.lua:[0-9]+: poison event" "$T/fail.log"
check failure-counted "$(tail -1 "$T/fail.log")" grep -qE "stopped: 200 events in [0-9]+ batches, [1-9][0-9]* failed" "$T/fail.log"
rm -f "$T/fail/rec.out"
timeout $((60 * SLOW)) "$HUBFN" start "$T/fail" --exit-on-eof 2>"$T/fail2.log"
check failed-batches-checkpointed "second run saw $(lines "$T/fail/rec.out") events" \
    [ "$(lines "$T/fail/rec.out")" = 0 ]
