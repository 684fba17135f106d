#!/usr/bin/env bash
# hubfn send feeds `hubfn start --embedded` at the address it printed: every event reaches
# the handler once, keyed events keep their order per partition.
. "$(dirname "$0")/lib.sh"

mkapp "$T/app" "embedded" "orders" many
start_bg "$T/run.log" "$HUBFN" start "$T/app" --embedded --partitions 3
pid=$BG
wait_for 20 grep -q "embedded broker listening at" "$T/run.log"
addr=$(sed -n 's/.*embedded broker listening at \([0-9.:]*\).*/\1/p' "$T/run.log" | head -1)
check prints-address "$(cat "$T/run.log")" [ -n "$addr" ]

# 500 events {"id":i,"k":"kK","seq":j} as JSON lines, keyed by "k".
gen_events "$T/events.tsv" 500 10
cut -f2 "$T/events.tsv" >"$T/events.jsonl"
timeout $((60 * SLOW)) "$HUBFN" send "$addr" orders "$T/events.jsonl" --key k 2>"$T/send.log"
rc=$?
check send-exits-0 "exit $rc: $(cat "$T/send.log")" [ "$rc" = 0 ]
check send-summary "$(cat "$T/send.log")" grep -q "^sent 500 events to orders in .* 0 failed$" \
    "$T/send.log"
wait_for 30 bash -c "[ \$(cat '$T/app/rec.out' 2>/dev/null | wc -l) -ge 500 ]"
kill -TERM "$pid"
wait "$pid"
stats=$(python3 "$TOP/tests/integration/verify.py" 500 "$T/app/rec.out")
check every-event-once "$stats" [ "$stats" = "seen=500 unique=500 missing=0 dups=0 disorder=0" ]
# Per key, events arrive in file order (ids ascend) and in one partition.
order=$(awk '{ k = $3 % 10; if ($3 < last[k]) bad++; last[k] = $3;
               if (k in part && part[k] != $1) nsplit++; part[k] = $1 }
             END { printf "%d out of order, %d split", bad, nsplit }' "$T/app/rec.out")
check key-order-kept "$order" [ "$order" = "0 out of order, 0 split" ]
