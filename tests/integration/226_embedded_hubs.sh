#!/usr/bin/env bash
# The embedded broker has the hubs the app names and those of --hub, on a fixed port:
# `hubfn send embedded HUB` reaches it across restarts without an address; a hub it lacks is
# refused as Event Hubs refuses it (hubfn send says which hubs it has; kcat, with the
# commands hubfn start prints, is refused and creates nothing); a port in use is one line.
. "$(dirname "$0")/lib.sh"

# fwd: orders -> results; audit: results -> %AUDIT_HUB% (audit-log), one line per event.
app=$T/app
mkdir -p "$app/fwd" "$app/audit"
echo '{ "version": "2.0" }' >"$app/host.json"
echo '{ "Values": { "Conn": "embedded", "AUDIT_HUB": "audit-log" } }' >"$app/local.settings.json"
cat >"$app/fwd/function.json" <<'JSON'
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "orders",
    "connection": "Conn", "consumerGroup": "fwd", "cardinality": "many" },
  { "type": "eventHub", "direction": "out", "name": "out", "eventHubName": "results",
    "connection": "Conn" } ] }
JSON
echo 'return function(events, context)
  for _, ev in ipairs(events) do context.bindings.out:send(ev.body) end
end' >"$app/fwd/handler.lua"
cat >"$app/audit/function.json" <<'JSON'
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "results",
    "connection": "Conn", "consumerGroup": "audit", "cardinality": "many" },
  { "type": "eventHub", "direction": "out", "name": "log", "eventHubName": "%AUDIT_HUB%",
    "connection": "Conn" } ] }
JSON
cat >"$app/audit/handler.lua" <<LUA
local out = assert(io.open("$T/audit.out", "a"))
out:setvbuf("no")
return function(events, context)
  for _, ev in ipairs(events) do
    out:write(tostring(ev.body.id), "\n")
    context.bindings.log:send(ev.body)
  end
end
LUA
seq 1 20 | sed 's/.*/{"id":&}/' >"$T/events.jsonl"

# host NAME [ARGS]: hubfn start APP --embedded ARGS in the background, until its broker
# listens; its log in $T/NAME.log, its pid in $HOST
host() {
    local name=$1; shift
    start_bg "$T/$name.log" "$HUBFN" start "$app" --embedded --log-format text "$@"
    HOST=$BG
    wait_for 20 grep -q "hosting 2 functions" "$T/$name.log"
}
stop() { kill -TERM "$HOST" 2>/dev/null; wait "$HOST" 2>/dev/null; }
# send NAME HUB [VAR=VALUE...]: hubfn send embedded HUB events.jsonl; exit code in RC
send() {
    local name=$1 hub=$2; shift 2
    env "$@" timeout $((60 * SLOW)) "$HUBFN" send embedded "$hub" "$T/events.jsonl" \
        2>"$T/$name.err" >/dev/null
    RC=$?
}
topics() { kcat -L -b "127.0.0.1:$port" 2>/dev/null | sed -n 's/^ *topic "\([^"]*\)".*/\1/p' | sort | tr '\n' ' '; }
partitions() { kcat -L -b "127.0.0.1:$port" -t "$1" 2>/dev/null | grep -c 'partition [0-9]'; }

port=$(free_port)
export HUBFN_EMBEDDED_PORT=$port

# --- first run: HUBFN_EMBEDDED_PORT ---
host first
check fixed-address "$(head -3 "$T/first.log")" \
    grep -q "embedded broker listening at 127.0.0.1:$port\$" "$T/first.log"
send first-send orders
check send-embedded "exit $RC: $(cat "$T/first-send.err")" [ "$RC" = 0 ]
wait_for 30 bash -c "[ \$(cat '$T/audit.out' 2>/dev/null | wc -l) -ge 20 ]"
check outputs-reach-app-hubs "$(lines "$T/audit.out") audited" [ "$(lines "$T/audit.out")" = 20 ]
audited() { kcat -C -b "127.0.0.1:$port" -t audit-log -e -q 2>/dev/null | wc -l; }
wait_for 10 bash -c "[ \$(kcat -C -b 127.0.0.1:$port -t audit-log -e -q | wc -l) -ge 20 ]"
n=$(audited)
check output-hub-from-setting "audit-log holds $n" [ "$n" = 20 ]
check app-hubs-only "$(topics)" [ "$(topics)" = "audit-log orders results " ]

# a hub the app does not name: one line, exit 1, and it is not created
send typo ordres
want="hubfn send: hub ordres does not exist in the embedded broker (its hubs: audit-log, orders, results; add more with hubfn start --embedded --hub NAME)"
check send-unknown-hub-exit-1 "exit $RC: $(cat "$T/typo.err")" [ "$RC" = 1 ]
check send-unknown-hub-line "$(cat "$T/typo.err")" bash -c \
    "[ \"\$(grep -c '^hubfn send:' '$T/typo.err')\" = 1 ] && grep -qxF '$want' '$T/typo.err'"

