#!/usr/bin/env bash
# partitionConcurrency on the real broker, with a handler that waits on a slow API: every
# event of one partition makes an HTTP request to the test server, which answers after
# 50 ms. Counted at the server: with partitionConcurrency 16 many requests of the one
# partition are in flight at once (1 with the default); per user the requests arrive in
# offset order; a SIGKILL mid-run and a restart lose nothing and repeat only events from
# the last checkpoint on. (How much faster it finishes is measured by
# tests/bench/concurrency.sh.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"
need_kafka
USERS=200

httpd_start api || { fail httpd "the test server did not start: $(cat "$T/api.err")"; exit 1; }
httpd_script '[{"delay_ms": 50}]' >/dev/null

# events FILE N: key uK, body {"user":"uK","seq":S} with S counting per user (USERS users)
events() {
    awk -v n="$2" -v u=$USERS 'BEGIN { for (i = 0; i < n; i++) { k = (i * 7) % u; s[k]++;
        printf "u%d\t{\"user\":\"u%d\",\"seq\":%d}\n", k, k, s[k] } }' >"$1"
}
# the default runs 160 events (8 s), partitionConcurrency 16 runs 1600 (6 per user)
events "$T/events1" 160
events "$T/events16" 1600

# mkconc DIR HUB CONCURRENCY [ORDERING]: a cardinality-one function that PUTs each event
mkconc() {
    local dir=$1 hub=$2 conc=$3 ordering=${4:-partitionKey}
    mkdir -p "$dir/put"
    cat >"$dir/host.json" <<JSON
{ "version": "2.0",
  "extensions": { "eventHubs": { "maxEventBatchSize": 4, "partitionConcurrency": $conc,
                                 "orderingKey": "$ordering" },
                  "kafka": { "session.timeout.ms": "6000" } } }
JSON
    cat >"$dir/local.settings.json" <<JSON
{ "Values": { "Conn": "$HF_KAFKA_PLAIN", "HUB": "$hub", "API": "$HTTPD_URL" } }
JSON
    cat >"$dir/put/function.json" <<JSON
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "ev",
    "eventHubName": "%HUB%", "connection": "Conn", "consumerGroup": "g-$hub" } ] }
JSON
    cat >"$dir/put/handler.lua" <<'LUA'
local http = require("hubfn").http
local api = assert(os.getenv("API"), "API is not set")   -- from local.settings.json Values
return function(ev, context)
  local res, err = http.request{ method = "PUT",
    url = api .. "/users/" .. ev.body.user .. "/" .. ev.body.seq .. "?offset=" .. ev.offset ..
          "&run=" .. (os.getenv("RUN") or "0"),
    body = "x" }
  assert(res and res.status == 200, err or (res and res.status))
end
LUA
}

# requests LOG [RUN]: "user seq offset" per request (of hubfn started with RUN=RUN), in
# arrival order
requests() {
    python3 - "$1" "${2:-}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows.sort(key=lambda r: r["mono"])
for r in rows:
    if r["path"].startswith("/users/"):
        q = dict(kv.split("=", 1) for kv in r["query"].split("&"))
        if sys.argv[2] and q.get("run") != sys.argv[2]:
            continue
        _, _, user, seq = r["path"].split("/")
        print(user, seq, q["offset"])
PY
}

# in_order FILE [any]: per user, seq rises by one in arrival order, from 1 (or, with
# "any", from wherever the user's first request starts)
in_order() {
    awk -v any="${2:-}" '{ if (($1 in last) || any == "") { if ($2 != last[$1] + 1) bad++ }
        last[$1] = $2 } END { exit bad > 0 }' "$1"
}

# ---- partitionConcurrency 16 against 1 -------------------------------------------------
for conc in 1 16; do
    hub=conc$conc-$$
    N=$(lines "$T/events$conc")
    topic "$hub" 1 || fail "c$conc-topic" "$(tail -2 "$T/topic.err")"
    produce "$HF_KAFKA_PLAIN" "$hub" "$T/events$conc"
    httpd_ctl POST reset >/dev/null
    : >"$HTTPD_LOG"
    mkconc "$T/app$conc" "$hub" $conc
    timeout $((240 * SLOW)) "$HUBFN" start "$T/app$conc" --exit-on-eof --workers 2 \
        >"$T/run$conc.out" 2>"$T/run$conc.log"
    rc=$?
    check "c$conc-exits-0" "exit $rc: $(tail -3 "$T/run$conc.log")" [ $rc = 0 ]
    requests "$HTTPD_LOG" >"$T/req$conc"
    got=$(awk '{ print $3 }' "$T/req$conc" | sort -un | wc -l)
    check "c$conc-every-event-once" "$(lines "$T/req$conc") requests, $got distinct offsets of $N" \
        [ "$got" = $N ] && [ "$(lines "$T/req$conc")" = $N ]
    check "c$conc-per-user-in-offset-order" "$(head -5 "$T/req$conc")" in_order "$T/req$conc"
    eval "max$conc=$(httpd_stat max_in_flight)"
    eval "dur$conc=$(httpd_stat duration)"
