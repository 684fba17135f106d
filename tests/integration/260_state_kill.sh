#!/usr/bin/env bash
# eventHubState on a real broker: SIGKILL mid-run, then a restart. Every key's state is
# restored from the compacted state hub before its partition's first batch: no event finds
# its key's state behind it; a counter per key never ends below the true count (events
# after the last checkpoint run again and may count twice); the last seq and offset per key
# end exact.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/state_lib.sh"
need_kafka
N=6000
in=st-kill-in-$$ st=st-kill-state-$$
topic "$in" 4
state_topic "$st" 4
gen_events "$T/events" $N 48
produce "$HF_KAFKA_PLAIN" "$in" "$T/events"
mkstateapp "$T/app" "$HF_KAFKA_PLAIN" "$in" "$st"

STATE_SLOW=0.01 start_bg "$T/run1.log" "$HUBFN" start "$T/app" --workers 2
pid=$BG
wait_for 60 bash -c "[ \$(cat '$T/app/seen.out' 2>/dev/null | wc -l) -ge 2000 ]"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
before=$(lines "$T/app/seen.out")
check was-mid-run "killed after $before of $N events" [ "$before" -lt $N ]
state_dump "$st" "$T/dump1"
check state-written-before-kill "$(lines "$T/dump1") state records" [ "$(lines "$T/dump1")" -gt 0 ]

timeout $((90 * SLOW)) "$HUBFN" start "$T/app" --exit-on-eof --workers 2 2>"$T/run2.log"
rc=$?
check second-run-exits-0 "exit $rc: $(tail -2 "$T/run2.log")" [ "$rc" = 0 ]
restored=$(grep -o 'restored [0-9]* keys' "$T/run2.log" | awk '{ s += $2 } END { print s + 0 }')
check keys-restored "restored $restored keys: $(grep -m2 restored "$T/run2.log")" [ "$restored" -ge 40 ]
check restored-before-first-batch "$(head -3 "$T/app/gaps.out" 2>/dev/null)" [ ! -s "$T/app/gaps.out" ]
state_dump "$st" "$T/dump2"
if why=$(state_verify "$T/events" "$in" "$T/dump2" atleast); then
    ok "counters-never-below-true-count-last-seq-and-offset-exact"
else
    fail "counters-never-below-true-count-last-seq-and-offset-exact" "$why"
fi
echo "# $why (replays: events after the last checkpoint counted again)"
