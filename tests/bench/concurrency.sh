#!/usr/bin/env bash
# Concurrency inside one partition: how much sooner a partition's events are done with
# host.json partitionConcurrency N than with the default 1, when the handler waits on a
# slow API. Not part of `make test`.
#
#   tests/bench/concurrency.sh [--kafka] [--events N] [--delay-ms MS] [--levels "1 4 16 64"]
#
# Broker: build/tools/mockbroker (librdkafka's mock cluster on loopback), or with --kafka the
# test harness's Apache Kafka broker (tests/kafka/broker.sh, started if needed and stopped
# again if this script started it), one hub of ONE partition holding EVENTS (400) events keyed by 100 users ({"user":"uK","seq":S}).
# API: tests/tools/httpserver.py on loopback, answering every request after DELAY (50) ms.
# Each run: `hubfn start --exit-on-eof --workers 2` with cardinality one, maxEventBatchSize
# 4, orderingKey partitionKey and partitionConcurrency N; the handler makes one
# require("hubfn").http.request PUT per event and checks its 200. Every level runs the same
# events with a fresh consumer group. Reported per level: wall time from the first request
# to the last answer (from the server's log), events/s, the most requests the server had in
# flight at once, and the speed-up against N = 1; each run must answer every event exactly
# once with each user's events in offset order, or the script says so and fails.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
n=400 delay=50 levels="1 4 16 64" broker=mock
while [ $# -gt 0 ]; do
    case "$1" in
        --kafka) broker=kafka; shift ;;
        --events) n=$2; shift 2 ;;
        --delay-ms) delay=$2; shift 2 ;;
        --levels) levels=$2; shift 2 ;;
        *) echo "usage: $0 [--kafka] [--events N] [--delay-ms MS] [--levels \"1 4 16\"]" >&2; exit 2 ;;
    esac
done
build=${BUILD:-build}
hubfn=${HUBFN:-$top/$build/hubfn}
tmp=${TMPDIR:-/tmp}/hubfn-bench-concurrency
rm -rf "$tmp"
mkdir -p "$tmp"
[ -n "${HUBFN:-}" ] || make --no-print-directory -s "$build/hubfn" >/dev/null

pids=()
started_kafka=0
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ "$started_kafka" = 1 ]; then tests/kafka/broker.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

hub=conc
if [ "$broker" = mock ]; then
    make --no-print-directory -s "$build/tools/mockbroker" >/dev/null
    mkfifo "$tmp/mock.in"
    sleep infinity >"$tmp/mock.in" &
    pids+=($!)
    "$build/tools/mockbroker" --topic conc:1 <"$tmp/mock.in" >"$tmp/mock.out" 2>"$tmp/mock.err" &
    pids+=($!)
    for _ in $(seq 50); do grep -q '^bootstrap' "$tmp/mock.out" 2>/dev/null && break; sleep 0.1; done
    bootstrap=$(awk '/^bootstrap/ { print $2 }' "$tmp/mock.out")
    [ -n "$bootstrap" ] || { echo "the mock broker did not start" >&2; exit 1; }
    where="the mock broker"
else
    if ! tests/kafka/broker.sh status >/dev/null 2>&1; then
        tests/kafka/broker.sh start >/dev/null
        started_kafka=1
    fi
    . "${HF_KAFKA_DIR:-/tmp/hubfn-kafka}/env"
    bootstrap=$HF_KAFKA_PLAIN
    hub=conc$$
    tests/kafka/broker.sh topic "$hub" 1 >/dev/null
    where="the Apache Kafka broker"
fi

python3 tests/tools/httpserver.py --log "$tmp/api.jsonl" >"$tmp/api.out" 2>"$tmp/api.err" &
pids+=($!)
for _ in $(seq 50); do grep -q '^listening' "$tmp/api.out" 2>/dev/null && break; sleep 0.1; done
api=$(sed -n 's/^listening \([^ ]*\).*/\1/p' "$tmp/api.out")
[ -n "$api" ] || { echo "the test server did not start" >&2; exit 1; }
curl -s -X POST --data "[{\"delay_ms\": $delay}]" "$api/_control/script" >/dev/null

awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) { k = (i * 7) % 100; s[k]++;
    printf "u%d\t{\"user\":\"u%d\",\"seq\":%d}\n", k, k, s[k] } }' >"$tmp/events"
kcat -P -b "$bootstrap" -t "$hub" -K $'\t' -z none -l "$tmp/events"

app=$tmp/app
mkdir -p "$app/put"
cat >"$app/put/function.json" <<JSON
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "ev",
    "eventHubName": "$hub", "connection": "Conn", "consumerGroup": "%GROUP%" } ] }
JSON
cat >"$app/put/handler.lua" <<'LUA'
local http = require("hubfn").http
local api = os.getenv("API")
return function(ev, context)
  local res, err = http.request{ method = "PUT",
    url = api .. "/users/" .. ev.body.user .. "/" .. ev.body.seq .. "?offset=" .. ev.offset,
    body = "x" }
  assert(res and res.status == 200, err or (res and res.status))
end
LUA

echo "# $where, one partition, $n events of 100 users, every event one PUT answered after $delay ms;"
echo "# $("$hubfn" --version | head -1), --workers 2, cardinality one, batches of 4, $(nproc) cores"
printf '%-22s %10s %10s %14s %10s\n' "partitionConcurrency" "seconds" "events/s" "max in flight" "speed-up"
base=
for level in $levels; do
    cat >"$app/host.json" <<JSON
{ "version": "2.0",
  "extensions": { "eventHubs": { "maxEventBatchSize": 4, "partitionConcurrency": $level } } }
JSON
    curl -s -X POST "$api/_control/reset" >/dev/null
    : >"$tmp/api.jsonl"
    curl -s -X POST --data "[{\"delay_ms\": $delay}]" "$api/_control/script" >/dev/null
    API=$api GROUP=bench-$level-$$ Conn=$bootstrap \
        "$hubfn" start "$app" --exit-on-eof --workers 2 >"$tmp/run$level.out" 2>"$tmp/run$level.log"
    read -r secs max ok <<<"$(python3 - "$tmp/api.jsonl" "$n" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in rows if r["path"].startswith("/users/")]
n = int(sys.argv[2])
rows.sort(key=lambda r: r["mono"])
offs = [int(r["query"].split("=")[1]) for r in rows]
last, order_ok = {}, True
for r in rows:
    _, _, user, seq = r["path"].split("/")
    if int(seq) != last.get(user, 0) + 1:
        order_ok = False
    last[user] = int(seq)
ok = len(rows) == n and sorted(offs) == list(range(n)) and order_ok
# the most requests in flight: arrivals and answers as a sweep
ev = sorted([(r["mono"], 1) for r in rows] + [(r["mono_done"], -1) for r in rows])
cur = top = 0
for _, d in ev:
    cur += d
    top = max(top, cur)
secs = max(r["mono_done"] for r in rows) - min(r["mono"] for r in rows) if rows else 0
print("%.2f %d %s" % (secs, top, "yes" if ok else "no"))
PY
)"
    [ "$ok" = yes ] || { echo "partitionConcurrency $level: not every event answered once in order (see $tmp)" >&2; exit 1; }
    [ -n "$base" ] || base=$secs
    printf '%-22s %10s %10.0f %14s %9.2fx\n' "$level" "$secs" "$(echo "$n / $secs" | bc -l)" \
        "$max" "$(echo "$base / $secs" | bc -l)"
done
