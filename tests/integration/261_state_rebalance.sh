#!/usr/bin/env bash
# eventHubState across a rebalance: instance A owns every partition, B joins and takes some,
# A leaves and B takes the rest. Each partition's state moves with it (the new owner restores
# it from the state hub before its first batch), so no event finds its key's state behind
# it and, with no crash, every counter ends exact. The metrics show keys, bytes, restores
# and writes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/state_lib.sh"
need_kafka
N=6000
in=st-move-in-$$ st=st-move-state-$$
topic "$in" 4
state_topic "$st" 4
gen_events "$T/events" $N 40
head -n 2000 "$T/events" >"$T/part1"
sed -n '2001,4000p' "$T/events" >"$T/part2"
tail -n +4001 "$T/events" >"$T/part3"
mkstateapp "$T/app" "$HF_KAFKA_PLAIN" "$in" "$st"
seen() { lines "$T/app/seen.out"; }

produce "$HF_KAFKA_PLAIN" "$in" "$T/part1"
start_bg "$T/a.log" "$HUBFN" start "$T/app" --workers 1
a=$BG
wait_for 60 bash -c "[ \$(cat '$T/app/seen.out' 2>/dev/null | wc -l) -ge 2000 ]"

start_bg "$T/b.log" "$HUBFN" start "$T/app" --workers 1 --http-port 0 --http-address 127.0.0.1
b=$BG
wait_for 60 grep -q 'assigned partitions \[[0-9]' "$T/b.log"
check b-takes-partitions "$(grep -h 'partitions' "$T/b.log" | tail -2)" grep -q 'assigned partitions \[[0-9]' "$T/b.log"
produce "$HF_KAFKA_PLAIN" "$in" "$T/part2"
wait_for 60 bash -c "[ \$(cat '$T/app/seen.out' | wc -l) -ge 4000 ]"

kill -TERM "$a"
wait "$a"
rca=$?
check a-leaves-cleanly "exit $rca: $(tail -2 "$T/a.log")" [ "$rca" = 0 ]
wait_for 60 grep -q 'assigned partitions \[0,1,2,3\]' "$T/b.log"
produce "$HF_KAFKA_PLAIN" "$in" "$T/part3"
wait_for 60 bash -c "[ \$(cat '$T/app/seen.out' | wc -l) -ge $N ]"
sleep 1
port=$(sed -n 's|.*on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$T/b.log" | head -1)
curl -s "http://127.0.0.1:$port/metrics" >"$T/metrics" 2>/dev/null
kill -TERM "$b"
wait "$b"
rcb=$?
check b-stops-cleanly "exit $rcb: $(tail -2 "$T/b.log")" [ "$rcb" = 0 ]

check every-event-once "$(seen) events handled for $N" [ "$(seen)" = $N ]
check state-moves-with-its-partition "$(head -3 "$T/app/gaps.out" 2>/dev/null)" [ ! -s "$T/app/gaps.out" ]
restored_b=$(grep -o 'restored [0-9]* keys' "$T/b.log" | awk '{ s += $2 } END { print s + 0 }')
check new-owner-restores "B restored $restored_b keys" [ "$restored_b" -ge 40 ]
state_dump "$st" "$T/dump"
if why=$(state_verify "$T/events" "$in" "$T/dump" exact); then
    ok counters-exact
else
    fail counters-exact "$why"
fi

prom() { python3 "$TOP/tests/integration/prom.py" "$T/metrics" get "$@"; }
keys=$(prom hubfn_state_keys function=cnt binding=state)
check metric-keys "hubfn_state_keys = $keys" [ "${keys%.*}" = 40 ]
bytes=$(prom hubfn_state_bytes function=cnt binding=state)
check metric-bytes "hubfn_state_bytes = $bytes" [ "${bytes%.*}" -gt $((40 * 64)) ]
restores=$(prom hubfn_state_restores_total function=cnt binding=state)
check metric-restores "hubfn_state_restores_total = $restores" [ "${restores%.*}" -ge 4 ]
seconds=$(prom hubfn_state_restore_seconds_count function=cnt binding=state)
check metric-restore-seconds "hubfn_state_restore_seconds_count = $seconds" [ "$seconds" = "$restores" ]
sets=$(prom hubfn_state_writes_total function=cnt binding=state kind=set)
check metric-writes "hubfn_state_writes_total{kind=set} = $sets" [ "${sets%.*}" -gt 0 ]
