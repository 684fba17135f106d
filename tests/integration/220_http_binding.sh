#!/usr/bin/env bash
# The http output binding against a real HTTP server on loopback (tests/tools/httpserver.py),
# counting events. Three runs at once, each with its own hub, server and app, each ending
# with `hubfn start --exit-on-eof` (every partition drained and checkpointed, exit 0):
#   retry-after  429 with Retry-After in seconds and as an HTTP date: every event is
#                delivered, and no request arrives while a Retry-After is in force;
#   faults       a 500 burst, a 503 burst, and events whose first attempts get a 500, a 503,
#                a 408, an answer slower than the binding's timeout, a reset or a closed
#                connection: every event is delivered, each retry with the same key;
#   rate         requestsPerSecond 20 over about 10 s: the rate the server saw is at most 10%
#                over 20 (and not more than 30% under it: a busy machine only slows it down).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"
need_kafka

# run_bg NAME: start the app $T/NAME in the background; its pid in PID_NAME
run_bg() {
    start_bg "$T/$1.log" timeout $((120 * SLOW)) "$HUBFN" start "$T/$1" --exit-on-eof
    eval "PID_$1=$BG"
}
# finished NAME: wait for the run and check that it exited 0 with nothing failed
finished() {
    local pid; eval "pid=\$PID_$1"
    wait "$pid"
    local rc=$?
    check "$1-exits-0" "exit $rc: $(tail -2 "$T/$1.log")" [ "$rc" = 0 ]
    check "$1-no-failed-invocation" "$(grep -m1 -E 'failed|gave up' "$T/$1.log")" \
        grep -q ' 0 failed batches (0 events)' "$T/$1.log"
}

# --- retry-after: 600 events in 4 partitions; the events with ids 100, 300 and 500 are
# answered 429 with Retry-After 2 s, an HTTP date 2 s ahead (rounded up to the second), and
# twice 1 s. The rule names carry the Retry-After for `httplog windows`.
N_RA=600
hub=ra-$$
topic "$hub" 4
gen_events "$T/ra.events" $N_RA 16
produce "$HF_KAFKA_PLAIN" "$hub" "$T/ra.events"
httpd_start ra || { fail retry-after-server "$(cat "$T/ra.err")"; exit 1; }
RA_URL=$HTTPD_URL RA_LOG=$HTTPD_LOG
httpd_script '[
  {"name": "ra:2", "body_contains": "\"id\":100,", "status": 429, "retry_after": 2, "times": 1},
  {"name": "ra-date:2", "body_contains": "\"id\":300,", "status": 429, "retry_after": 2,
   "retry_after_date": true, "times": 1},
  {"name": "ra:1", "body_contains": "\"id\":500,", "status": 429, "retry_after": 1, "times": 2}]'
http_app "$T/ra" "$hub" "\"url\": \"$RA_URL\", \"maxConcurrency\": 4"

# --- faults: 600 events; the first 25 requests get a 500 and the 30 after 2 s from the
# script a 503; per event (by its Idempotency-Key), ids = 3 (mod 20) get a 500 twice, = 5 a
# 503 once, = 7 an answer after 2.5 s (the binding's timeout is 1 s), = 11 a reset, = 13 a
# closed connection, = 17 a 408. requestsPerSecond 150 spreads the run over about 4 s.
N_F=600
hub=faults-$$
topic "$hub" 4
awk -v n=$N_F 'BEGIN { split("3:500 5:503 7:slow 11:reset 13:close 17:408", f, " ");
    for (k in f) { split(f[k], kv, ":"); fault[kv[1]] = kv[2] }
    for (i = 1; i <= n; i++) { m = i % 20
        printf "k%d\t{\"id\":%d%s}\n", i % 16, i, (m in fault) ? ",\"fault\":\"" fault[m] "\"" : "" } }' \
    >"$T/faults.events"
