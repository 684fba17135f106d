#!/usr/bin/env bash
# hubfn_consumer_lag_seconds: 0 for a caught-up partition, rising while a slowed handler
# works through a burst (the oldest event not yet checkpointed keeps getting older), back to
# 0 once every event is handled and checkpointed; next to hubfn_consumer_lag_events.
. "$(dirname "$0")/lib.sh"
need_kafka

hub=lagsec-$$
topic "$hub" 1
mkapp "$T/app" "$HF_KAFKA_PLAIN" "$hub" many '"prefetchCount": 4'
sed -i 's/"maxEventBatchSize": 50/"maxEventBatchSize": 1/' "$T/app/host.json"
REC_SLOW=0.5 start_bg "$T/run.log" "$HUBFN" start "$T/app" --http-port 0 --http-address 127.0.0.1
pid=$BG
wait_for 20 grep -q "on http://" "$T/run.log"
port=$(sed -n 's|.*on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$T/run.log" | head -1)
url=http://127.0.0.1:$port
wait_for 30 bash -c "[ \"\$(curl -s --max-time 5 '$url/readyz')\" = ready ]"

scrape() { curl -s --max-time 5 "$url/metrics" >"$T/metrics"; }
get() { python3 "$TOP/tests/integration/prom.py" "$T/metrics" get "$@"; }
lag() { scrape; get hubfn_consumer_lag_seconds function=rec partition=0; }
has_lag_series() { scrape; grep -q '^hubfn_consumer_lag_seconds{function="rec",partition="0"} ' "$T/metrics"; }

# An empty partition is caught up: 0, not absent.
wait_for 20 has_lag_series
z=$(get hubfn_consumer_lag_seconds function=rec partition=0)
check caught-up-is-zero "$z: $(grep lag_seconds "$T/metrics")" [ "$z" = 0 ]
fmt=$(python3 "$TOP/tests/integration/prom.py" "$T/metrics" check)
check metrics-format "$fmt" [ "$fmt" = ok ]
check lag-seconds-documented "$(grep -c hubfn_consumer_lag_seconds "$T/metrics")" grep -q \
    "^# TYPE hubfn_consumer_lag_seconds gauge" "$T/metrics"

# A burst of 16 events; the handler takes 0.5 s of CPU for each, 8 s in all (more on a
# loaded machine, never less).
gen_events "$T/events" 16 4
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events"
wait_for 20 bash -c "[ -s '$T/app/rec.out' ]"
l1=$(lag)
e1=$(get hubfn_consumer_lag_events function=rec partition=0)
# while the handler still works through the burst, the gauge passes 1.5 s
rising() { local l; l=$(lag); python3 -c "import sys; sys.exit(0 if float('$l') >= 1.5 else 1)"; }
wait_for 15 rising
l2=$(lag)
done2=$(lines "$T/app/rec.out")
check lag-rises-while-slowed "first $l1 s, then $l2 s ($done2 of 16 handled, $e1 events behind)" \
    python3 -c "import sys; a, b = float('$l1'), float('$l2'); sys.exit(0 if b > a and b >= 1.5 and $done2 < 16 else 1)"
check lag-seconds-next-to-events "events lag series: $(grep lag_events "$T/metrics")" \
    grep -q '^hubfn_consumer_lag_events{function="rec",partition="0"} ' "$T/metrics"

# Caught up: every event handled and checkpointed, the gauge is 0 again.
wait_for 60 bash -c "[ \$(wc -l <'$T/app/rec.out') -ge 16 ]"
wait_for 20 bash -c "[ \"\$(curl -s --max-time 5 '$url/metrics' | grep '^hubfn_consumer_lag_seconds{function=\"rec\",partition=\"0\"}' | cut -d' ' -f2)\" = 0 ]"
l3=$(lag)
check lag-falls-to-zero "$l3 s after $(lines "$T/app/rec.out") events" [ "$l3" = 0 ]
kill -TERM "$pid"
wait "$pid"
stats=$(python3 "$TOP/tests/integration/verify.py" 16 "$T/app/rec.out")
check all-handled-once "$stats" [ "$stats" = "seen=16 unique=16 missing=0 dups=0 disorder=0" ]