# kcat with the commands hubfn start printed, on hubs that do not exist
feed=$(sed -n 's/.*feed fwd: .*(or: \(kcat .*\))$/\1/p' "$T/first.log")
read=$(sed -n 's/.*read results: \(kcat .*\)$/\1/p' "$T/first.log")
check prints-kcat-commands "feed: $feed; read: $read" \
    [ "$feed" = "kcat -P -b 127.0.0.1:$port -t orders -l events.jsonl" ]
# (topic.metadata.propagation.max.ms: kcat reports an unknown hub after 2 s, not 30)
(cd "$T" && eval "timeout $((60 * SLOW)) ${feed/-t orders/-t nohub1} \
    -X topic.metadata.propagation.max.ms=2000" >/dev/null 2>"$T/kcat-feed.err")
rc=$?
check kcat-feed-refused "exit $rc: $(cat "$T/kcat-feed.err")" bash -c \
    "[ $rc != 0 ] && grep -q 'Unknown topic or partition' '$T/kcat-feed.err'"
eval "timeout $((30 * SLOW)) ${read/-t results/-t nohub2} -e" >/dev/null 2>"$T/kcat-read.err"
rc=$?
check kcat-read-refused "exit $rc: $(cat "$T/kcat-read.err")" bash -c \
    "[ $rc != 0 ] && grep -q 'Unknown topic or partition' '$T/kcat-read.err'"
kcat -L -b "127.0.0.1:$port" -t nohub3 >/dev/null 2>&1
# a client too old to say a hub may not be created (Metadata v0) is refused
kcat -L -m 3 -b "127.0.0.1:$port" -t nohub4 -X api.version.request=false \
    -X broker.version.fallback=0.9.0 >/dev/null 2>&1
check nothing-created "$(topics)" [ "$(topics)" = "audit-log orders results " ]
# every connection stays on the fixed port: the broker names it in its metadata
check advertises-fixed-port "$(kcat -L -b "127.0.0.1:$port" 2>&1 | grep 'broker 1 at')" \
    bash -c "kcat -L -b 127.0.0.1:$port 2>/dev/null | grep -q 'broker 1 at 127.0.0.1:$port\$'"

# a second broker on the same port: one line, exit 1
HUBFN_EMBEDDED_PORT=0 timeout $((30 * SLOW)) "$HUBFN" start "$app" --embedded \
    --embedded-port "$port" --log-format text 2>"$T/second.log" >/dev/null
rc=$?
check port-in-use "exit $rc: $(cat "$T/second.log")" bash -c "[ $rc = 1 ] && grep -q \
    \"the embedded broker's port $port is in use (another hubfn start --embedded?); pick another with --embedded-port\" '$T/second.log'"
stop

# nothing listening: one line, exit 1
send none orders
check not-listening "exit $RC: $(cat "$T/none.err")" bash -c "[ $RC = 1 ] && grep -qxF \
    'hubfn send: no embedded broker is listening on 127.0.0.1:$port (start one with hubfn start --embedded)' '$T/none.err'"

# --- second run: --embedded-port, --hub: the same address, more hubs ---
HUBFN_EMBEDDED_PORT=0 host again --embedded-port "$port" --hub extra --hub orders:2
check same-address-again "$(head -3 "$T/again.log")" \
    grep -q "embedded broker listening at 127.0.0.1:$port\$" "$T/again.log"
send again-send orders
check send-embedded-after-restart "exit $RC: $(cat "$T/again-send.err")" [ "$RC" = 0 ]
wait_for 30 bash -c "[ \$(cat '$T/audit.out' 2>/dev/null | wc -l) -ge 40 ]"
check handled-after-restart "$(lines "$T/audit.out") audited" [ "$(lines "$T/audit.out")" = 40 ]
send extra extra
check hub-option-creates "exit $RC: $(cat "$T/extra.err")" [ "$RC" = 0 ]
check hub-option-partitions "orders: $(partitions orders), extra: $(partitions extra)" \
    [ "$(partitions orders) $(partitions extra)" = "2 4" ]
check hubs-with-option "$(topics)" [ "$(topics)" = "audit-log extra orders results " ]
stop

# --- the default port, when it is free: hubfn send embedded needs no setting at all ---
if python3 -c 'import socket; socket.create_connection(("127.0.0.1", 9192), 1)' 2>/dev/null; then
    ok "default-port # SKIP 9192 is in use here"
else
    env -u HUBFN_EMBEDDED_PORT "$HUBFN" start "$app" --embedded --log-format text \
        >/dev/null 2>"$T/default.log" &
    HOST=$!
    PIDS+=("$HOST")
    wait_for 20 grep -q "hosting 2 functions" "$T/default.log"
    send default orders -u HUBFN_EMBEDDED_PORT
    check default-port "exit $RC: $(cat "$T/default.err"); $(grep -m2 embedded "$T/default.log")" \
        bash -c "[ $RC = 0 ] && grep -q 'embedded broker listening at 127.0.0.1:9192\$' '$T/default.log' \
                 && grep -q 'feed fwd: hubfn send embedded orders events.jsonl' '$T/default.log'"
    stop
fi

# --embedded-port 0: any free port, printed
HUBFN_EMBEDDED_PORT=0 host any
check any-free-port "$(grep -m1 'listening at' "$T/any.log")" \
    grep -q "embedded broker listening at 127.0.0.1:[1-9][0-9]*\$" "$T/any.log"
stop