done
check one-at-a-time-by-default "max in flight $max1" [ "$max1" = 1 ]
check sixteen-at-once "max in flight $max16 (want at least 8)" [ "$max16" -ge 8 ]
echo "# one partition, 50 ms per request: 160 events in $dur1 s with partitionConcurrency 1," \
     "1600 in $dur16 s with 16 (max in flight $max1 and $max16)"

# ---- orderingKey body:user: the same without partition keys ----------------------------
hub=body-$$
topic "$hub" 1
N=$(lines "$T/events16")
kcat -P -b "$HF_KAFKA_PLAIN" -t "$hub" -z none -l <(cut -f2 "$T/events16") 2>>"$T/kcat.err"
httpd_ctl POST reset >/dev/null
: >"$HTTPD_LOG"
mkconc "$T/appbody" "$hub" 16 "body:user"
timeout $((240 * SLOW)) "$HUBFN" start "$T/appbody" --exit-on-eof --workers 2 \
    >"$T/runbody.out" 2>"$T/runbody.log"
requests "$HTTPD_LOG" >"$T/reqbody"
check body-key-every-event "$(lines "$T/reqbody") requests of $N" [ "$(lines "$T/reqbody")" = $N ]
check body-key-per-user-in-order "$(head -5 "$T/reqbody")" in_order "$T/reqbody"
mb=$(httpd_stat max_in_flight)
check body-key-concurrent "max in flight $mb" [ "$mb" -ge 8 ]

# ---- SIGKILL mid-run, then a restart ---------------------------------------------------
# more events, so that the kill comes while most are still to do
N=3000
events "$T/events.kill" $N
hub=kill-$$
topic "$hub" 1
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events.kill"
httpd_ctl POST reset >/dev/null
: >"$HTTPD_LOG"
mkconc "$T/appkill" "$hub" 16
RUN=1 start_bg "$T/kill1.log" "$HUBFN" start "$T/appkill" --workers 2
pid=$BG
wait_for 120 bash -c "[ \$(grep -c '/users/' '$HTTPD_LOG') -ge 300 ]"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
RUN=2 timeout $((240 * SLOW)) "$HUBFN" start "$T/appkill" --exit-on-eof --workers 2 \
    >"$T/kill2.out" 2>"$T/kill2.log"
rc=$?
check kill-restart-exits-0 "exit $rc: $(tail -3 "$T/kill2.log")" [ $rc = 0 ]
sleep 0.5                      # the answers of the killed run's last requests are logged
requests "$HTTPD_LOG" 1 >"$T/reqkill1"
requests "$HTTPD_LOG" 2 >"$T/reqkill2"
check kill-was-mid-run "$(lines "$T/reqkill1") requests before the kill" \
    [ "$(lines "$T/reqkill1")" -lt $N ]
# The restart ran exactly the events from the checkpoint C on; the first run had reached
# every event before C: nothing lost, nothing before the checkpoint repeated.
check kill-loses-nothing-repeats-only-after-checkpoint "" python3 - "$T/reqkill1" "$T/reqkill2" $N <<'PY'
import sys
r1 = {int(l.split()[2]) for l in open(sys.argv[1])}
r2 = [int(l.split()[2]) for l in open(sys.argv[2])]
n = int(sys.argv[3])
c = min(r2) if r2 else n
assert c > 0, "nothing was checkpointed before the kill"
assert set(r2) == set(range(c, n)), "the restart did not run exactly offsets %d..%d" % (c, n - 1)
missing = set(range(c)) - r1
assert not missing, "checkpoint %d: offsets before it never handled: %s (run 1 reached %d)" % (
    c, sorted(missing)[:5], max(r1))
print("checkpoint at", c, "of", n, file=sys.stderr)
PY
check kill-restart-per-user-in-order "$(head -5 "$T/reqkill2")" in_order "$T/reqkill2" any
httpd_stop >/dev/null
