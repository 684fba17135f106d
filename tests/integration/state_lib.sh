# Helpers of the eventHubState tests (260-264), sourced after lib.sh.

# mkstateapp DIR CONNECTION INPUT_HUB STATE_HUB [extra host.json eventHubs json]: an app
# whose function "cnt" counts per key in the state binding "state". For an event
# {"k": K, "seq": S} (S = 1, 2, ... per key, as gen_events writes them) it stores
# K = {n = times counted, seq = S, offset = its offset}; {"k": K, "op": "del"} deletes K;
# {"k": K, "op": "read"} appends "K<TAB>value as JSON" to DIR/read.out. Every event appends
# "partition offset K seq" to DIR/seen.out, and an event whose key's state is behind it
# (seq below S - 1: a write lost, or the state not restored before the first batch)
# appends a line to DIR/gaps.out. STATE_SLOW=SECONDS spins that long per batch.
mkstateapp() {
    local dir=$1 conn=$2 in=$3 st=$4 extra=${5:-}
    mkdir -p "$dir/cnt"
    cat >"$dir/host.json" <<JSON
{ "version": "2.0",
  "extensions": { "eventHubs": { "maxEventBatchSize": 50 ${extra:+, $extra} },
                  "kafka": { "session.timeout.ms": "6000" } },
  "logging": { "logLevel": { "default": "Information" } } }
JSON
    cat >"$dir/local.settings.json" <<JSON
{ "IsEncrypted": false, "Values": { "Conn": "$conn", "IN": "$in", "ST": "$st" } }
JSON
    cat >"$dir/cnt/function.json" <<JSON
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "%IN%",
    "connection": "Conn", "consumerGroup": "g-$in", "cardinality": "many" },
  { "type": "eventHubState", "direction": "inout", "name": "state", "eventHubName": "%ST%",
    "connection": "Conn" } ] }
JSON
    cat >"$dir/cnt/handler.lua" <<LUA
local json = require("hubfn").json
local function open(name)
  local f = assert(io.open("$dir/" .. name, "a")); f:setvbuf("no"); return f
end
local seen, gaps, reads = open("seen.out"), open("gaps.out"), open("read.out")
local slow = tonumber(os.getenv("STATE_SLOW") or "")
return function(events, context)
  local state = context.bindings.state
  local lines = {}
  for _, ev in ipairs(events) do
    local b, k = ev.body, ev.body.k
    if b.op == "del" then
      state:delete(k)
    elseif b.op == "read" then
      local v = state:get(k)
      reads:write(k .. "\t" .. (v == nil and "nil" or json.encode(v)) .. "\n")
    else
      local c = state:get(k) or { n = 0, seq = 0 }
      if c.seq < b.seq - 1 then
        gaps:write(("%d %d %s seq %d found %d\n"):format(ev.partition, ev.offset, k, b.seq, c.seq))
      end
      state:set(k, { n = c.n + 1, seq = b.seq, offset = ev.offset })
    end
    lines[#lines + 1] = ("%d %d %s %s\n"):format(ev.partition, ev.offset, k, tostring(b.seq))
  end
  seen:write(table.concat(lines))
  if slow then local t = os.clock() + slow; while os.clock() < t do end end
end
LUA
}

# state_dump HUB FILE: the hub's records as "KEY<TAB>VALUE" lines, NULL for a tombstone
state_dump() {
    kcat -C -b "$HF_KAFKA_PLAIN" -t "$1" -e -q -Z -f '%k\t%s\n' >"$2" 2>>"$T/kcat.err"
}

# state_verify EVENTS INPUT_HUB DUMP MODE: check the last state of every key against the
# events (key<TAB>{"k","seq"} lines as gen_events writes them) and the input hub's offsets.
# MODE exact: n equals the events of the key; atleast: n is at least that (replays count
# again). seq and offset must be the key's last, exactly. Prints "keys=N replays=R" and
# the first problems; exits 1 on any.
state_verify() {
    kcat -C -b "$HF_KAFKA_PLAIN" -t "$2" -e -q -f '%k\t%o\n' >"$T/offsets" 2>>"$T/kcat.err"
    python3 - "$1" "$T/offsets" "$3" "$4" <<'PY'
import json, sys
events, offsets, dump, mode = sys.argv[1:5]
count, last_seq = {}, {}
for line in open(events):
    k, body = line.rstrip("\n").split("\t", 1)
    count[k] = count.get(k, 0) + 1
    last_seq[k] = json.loads(body)["seq"]
last_off = {}
for line in open(offsets):
    k, o = line.rstrip("\n").split("\t")
    last_off[k] = max(last_off.get(k, -1), int(o))
state = {}
for line in open(dump):
    k, v = line.rstrip("\n").split("\t", 1)
    if v == "NULL":
        state.pop(k, None)
    else:
        state[k] = json.loads(v)
problems, replays = [], 0
for k in sorted(count):
    s = state.get(k)
    if s is None:
        problems.append("%s: no state" % k)
        continue
    if s["n"] < count[k] or (mode == "exact" and s["n"] != count[k]):
        problems.append("%s: n=%d, %d events" % (k, s["n"], count[k]))
    replays += s["n"] - count[k]
    if s["seq"] != last_seq[k]:
        problems.append("%s: seq=%d, last %d" % (k, s["seq"], last_seq[k]))
    if s["offset"] != last_off[k]:
        problems.append("%s: offset=%d, last %d" % (k, s["offset"], last_off[k]))
print("keys=%d replays=%d %s" % (len(count), replays, "; ".join(problems[:5])))
sys.exit(1 if problems else 0)
PY
}
