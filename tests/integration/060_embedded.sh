#!/usr/bin/env bash
# hubfn start --embedded: the in-process broker creates the app's hubs, prints its address,
# takes events from kcat, and SIGTERM drains and exits 0.
. "$(dirname "$0")/lib.sh"

mkapp "$T/app" "embedded" "orders" many
start_bg "$T/run.log" "$HUBFN" start "$T/app" --embedded --partitions 3
pid=$BG
wait_for 20 grep -q "embedded broker listening at" "$T/run.log"
addr=$(sed -n 's/.*embedded broker listening at \([0-9.:]*\).*/\1/p' "$T/run.log" | head -1)
check prints-address "$(cat "$T/run.log")" [ -n "$addr" ]
parts=$(kcat -L -b "$addr" -t orders 2>/dev/null | grep -c 'partition [0-9]')
check creates-hub-with-partitions "kcat sees $parts partitions" [ "$parts" = 3 ]
gen_events "$T/events" 500 10
produce "$addr" orders "$T/events"
wait_for 30 bash -c "[ \$(cat '$T/app/rec.out' 2>/dev/null | wc -l) -ge 500 ]"
kill -TERM "$pid"
wait "$pid"
rc=$?
check sigterm-exits-0 "exit $rc: $(tail -3 "$T/run.log")" [ "$rc" = 0 ]
stats=$(python3 "$TOP/tests/integration/verify.py" 500 "$T/app/rec.out")
check every-event-once "$stats" [ "$stats" = "seen=500 unique=500 missing=0 dups=0 disorder=0" ]
