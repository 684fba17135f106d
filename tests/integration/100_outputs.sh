#!/usr/bin/env bash
# Output bindings through a real broker: every input routed to an output hub exactly once,
# with the partition key the handler chose, the same key always in the same partition (the
# one Kafka's Java partitioner picks); and with the broker down for seconds mid-run, every
# input still produces its output.
. "$(dirname "$0")/lib.sh"
need_kafka

mkroute() {  # mkroute DIR IN OUT
    local dir=$1
    mkdir -p "$dir/route"
    cat >"$dir/host.json" <<'JSON'
{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 100 } } }
JSON
    cat >"$dir/local.settings.json" <<JSON
{ "Values": { "Conn": "$HF_KAFKA_PLAIN" } }
JSON
    cat >"$dir/route/function.json" <<JSON
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "$2",
    "connection": "Conn", "consumerGroup": "route-$2", "cardinality": "many" },
  { "type": "eventHub", "direction": "out", "name": "out", "eventHubName": "$3",
    "connection": "Conn" } ] }
JSON
    cat >"$dir/route/handler.lua" <<'LUA'
return function(events, context)
  for _, ev in ipairs(events) do
    context.bindings.out:send({ id = ev.body.id, k = ev.body.k, from = ev.partition },
                              { partitionKey = "user-" .. ev.body.k,
                                properties = { source = "route" } })
  end
  if os.getenv("ROUTE_SLOW") then
    local t = os.clock() + tonumber(os.getenv("ROUTE_SLOW")); while os.clock() < t do end
  end
end
LUA
}

# read_out HUB FILE: every message of the hub as "partition<TAB>key<TAB>headers<TAB>value"
read_out() {
    kcat -C -b "$HF_KAFKA_PLAIN" -t "$1" -e -q -f '%p\t%k\t%h\t%s\n' >"$2" 2>>"$T/kcat.err"
}

in=route-in-$$ out=route-out-$$
topic "$in" 4 "$out" 4
gen_events "$T/events" 5000 40
produce "$HF_KAFKA_PLAIN" "$in" "$T/events"
mkroute "$T/app" "$in" "$out"
timeout $((90 * SLOW)) "$HUBFN" start "$T/app" --exit-on-eof 2>"$T/run.log"
rc=$?
check route-exits-0 "exit $rc: $(tail -2 "$T/run.log")" [ "$rc" = 0 ]
read_out "$out" "$T/out"
check route-delivers-all "$(tail -1 "$T/run.log")" grep -q "5000 outputs delivered" "$T/run.log"
check outputs-exactly-once "$(wc -l <"$T/out") messages" python3 - "$T/out" <<'PY'
import json, sys
ids = [json.loads(l.split("\t", 3)[3])["id"] for l in open(sys.argv[1])]
assert len(ids) == 5000 and len(set(ids)) == 5000, (len(ids), len(set(ids)))
PY
check keys-as-chosen "keys differ from the handler's" python3 - "$T/out" <<'PY'
import json, re, sys
for l in open(sys.argv[1]):
    p, k, h, v = l.rstrip("\n").split("\t", 3)
    assert k == "user-" + json.loads(v)["k"], l
    # the handler's property, and the invocation's traceparent (docs/operations.md "Tracing")
    props = dict(kv.split("=", 1) for kv in h.split(","))
    assert props.pop("source") == "route", l
    assert re.match(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$", props.pop("traceparent")), l
    assert not props, l
PY
check same-key-same-partition "a key spans partitions" python3 - "$T/out" <<'PY'
import sys
seen = {}
for l in open(sys.argv[1]):
    p, k = l.split("\t")[:2]
    assert seen.setdefault(k, p) == p, (k, p, seen[k])
PY
check partitioned-like-kafka-clients "partition differs from murmur2" python3 - "$T/out" "$TOP/tests/integration" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from murmur2 import partition
for l in open(sys.argv[1]):
    p, k = l.split("\t")[:2]
    assert partition(k, 4) == int(p), (k, p)
PY

# --- the broker goes down for a few seconds mid-run
in=outage-in-$$ out=outage-out-$$
N=20000
topic "$in" 4 "$out" 4
gen_events "$T/events2" $N 64
produce "$HF_KAFKA_PLAIN" "$in" "$T/events2"
mkroute "$T/app2" "$in" "$out"
ROUTE_SLOW=0.06 start_bg "$T/outage.log" timeout $((180 * SLOW)) "$HUBFN" start "$T/app2" --exit-on-eof --workers 2
pid=$BG
wait_for 60 grep -q "assigned partitions" "$T/outage.log"
sleep 2
"$TOP/tests/kafka/broker.sh" restart 3 >"$T/restart.log" 2>&1
restarted=$?
wait "$pid"
rc=$?
check outage-broker-restarted "$(tail -3 "$T/restart.log")" [ "$restarted" = 0 ]
check outage-exits-0 "exit $rc: $(tail -3 "$T/outage.log")" [ "$rc" = 0 ]
read_out "$out" "$T/out2"
stats=$(python3 - "$T/out2" $N <<'PY'
import json, sys
ids = [json.loads(l.split("\t", 3)[3])["id"] for l in open(sys.argv[1])]
n = int(sys.argv[2])
print(f"outputs={len(ids)} missing={len(set(range(1, n + 1)) - set(ids))} dups={len(ids) - len(set(ids))}")
PY
)
check outage-loses-nothing "$stats" grep -q "missing=0 " <<<"$stats "
check outage-was-mid-run "the run had finished before the outage: $(grep -c 'retrying\|Disconnected\|down' "$T/outage.log") outage lines" \
    grep -qiE "retrying|disconnect|down" "$T/outage.log"
