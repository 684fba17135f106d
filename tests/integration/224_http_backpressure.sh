#!/usr/bin/env bash
# Backpressure of the http output binding, on the Kafka test broker: with maxConcurrency 1
# and a server answering each request after 20 ms (under 50 a second), 20000 events of
# 2 KB (40 MB) wait in a 4-partition hub. For 10 s, every half second:
#   - per partition, the events hubfn took off the consumer (hubfn_events_received_total
#     from /metrics) minus the events the server answered 2xx stay within prefetchCount
#     (300) plus one batch (50): events are fetched no faster than they are delivered;
#   - hubfn's RSS (VmRSS) stays within 30 MB of what it was before the events were
#     produced: less than the 40 MB the waiting events would take if they were fetched.
#     (A sanitizer build keeps freed memory in quarantine, 256 MB by default: the test
#     makes that 4 MB so RSS follows what is held.)
# Then SIGTERM drains what was handed out and exits 0; a second run delivers the rest.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"
need_kafka

N=20000 PREFETCH=300 BATCH=50
hub=bp-$$
topic "$hub" 4
httpd_start bp || { fail server "$(cat "$T/bp.err")"; exit 1; }
httpd_script '[{"delay_ms": 20}]'
http_app "$T/app" "$hub" "\"url\": \"$HTTPD_URL\", \"maxConcurrency\": 1" many \
    "\"prefetchCount\": $PREFETCH"
# 2 KB events: {"id":I,"pad":"xxx..."}, keyed over 64 keys
awk -v n=$N 'BEGIN { pad = sprintf("%2000s", ""); gsub(/ /, "x", pad);
    for (i = 1; i <= n; i++) printf "k%d\t{\"id\":%d,\"pad\":\"%s\"}\n", i % 64, i, pad }' \
    >"$T/events"

case "$BUILD" in *san*) export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4" ;; esac
RSS_BOUND=$((30 * 1024))
start_bg "$T/run.log" "$HUBFN" start "$T/app" --http-port 0 --http-address 127.0.0.1
pid=$BG
wait_for 60 grep -q "assigned partitions" "$T/run.log"
port=$(sed -n 's|.*on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$T/run.log" | head -1)
check metrics-port "$(grep -m1 http:// "$T/run.log")" [ -n "$port" ]
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
sleep 0.5
base=$(rss)
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events"
wait_for 30 grep -q '"status": 200' "$HTTPD_LOG"

# 20 samples, one every half second, each a line "received0..3 delivered0..3 rss": received
# scraped first, so a delivery in between only makes the difference smaller than it was
python3 - "$port" "$HTTPD_LOG" "$pid" 20 >"$T/samples" 2>"$T/sampler.err" <<'PY'
import json, re, sys, time, urllib.request
port, log, pid, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ok, pos = [set(), set(), set(), set()], 0
for _ in range(n):
    t = time.monotonic()
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    recv = [0] * 4
    for m in re.finditer(r'^hubfn_events_received_total\{function="fwd",partition="(\d)"\} (\S+)$',
                         text, re.M):
        recv[int(m.group(1))] = int(float(m.group(2)))
    with open(log) as f:
        f.seek(pos)
        for line in f:
            if not line.endswith("\n"):
                break
            pos += len(line.encode())
            r = json.loads(line)
            if r.get("status") == 200:
                p, i = r["path"].split("/")[1:3]
                ok[int(p)].add(i)
    rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:"))
    print(*recv, *(len(s) for s in ok), rss, flush=True)
    time.sleep(max(0, 0.5 - (time.monotonic() - t)))
PY
kill -TERM "$pid"
wait "$pid"
rc=$?
check drain-exits-0 "exit $rc: $(tail -2 "$T/run.log")" [ "$rc" = 0 ]

s=$(python3 - "$T/samples" "$base" $((PREFETCH + BATCH)) $RSS_BOUND 2>&1 <<'PY'
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
base, bound, rss_bound = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
worst = max(r[p] - r[4 + p] for r in rows for p in range(4))
peak = max(r[8] for r in rows) - base
recv = sum(rows[-1][:4]); done = sum(rows[-1][4:8])
print(f"samples={len(rows)} received={recv} delivered={done} "
      f"worst_ahead={worst} (bound {bound}) rss={base}+{peak} KB (bound +{rss_bound} KB)")
PY
)
read -r -a last <<<"$(tail -1 "$T/samples")"
check samples-taken "$(wc -l <"$T/samples") samples" [ "$(wc -l <"$T/samples")" -ge 10 ]
check delivering "$s" [ $(( last[4] + last[5] + last[6] + last[7] )) -ge 100 ]
check fetch-follows-delivery "$s" python3 - "$T/samples" $((PREFETCH + BATCH)) <<'PY'
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if all(r[p] - r[4 + p] <= int(sys.argv[2]) for r in rows for p in range(4)) else 1)
PY
check most-events-still-waiting "$s" [ $(( last[0] + last[1] + last[2] + last[3] )) -lt $((N / 4)) ]
check rss-bounded "$s" python3 - "$T/samples" "$base" $RSS_BOUND <<'PY'
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if max(r[8] for r in rows) - int(sys.argv[2]) <= int(sys.argv[3]) else 1)
PY

# the rest, with a fast server: nothing was lost
httpd_script '[]'
timeout $((120 * SLOW)) "$HUBFN" start "$T/app" --exit-on-eof 2>"$T/run2.log"
rc=$?
check rest-exits-0 "exit $rc: $(tail -2 "$T/run2.log")" [ "$rc" = 0 ]
httpd_settle
logcheck every-event-delivered delivered "$HTTPD_LOG" $N