produce "$HF_KAFKA_PLAIN" "$hub" "$T/faults.events"
httpd_start faults || { fail faults-server "$(cat "$T/faults.err")"; exit 1; }
F_URL=$HTTPD_URL F_LOG=$HTTPD_LOG F_PID=$HTTPD_PID
httpd_script '[
  {"name": "burst500", "status": 500, "times": 25},
  {"name": "burst503", "status": 503, "after_seconds": 2, "times": 30},
  {"name": "f500", "body_contains": "\"fault\":\"500\"", "per_key": 2, "status": 500},
  {"name": "f503", "body_contains": "\"fault\":\"503\"", "per_key": 1, "status": 503,
   "body": "overloaded"},
  {"name": "slow", "body_contains": "\"fault\":\"slow\"", "per_key": 1, "delay_ms": 2500},
  {"name": "reset", "body_contains": "\"fault\":\"reset\"", "per_key": 1, "reset": true},
  {"name": "close", "body_contains": "\"fault\":\"close\"", "per_key": 1, "close": true},
  {"name": "f408", "body_contains": "\"fault\":\"408\"", "per_key": 1, "status": 408}]'
http_app "$T/faults" "$hub" "\"url\": \"$F_URL\", \"timeout\": \"00:00:01\", \"requestsPerSecond\": 150"

# --- rate: 200 events at requestsPerSecond 20, at most 16 in flight
N_R=200
hub=rate-$$
topic "$hub" 4
gen_events "$T/rate.events" $N_R 16
produce "$HF_KAFKA_PLAIN" "$hub" "$T/rate.events"
httpd_start rate || { fail rate-server "$(cat "$T/rate.err")"; exit 1; }
R_URL=$HTTPD_URL R_LOG=$HTTPD_LOG
http_app "$T/rate" "$hub" "\"url\": \"$R_URL\", \"requestsPerSecond\": 20, \"maxConcurrency\": 16"

run_bg ra
run_bg faults
run_bg rate

finished ra
logcheck retry-after-delivers-all delivered "$RA_LOG" $N_RA
n=$(grep -c '"status": 429' "$RA_LOG")
check retry-after-429s-answered "$n answers 429, want 4" [ "$n" = 4 ]
logcheck retry-after-nothing-sent-in-window windows "$RA_LOG" \
    --slack "$(awk -v s="$SLOW" 'BEGIN { print 0.05 * s }')"

finished faults
HTTPD_URL=$F_URL
httpd_settle
logcheck faults-deliver-all delivered "$F_LOG" $N_F
# every fault happened as often as scripted (the slow ones: 30 events, one slow answer each)
used=$(httpd_ctl GET script | python3 -c '
import json, sys
print(" ".join("%s=%d" % (r["name"], r["used"]) for r in json.load(sys.stdin)))')
check faults-all-happened "$used" [ "$used" = "burst500=25 burst503=30 f500=60 f503=30 slow=30 reset=30 close=30 f408=30" ]
logcheck faults-retries-keep-their-key keys "$F_LOG"
# a timed-out request was tried again: each slow event has a 2xx after its slow answer
s=$(python3 - "$F_LOG" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
slow = {r["path"]: r for r in rs if r.get("rule_name") == "slow"}
after = {r["path"] for r in rs if r["path"] in slow and r.get("status") == 200
         and r["mono"] > slow[r["path"]]["mono"] + 0.9}
print("slow=%d retried_after_timeout=%d" % (len(slow), len(after)))
PY
)
check faults-timeout-retried "$s" [ "$s" = "slow=30 retried_after_timeout=30" ]

finished rate
logcheck rate-delivers-all delivered "$R_LOG" $N_R
# The measure: the mean arrival rate from the first request to the last, (requests - 1) /
# (last - first), the server's requests_per_second, must be at most 22 (and at least 14);
# and no 2-second window may hold more than 44 requests (the bucket allows 40 plus a burst
# of 2).
logcheck rate-limited-to-20-per-second rate "$R_LOG" 20 --low-tolerance 0.3
