#!/usr/bin/env bash
# hubfn capture -> hubfn run --captured reproduces what the trigger hands a handler: the
# coordinates (partition, offset, sequenceNumber, enqueuedTime), keys, headers and bodies
# byte for byte (binary, invalid UTF-8, NUL bytes, empty and null values, empty and binary
# keys, null and repeated headers), the body decoded as the trigger decodes it, and batches
# of at most maxEventBatchSize events that never mix partitions. The live trigger
# (hubfn start --exit-on-eof) on the same hub is the reference. Capture moves no checkpoint.
. "$(dirname "$0")/lib.sh"
need_kafka

hub=caprun-$$
topic "$hub" 3
app=$T/app
mkdir -p "$app/raw" "$app/dec"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 4 } },
  "logging": { "logLevel": { "default": "Warning" } } }
JSON
cat >"$app/local.settings.json" <<JSON
{ "Values": { "Conn": "$HF_KAFKA_PLAIN", "HUB": "$hub" } }
JSON
for f in raw dec; do
    dt=""; [ $f = raw ] && dt=', "dataType": "binary"'
    cat >"$app/$f/function.json" <<JSON
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "%HUB%", "connection": "Conn", "consumerGroup": "g-$f-$hub",
    "cardinality": "many" $dt } ] }
JSON
done
# raw: every event's coordinates, key, headers and body bytes (hex), one line each, and one
# line per batch: its size and its partitions.
cat >"$app/raw/handler.lua" <<'LUA'
local function hex(s)
  return "x" .. (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
return function(events, context)
  local out = assert(io.open(os.getenv("OUT") .. ".events", "a"))
  local parts, seen = {}, {}
  for _, ev in ipairs(events) do
    local props = {}
    for k, v in pairs(ev.properties) do props[#props + 1] = k .. "=" .. (v and hex(v) or "false") end
    table.sort(props)
    out:write(string.format("%d %d %d %s %s {%s} %s\n", ev.partition, ev.offset,
      ev.sequenceNumber, tostring(ev.enqueuedTime),
      ev.partitionKey and hex(ev.partitionKey) or "nil", table.concat(props, ","), hex(ev.body)))
    if not seen[ev.partition] then seen[ev.partition] = true; parts[#parts + 1] = ev.partition end
  end
  out:close()
  local b = assert(io.open(os.getenv("OUT") .. ".batches", "a"))
  b:write(#events, " ", table.concat(parts, ","), " ",
          context.triggerMetadata.partitionContext.partitionId, "\n")
  b:close()
end
LUA
# dec: the body as the JSON trigger decodes it
cat >"$app/dec/handler.lua" <<'LUA'
local json = require("hubfn").json
return function(events)
  local out = assert(io.open(os.getenv("OUT") .. ".decoded", "a"))
  for _, ev in ipairs(events) do
    out:write(ev.partition, " ", ev.offset, " ", tostring(ev.decodeError), " ",
              json.encode(ev.body), " ", json.encode(ev.activation and ev.activation.realized or false), "\n")
  end
  out:close()
end
LUA

# The events: 10 in partition 0, 3 in 1, 6 in 2, with explicit timestamps, and the lines
# the raw handler must write for them.
python3 - "$T" <<'PY'
import datetime, sys, time
t = sys.argv[1]
base = (int(time.time()) - 600) * 1000
def x(b): return "-" if b is None else "x" + b.hex()
bodies = [
    b'{"id":1,"name":"Zo\xc3\xab"}',
    b'\x00\xff\x10\x80',                       # binary with NUL, invalid UTF-8
    b'',                                       # empty
    b'not json {',
    b'{"x":"\xc3("}',                          # JSON with invalid UTF-8 inside a string
    None,                                      # null value (tombstone)
    b'{"segmentMembership":{"ups":{"s1":{"status":"realized"}}},"identityMap":{"ecid":[{"id":"e1"}]}}',
    b'line\nbreak\ttab "quote" \\ back\x7f',
    b'\xef\xbb\xbf{"bom":true}',
    b'[1,2,3]',
]
keys = [b'u1', None, b'', b'\xff\x00', b'k\xc3\xa9y', b't']
headers = [
    [("source", b"web")],
    [("bin", b"\xff\xfe"), ("n", None)],
    [],
    [("a", b"1"), ("a", b"2")],
    [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), ("e", b"")],
    [("nul", b"a\x00b")],
]
counts = {0: 10, 1: 3, 2: 6}
spec, expect, offsets, i = [], [], {0: 0, 1: 0, 2: 0}, 0
for p in (0, 2, 1):
    for j in range(counts[p]):
        body, key, hdrs = bodies[i % len(bodies)], keys[i % len(keys)], headers[i % len(headers)]
        ts = base + i * 1000 + 7
        i += 1
        spec.append(" ".join([str(p), str(ts), x(key), x(body)] + ["%s=%s" % (n, x(v)) for n, v in hdrs]))
        props = {}
        for n, v in hdrs:
            props[n] = "false" if v is None else x(v)
        when = datetime.datetime.fromtimestamp(ts / 1000, datetime.timezone.utc)
        iso = when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ts % 1000)
        o = offsets[p]; offsets[p] += 1
        expect.append("%d %d %d %s %s {%s} %s" % (p, o, o, iso, "nil" if key is None else x(key),
              ",".join(sorted("%s=%s" % kv for kv in props.items())), x(body or b"")))
open(t + "/spec", "w").write("\n".join(spec) + "\n")
open(t + "/expect", "w").write("\n".join(sorted(expect)) + "\n")
PY
"$TOP/$BUILD/tools/produce_raw" "$HF_KAFKA_PLAIN" "$hub" <"$T/spec" 2>"$T/produce.err"
rc=$?
check produced "$(cat "$T/produce.err")" [ "$rc" = 0 ]

# Capture the whole hub.
"$HUBFN" capture "$HF_KAFKA_PLAIN" "$hub" --output "$T/cap.jsonl" 2>"$T/capture.log"
rc=$?
check capture-exits-0 "exit $rc: $(cat "$T/capture.log")" [ "$rc" = 0 ]
check capture-says-what "$(cat "$T/capture.log")" grep -q "^captured 19 events from $hub (3 partitions) in .* to $T/cap.jsonl" "$T/capture.log"
check capture-one-record-per-event "$(lines "$T/cap.jsonl") lines" [ "$(lines "$T/cap.jsonl")" = 19 ]
check capture-in-partition-order "$(cut -c1-40 "$T/cap.jsonl")" python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [(r["partition"], r["offset"]) for r in rows] == sorted((r["partition"], r["offset"]) for r in rows)
assert all(set(r) >= {"partition", "offset", "enqueuedTime", "properties"} for r in rows)
assert all(("partitionKey" in r) != ("partitionKeyBase64" in r) for r in rows)
assert sum("bodyBase64" in r for r in rows) >= 3 and sum("partitionKeyBase64" in r for r in rows) >= 1
assert any("propertiesBase64" in r for r in rows) and any(r.get("body", 1) is None for r in rows)
' "$T/cap.jsonl"
# Setting names resolve as hubfn send resolves them (./local.settings.json Values).
(cd "$app" && "$HUBFN" capture Conn "$hub" --partition 1 >"$T/p1.jsonl" 2>"$T/p1.log")
check capture-setting-name "$(cat "$T/p1.log")" [ "$(lines "$T/p1.jsonl")" = 3 ]

# Replay: what run --captured hands the handler is what was produced, byte for byte.
OUT=$T/run "$HUBFN" run "$app/raw" --captured "$T/cap.jsonl" >/dev/null 2>"$T/run.log"
rc=$?
check run-captured-exits-0 "exit $rc: $(cat "$T/run.log")" [ "$rc" = 0 ]
sort "$T/run.events" >"$T/run.sorted"
check run-reproduces-events-byte-for-byte "$(diff "$T/expect" "$T/run.sorted" | head -5)" \
    cmp -s "$T/expect" "$T/run.sorted"
check run-batches-per-partition "$(tr '\n' ';' <"$T/run.batches")" \
    [ "$(tr '\n' ';' <"$T/run.batches")" = "4 0 0;4 0 0;2 0 0;3 1 1;4 2 2;2 2 2;" ]
# from standard input, one partition
OUT=$T/stdin "$HUBFN" run "$app/raw" --captured - <"$T/p1.jsonl" >/dev/null 2>&1
check run-captured-stdin "$(cat "$T/stdin.batches" 2>&1)" [ "$(cat "$T/stdin.batches")" = "3 1 1" ]

"$HUBFN" checkpoints "$app" raw --json >"$T/ckpt.json" 2>&1

# The live trigger on the same hub sees exactly the same (and decodes bodies the same).
OUT=$T/live timeout $((60 * SLOW)) "$HUBFN" start "$app" --exit-on-eof >/dev/null 2>"$T/live.log"
rc=$?
check live-exits-0 "exit $rc: $(tail -3 "$T/live.log")" [ "$rc" = 0 ]
sort "$T/live.events" >"$T/live.sorted"
check run-equals-trigger "$(diff "$T/live.sorted" "$T/run.sorted" | head -5)" \
    cmp -s "$T/live.sorted" "$T/run.sorted"
OUT=$T/run "$HUBFN" run "$app/dec" --captured "$T/cap.jsonl" >/dev/null 2>>"$T/run.log"
sort "$T/run.decoded" >"$T/run.dsorted"
sort "$T/live.decoded" >"$T/live.dsorted"
check run-decodes-as-trigger "$(diff "$T/live.dsorted" "$T/run.dsorted" | head -5)" \
    bash -c "[ \$(wc -l <'$T/run.dsorted') = 19 ] && cmp -s '$T/live.dsorted' '$T/run.dsorted'"

# Capturing moved no checkpoint: before the live run the function's group had none.
check capture-moves-no-checkpoint "$(cat "$T/ckpt.json")" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [p["checkpoint"] for p in d["partitions"]] == [None, None, None], d
assert [p["state"] for p in d["partitions"]] == ["none"] * 3, d
' "$T/ckpt.json"
"$HUBFN" checkpoints "$app" raw --json >"$T/ckpt-after.json" 2>&1
check live-run-checkpointed-the-end "$(cat "$T/ckpt-after.json")" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [(p["checkpoint"], p["end"], p["behind"]) for p in d["partitions"]] == [(10, 10, 0), (3, 3, 0), (6, 6, 0)], d
' "$T/ckpt-after.json"

# The README's last step: send the capture into the embedded broker of `hubfn start
# --embedded`; the function there sees the same events as production's trigger did.
emb=$T/emb
mkdir -p "$emb"
cp -r "$app/raw" "$emb/"
sed 's/"Warning"/"Information"/' "$app/host.json" >"$emb/host.json"
printf '{ "Values": { "Conn": "embedded", "HUB": "%s" } }\n' "$hub" >"$emb/local.settings.json"
OUT=$T/emb start_bg "$T/emb.log" "$HUBFN" start "$emb" --embedded --partitions 3
epid=$BG
wait_for 30 grep -q "assigned partitions" "$T/emb.log"
addr=$(sed -n 's/.*embedded broker listening at \([0-9.:]*\).*/\1/p' "$T/emb.log" | head -1)
"$HUBFN" send "$addr" "$hub" --captured "$T/cap.jsonl" 2>"$T/emb-send.log"
rc=$?
check send-captured-to-embedded "exit $rc: $(cat "$T/emb-send.log")" [ "$rc" = 0 ]
wait_for 30 bash -c "[ -f '$T/emb.events' ] && [ \$(wc -l <'$T/emb.events') -ge 19 ]"
kill -TERM "$epid"
wait "$epid"
sort "$T/emb.events" >"$T/emb.sorted"
check embedded-replay-equals-production "$(diff "$T/live.sorted" "$T/emb.sorted" | head -5)" \
    cmp -s "$T/live.sorted" "$T/emb.sorted"
