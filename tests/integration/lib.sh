# Shared helpers of the integration tests (bash). Each test script sources this file, runs
# its checks and prints one "ok - NAME" or "not ok - NAME: why" line per check.
set -u
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-build}
HUBFN=${HUBFN:-$TOP/$BUILD/hubfn}
SCRIPT=$(basename "$0" .sh)
T=$(mktemp -d "${HF_TEST_TMP:-/tmp}/$SCRIPT.XXXXXX")
# Timeouts stretch under sanitizers and slow machines.
SLOW=${HF_TEST_SLOW:-1}
case "$BUILD" in *san*) SLOW=$((SLOW * 3)) ;; esac
# Embedded brokers take any free port unless a test names one: tests run beside each
# other's brokers and beside `make run` (which takes the default port).
export HUBFN_EMBEDDED_PORT=0
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done' EXIT

ok() { echo "ok - $SCRIPT/$1"; }
fail() { echo "not ok - $SCRIPT/$1: $2"; }
# check NAME WHY CMD...: ok when CMD succeeds
check() {
    local name=$1 why=$2; shift 2
    if "$@"; then ok "$name"; else fail "$name" "$why"; fi
}

need_kafka() {
    local envf=${HF_KAFKA_DIR:-/tmp/hubfn-kafka}/env
    if ! "$TOP/tests/kafka/broker.sh" status >/dev/null 2>&1; then
        "$TOP/tests/kafka/broker.sh" start >/dev/null 2>&1 || { fail kafka "cannot start Kafka"; exit 1; }
    fi
    # shellcheck source=/dev/null
    . "$envf"
}

# topic NAME PARTITIONS: a fresh hub on the real broker
# (tried twice: a broker busy with other tests' clients may time the admin request out)
topic() {
    "$TOP/tests/kafka/broker.sh" topic "$@" >/dev/null 2>>"$T/topic.err" ||
        "$TOP/tests/kafka/broker.sh" topic "$@" >/dev/null 2>>"$T/topic.err"
}

# state_topic NAME PARTITIONS [--config KEY=VALUE]...: a fresh compacted hub (a state hub)
state_topic() {
    local name=$1 n=$2; shift 2
    topic --config cleanup.policy=compact "$@" "$name" "$n"
}

# produce BOOTSTRAP TOPIC FILE: key<TAB>value lines, keyed produce with kcat
produce() {
    kcat -P -b "$1" -t "$2" -K $'\t' -z none -X linger.ms=5 -l "$3" 2>>"$T/kcat.err"
}

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds; 1 on timeout
wait_for() {
    local limit=$(( $1 * SLOW * 5 )) i=0; shift
    until "$@" 2>/dev/null; do
        i=$((i + 1)); [ $i -ge $limit ] && return 1
        sleep 0.2
    done
}

# free_port: a port on 127.0.0.1 nothing listens on (when asked)
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# mkapp DIR CONNECTION HUB [cardinality] [extra host.json eventHubs json]: an app whose
# function "rec" appends "partition offset id" per event to DIR/rec.out
mkapp() {
    local dir=$1 conn=$2 hub=$3 card=${4:-many} extra=${5:-}
    mkdir -p "$dir/rec"
    cat >"$dir/host.json" <<JSON
{ "version": "2.0",
  "extensions": { "eventHubs": { "maxEventBatchSize": 50 ${extra:+, $extra} } },
  "logging": { "logLevel": { "default": "Information" } } }
JSON
    cat >"$dir/local.settings.json" <<JSON
{ "IsEncrypted": false, "Values": { "Conn": "$conn", "HUB": "$hub" } }
JSON
    cat >"$dir/rec/function.json" <<JSON
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "%HUB%", "connection": "Conn", "consumerGroup": "g-$hub",
    "cardinality": "$card" } ] }
JSON
    cat >"$dir/rec/handler.lua" <<LUA
local out = assert(io.open("$dir/rec.out", "a"))
out:setvbuf("no")
local sizes = assert(io.open("$dir/batches.out", "a"))
sizes:setvbuf("no")
return function(events, context)
  if events[1] == nil and events.offset then events = { events } end
  local lines = {}
  for _, ev in ipairs(events) do
    local id = type(ev.body) == "table" and ev.body.id or ev.body
    lines[#lines + 1] = ev.partition .. " " .. ev.offset .. " " .. tostring(id) .. "\n"
  end
  out:write(table.concat(lines))
  sizes:write(#events .. "\n")
  if os.getenv("REC_SLOW") then
    local t = os.clock() + tonumber(os.getenv("REC_SLOW")); while os.clock() < t do end
  end
end
LUA
}

# gen_events FILE N [KEYS]: N JSON events {"id":i,"k":"kK","seq":j} keyed by k
gen_events() {
    awk -v n="$2" -v keys="${3:-16}" 'BEGIN { for (i = 1; i <= n; i++) { k = i % keys;
        seq[k]++; printf "k%d\t{\"id\":%d,\"k\":\"k%d\",\"seq\":%d}\n", k, i, k, seq[k] } }' >"$1"
}

# start_bg LOG CMD...: start a background process, remember its pid in BG
start_bg() {
    local log=$1; shift
    "$@" >"$log.out" 2>"$log" &
    BG=$!
    PIDS+=("$BG")
}
