# Helpers for the integration tests that talk to tests/tools/httpserver.py, the scriptable
# HTTP server on loopback. Source lib.sh first, then this file.
#
#   test_ca DIR                  a throwaway CA and a server certificate for 127.0.0.1 and
#                                localhost: DIR/ca.pem, DIR/server.pem, DIR/server.key
#   httpd_start NAME [ARGS...]   starts the server (ARGS as httpserver.py takes them), logs
#                                requests to $T/NAME.jsonl; sets HTTPD_URL, HTTPD_PID and
#                                HTTPD_LOG; 1 when it did not come up (its stderr: $T/NAME.err)
#   httpd_stop [PID]             SIGTERM, waits for it to exit (default $HTTPD_PID) and
#                                returns its exit status (SIGKILL after 5 s: 137)
#   httpd_ctl METHOD PATH [JSON] a control request to $HTTPD_URL/_control/PATH; prints the
#                                answer; 1 unless it answered 200
#   httpd_script JSON            replaces the script (a JSON list of rules)
#   httpd_stat FIELD             prints one field of the stats (a dotted path: by_status.429);
#                                0 when it is absent
#   json_get FILE|- FIELD        prints a dotted field of a JSON document
#   httpd_settle [SECONDS]       waits until every request that arrived was answered (slow
#                                answers are logged when written); 1 after SECONDS (10)
#   http_app DIR HUB BINDING [CARD] [EVENTHUBS] [FUNCTION] [BINDINGS]
#                                an app on the Kafka test broker ($HF_KAFKA_PLAIN) whose
#                                function "fwd" reads HUB (consumer group g-HUB, cardinality
#                                CARD, default many) and sends each event's body through its
#                                http output binding "crm" with { event = ev, path =
#                                "/PARTITION/ID" }; BINDING: the binding's other keys (JSON
#                                members: url, ...); EVENTHUBS: more members of host.json's
#                                extensions.eventHubs; FUNCTION: more members of function.json
#                                (a retry policy); BINDINGS: more bindings (a $deadLetter)
#   httplog CMD ARGS...          tests/integration/httplog.py: checks of a request log
#   logcheck NAME CMD ARGS...    check NAME: `httplog CMD ARGS...` holds (its figures are
#                                the reason when it does not)
# Set HTTPD_CACERT to the CA file when the server speaks TLS.

HTTPD=${HTTPD:-$TOP/tests/tools/httpserver.py}
HTTPD_CACERT=${HTTPD_CACERT:-}

test_ca() {
    local dir=$1
    mkdir -p "$dir"
    (
        cd "$dir" || exit 1
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout ca.key -out ca.pem -days 2 -subj "/CN=hubfn test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" &&
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout server.key -out server.csr -subj "/CN=127.0.0.1" &&
        printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
            "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" \
            "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >server.ext &&
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -days 2 \
            -set_serial "0x$(openssl rand -hex 8)" -extfile server.ext -out server.pem
    ) >"$dir/openssl.log" 2>&1
}

httpd_start() {
    local name=$1; shift
    HTTPD_LOG=$T/$name.jsonl
    : >"$HTTPD_LOG"
    python3 "$HTTPD" --log "$HTTPD_LOG" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    HTTPD_PID=$!
    PIDS+=("$HTTPD_PID")
    HTTPD_URL=
    local i=0
    while [ $i -lt $((50 * SLOW)) ]; do
        HTTPD_URL=$(sed -n 's/^listening \([^ ]*\).*/\1/p' "$T/$name.out" 2>/dev/null)
        [ -n "$HTTPD_URL" ] && return 0
        kill -0 "$HTTPD_PID" 2>/dev/null || return 1
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

httpd_stop() {
    local pid=${1:-$HTTPD_PID} i=0
    kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return; }
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

httpd_ctl() {
    local method=$1 path=$2 data=${3:-} code
    local args=(-s -o "$T/.httpd_ctl" -w '%{http_code}' --max-time 30 -X "$method")
    [ -n "$HTTPD_CACERT" ] && args+=(--cacert "$HTTPD_CACERT")
    [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
    code=$(curl "${args[@]}" "$HTTPD_URL/_control/$path")
    cat "$T/.httpd_ctl"
    [ "$code" = 200 ]
}

httpd_script() { httpd_ctl POST script "$1" >/dev/null; }

json_get() {
    python3 -c '
import json, sys
v = json.load(sys.stdin if sys.argv[1] == "-" else open(sys.argv[1]))
for part in sys.argv[2].split(".") if sys.argv[2] else []:
    v = v.get(part, 0) if isinstance(v, dict) else v[int(part)]
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1" "$2"
}

httpd_settle() {
    local n; n=$(httpd_stat requests) || return 1
    httpd_ctl GET "wait?requests=$n&timeout=$((${1:-10} * SLOW))" >/dev/null
}

httpd_stat() { httpd_ctl GET stats | json_get - "$1"; }

http_app() {
    local dir=$1 hub=$2 binding=$3 card=${4:-many} eh=${5:-} fn=${6:-} more=${7:-}
    mkdir -p "$dir/fwd"
    cat >"$dir/host.json" <<JSON
{ "version": "2.0",
  "extensions": { "eventHubs": { "maxEventBatchSize": 50 ${eh:+, $eh} },
                  "kafka": { "session.timeout.ms": "6000" } } }
JSON
    echo "{ \"Values\": { \"Conn\": \"$HF_KAFKA_PLAIN\" } }" >"$dir/local.settings.json"
    cat >"$dir/fwd/function.json" <<JSON
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "$hub",
      "connection": "Conn", "consumerGroup": "g-$hub", "cardinality": "$card" },
    { "type": "http", "direction": "out", "name": "crm", $binding } ${more:+, $more} ]
  ${fn:+, $fn} }
JSON
    cat >"$dir/fwd/handler.lua" <<'LUA'
return function(events, context)
  if events.offset then events = { events } end
  for _, ev in ipairs(events) do
    context.bindings.crm:send(ev.body, { event = ev,
                                         path = "/" .. ev.partition .. "/" .. ev.body.id })
  end
end
LUA
}

httplog() { python3 "$TOP/tests/integration/httplog.py" "$@"; }

logcheck() {
    local name=$1 out rc; shift
    out=$(httplog "$@"); rc=$?
    check "$name" "$out" [ "$rc" = 0 ]
}
