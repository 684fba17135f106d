#!/usr/bin/env bash
# The http output binding over TLS, on the Kafka test broker against tests/tools/httpserver.py
# with a throwaway CA. Three functions read the same hub in one run:
#   trusted  caFile names the test CA: every event is delivered;
#   system   (40 events of a hub of its own: every failed handshake loads the system's CA
#            store, about 20 ms of CPU each)
#            no caFile, so the system's CAs, which do not know the test CA: the certificate
#            does not verify, which is a permanent failure (retrying cannot fix it): the
#            invocation fails, the function's retry policy runs it once more, then the events
#            go to its $deadLetter hub, none lost, with an error naming the URL and the
#            certificate, and no request reaches the server;
#   h2       the server behind nghttpx offering HTTP/2 by ALPN: every request arrives over
#            HTTP/2, multiplexed on one or two connections.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"
need_kafka

test_ca "$T/ca" || { fail test-ca "$(tail -3 "$T/ca/openssl.log")"; exit 1; }
HTTPD_CACERT=$T/ca/ca.pem
httpd_start tls --tls "$T/ca/server.pem" "$T/ca/server.key" ||
    { fail tls-server "$(cat "$T/tls.err")"; exit 1; }
TLS_URL=$HTTPD_URL TLS_LOG=$HTTPD_LOG
httpd_start h2 --tls "$T/ca/server.pem" "$T/ca/server.key" --h2 tls ||
    { fail h2-server "$(cat "$T/h2.err")"; exit 1; }
H2_URL=$HTTPD_URL H2_LOG=$HTTPD_LOG

N=300 N_SYS=40
hub=tls-$$ sys=tls-sys-$$ dl=tls-dl-$$
topic "$hub" 4 "$sys" 2 "$dl" 1
gen_events "$T/events" $N 16
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events"
gen_events "$T/sys.events" $N_SYS 16
produce "$HF_KAFKA_PLAIN" "$sys" "$T/sys.events"

app=$T/app
mkdir -p "$app/trusted" "$app/system" "$app/h2"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 50 } } }
JSON
echo "{ \"Values\": { \"Conn\": \"$HF_KAFKA_PLAIN\" } }" >"$app/local.settings.json"
# fn NAME URL [BINDING MEMBERS] [MORE BINDINGS] [FUNCTION MEMBERS] [HUB]
fn() {
    cat >"$app/$1/function.json" <<JSON
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "${6:-$hub}",
      "connection": "Conn", "consumerGroup": "g-$1-$hub", "cardinality": "many" },
    { "type": "http", "direction": "out", "name": "crm", "url": "$2/$1",
      "maxRetryTime": "00:00:20" ${3:+, $3} } ${4:+, $4} ] ${5:+, $5} }
JSON
    cat >"$app/$1/handler.lua" <<'LUA'
return function(events, context)
  for _, ev in ipairs(events) do
    context.bindings.crm:send(ev.body, { event = ev, path = "/" .. ev.body.id })
  end
end
LUA
}
fn trusted "$TLS_URL" "\"caFile\": \"$HTTPD_CACERT\""
fn system "$TLS_URL" "" \
    "{ \"type\": \"eventHub\", \"direction\": \"out\", \"name\": \"\$deadLetter\",
       \"eventHubName\": \"$dl\", \"connection\": \"Conn\" }" \
    "\"retry\": { \"strategy\": \"fixedDelay\", \"maxRetryCount\": 1,
                \"delayInterval\": \"00:00:00.200\" }" "$sys"
fn h2 "$H2_URL" "\"caFile\": \"$HTTPD_CACERT\", \"maxConcurrency\": 16"

timeout $((90 * SLOW)) "$HUBFN" start "$app" --exit-on-eof 2>"$T/run.log"
rc=$?
check exits-0 "exit $rc: $(tail -2 "$T/run.log")" [ "$rc" = 0 ]

HTTPD_URL=$TLS_URL
httpd_settle
logcheck trusted-ca-delivers-all delivered "$TLS_LOG" $N --prefix /trusted/
n=$(grep -c '"path": "/system/' "$TLS_LOG")
check system-cas-no-request-reaches-the-server "$n requests logged" [ "$n" = 0 ]
kcat -C -b "$HF_KAFKA_PLAIN" -t "$dl" -e -q -J >"$T/dl.json" 2>>"$T/kcat.err"
s=$(python3 - "$T/dl.json" $N_SYS "$TLS_URL/system" <<'PY'
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n, url = int(sys.argv[2]), sys.argv[3]
ids = set()
for m in msgs:
    h = m["headers"]
    h = dict(zip(h[::2], h[1::2])) if isinstance(h, list) else h
    ids.add(json.loads(m["payload"])["id"])
    e = h.get("hubfn-error", "")
    if h.get("hubfn-failed-binding") != "crm" or url not in e or "certificate" not in e \
            or "hubfn-http-status" in h or h.get("hubfn-attempts") != "2" or "gave up" in e:
        sys.exit("headers: %s" % h)
missing = set(range(1, n + 1)) - ids
print("dead-lettered=%d distinct=%d missing=%d" % (len(msgs), len(ids), len(missing)))
sys.exit(1 if missing else 0)
PY
); rc=$?
check system-cas-dead-lettered-not-lost "$s" [ "$rc" = 0 ]
line=$(grep -v '"level":"info"' "$T/run.log" | grep -m1 "$TLS_URL/system")
check system-cas-error-names-url-and-certificate "$line" grep -q "certificate" <<<"$line"

HTTPD_URL=$H2_URL
httpd_settle
logcheck h2-delivers-all delivered "$H2_LOG" $N --prefix /h2/
s=$(python3 - "$H2_LOG" <<'PY'
import collections, json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
by = collections.Counter((r.get("front") or {}).get("http") for r in rs)
conns = {(r.get("front") or {}).get("conn") for r in rs}
print("by_http=%s client_connections=%d" % (dict(by), len(conns)))
sys.exit(0 if set(by) == {"2"} and len(conns) <= 2 else 1)
PY
); rc=$?
check h2-requests-over-http2-on-few-connections "$s; stats: $(httpd_stat front)" [ "$rc" = 0 ]
