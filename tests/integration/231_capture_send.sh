#!/usr/bin/env bash
# capture -> send --captured -> capture gives identical records (partitions, offsets,
# enqueued times, keys, headers, bodies); a hub with fewer partitions is refused unless
# --by-key; --from-time starts at the first event at or after TIME in every partition
# (timestamps set exactly by the producer); --partition, --from-offset, --count, --follow.
. "$(dirname "$0")/lib.sh"
need_kafka

a=capsend-a-$$ b=capsend-b-$$ c=capsend-c-$$ d=capsend-d-$$
topic "$a" 3 "$b" 3 "$c" 2 "$d" 4
base=$(( ($(date +%s) - 600) * 1000 ))

# Hub A: keys, headers and bodies of every kind, explicit timestamps.
python3 - "$base" >"$T/spec-a" <<'PY'
import sys
base = int(sys.argv[1])
def x(b): return "-" if b is None else "x" + b.hex()
bodies = [b'{"id":%d}', b'\x00\xff%d', b'', None, b'caf\xc3\xa9 %d', b'\xc3(%d']
keys = [b'u1', None, b'', b'\xfe\xff', b'u2']
for i in range(24):
    body = bodies[i % len(bodies)]
    body = body % i if body and b'%d' in body else body
    hdrs = ["n=%s" % x(b"%d" % i)]
    if i % 3 == 0: hdrs.append("bin=x80ff00")
    if i % 4 == 0: hdrs.append("null=-")
    print(i % 3, base + i * 1000, x(keys[i % len(keys)]), x(body), " ".join(hdrs))
PY
"$TOP/$BUILD/tools/produce_raw" "$HF_KAFKA_PLAIN" "$a" <"$T/spec-a" 2>"$T/produce.err"
rc=$?
check produced "$(cat "$T/produce.err")" [ "$rc" = 0 ]

"$HUBFN" capture "$HF_KAFKA_PLAIN" "$a" >"$T/a.jsonl" 2>"$T/cap-a.log"
check capture-a "$(cat "$T/cap-a.log")" [ "$(lines "$T/a.jsonl")" = 24 ]

# Republish into an empty hub with as many partitions, capture again: the same file.
"$HUBFN" send "$HF_KAFKA_PLAIN" "$b" --captured "$T/a.jsonl" 2>"$T/send-b.log"
rc=$?
check send-captured-exits-0 "exit $rc: $(cat "$T/send-b.log")" [ "$rc" = 0 ]
check send-captured-summary "$(cat "$T/send-b.log")" grep -q "^sent 24 events to $b .*(3 partitions), 0 failed" "$T/send-b.log"
"$HUBFN" capture "$HF_KAFKA_PLAIN" "$b" >"$T/b.jsonl" 2>"$T/cap-b.log"
check capture-send-capture-identical "$(diff "$T/a.jsonl" "$T/b.jsonl" | head -4)" cmp -s "$T/a.jsonl" "$T/b.jsonl"
# ... also from standard input
"$HUBFN" send "$HF_KAFKA_PLAIN" "$b" --captured - <"$T/a.jsonl" 2>"$T/send-b2.log"
"$HUBFN" capture "$HF_KAFKA_PLAIN" "$b" >"$T/b2.jsonl" 2>/dev/null
check send-captured-stdin "$(cat "$T/send-b2.log")" [ "$(lines "$T/b2.jsonl")" = 48 ]

# A hub with fewer partitions: refused with the line of the first record, nothing sent.
"$HUBFN" send "$HF_KAFKA_PLAIN" "$c" --captured "$T/a.jsonl" 2>"$T/send-c.log"
rc=$?
check fewer-partitions-exit-2 "exit $rc: $(cat "$T/send-c.log")" [ "$rc" = 2 ]
check fewer-partitions-named "$(cat "$T/send-c.log")" grep -q \
    "^hubfn send: $T/a.jsonl:17: partition 2 does not exist in hub $c, which has partitions 0-1; nothing sent. --by-key" \
    "$T/send-c.log"
"$HUBFN" capture "$HF_KAFKA_PLAIN" "$c" >"$T/c0.jsonl" 2>/dev/null
check fewer-partitions-sends-nothing "$(lines "$T/c0.jsonl") events" [ "$(lines "$T/c0.jsonl")" = 0 ]
# --by-key: every event, keyed ones together by key
"$HUBFN" send "$HF_KAFKA_PLAIN" "$c" --captured "$T/a.jsonl" --by-key 2>"$T/send-c2.log"
rc=$?
"$HUBFN" capture "$HF_KAFKA_PLAIN" "$c" >"$T/c.jsonl" 2>/dev/null
check by-key-sends-all "exit $rc: $(cat "$T/send-c2.log")" python3 -c '
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
c = [json.loads(l) for l in open(sys.argv[2])]
strip = lambda r: json.dumps({k: v for k, v in r.items() if k not in ("partition", "offset")}, sort_keys=True)
assert sorted(map(strip, a)) == sorted(map(strip, c)), "records differ"
where = {}
for r in c:
    k = r.get("partitionKey", r.get("partitionKeyBase64"))
    if k:
        assert where.setdefault(k, r["partition"]) == r["partition"], "key %r in two partitions" % k
' "$T/a.jsonl" "$T/c.jsonl"

# --from-time: hub D, timestamps per partition (seconds after base)
#   p0: 0 10 20 30 40   p1: 5 15 25   p2: 100 110   p3: 1 2
python3 - "$base" >"$T/spec-d" <<'PY'
import sys
base = int(sys.argv[1])
for p, secs in ((0, [0, 10, 20, 30, 40]), (1, [5, 15, 25]), (2, [100, 110]), (3, [1, 2])):
    for s in secs:
        print(p, base + s * 1000, "x6b", "x" + ("p%d-%d" % (p, s)).encode().hex())
PY
"$TOP/$BUILD/tools/produce_raw" "$HF_KAFKA_PLAIN" "$d" <"$T/spec-d" 2>>"$T/produce.err"
t15=$(python3 -c "import datetime,sys; print(datetime.datetime.fromtimestamp(($base + 15000) / 1000, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.000Z'))")
# the same instant written with a zone offset
t15z=$(python3 -c "import datetime,sys; print(datetime.datetime.fromtimestamp(($base + 15000) / 1000, datetime.timezone(datetime.timedelta(hours=2))).strftime('%Y-%m-%dT%H:%M:%S+02:00'))")
"$HUBFN" capture "$HF_KAFKA_PLAIN" "$d" --from-time "$t15" >"$T/d.jsonl" 2>"$T/cap-d.log"
rc=$?
got=$(python3 -c '
import json, sys
print(" ".join("%d:%d" % (r["partition"], r["offset"]) for r in map(json.loads, open(sys.argv[1]))))' "$T/d.jsonl")
check from-time-first-at-or-after "exit $rc: $got $(cat "$T/cap-d.log")" [ "$got" = "0:2 0:3 0:4 1:1 1:2 2:0 2:1" ]
check from-time-says-partitions "$(cat "$T/cap-d.log")" grep -q "^captured 7 events from $d (4 partitions)" "$T/cap-d.log"
"$HUBFN" capture "$HF_KAFKA_PLAIN" "$d" --from-time "$t15z" >"$T/dz.jsonl" 2>/dev/null
check from-time-zone-offset "$t15z" cmp -s "$T/d.jsonl" "$T/dz.jsonl"
check from-time-enqueued-times "$(head -2 "$T/d.jsonl")" python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows[3]["enqueuedTime"] == sys.argv[2] and rows[3]["body"] == "p1-15", rows[3]
' "$T/d.jsonl" "$t15"

# --partition, --from-offset, --count
"$HUBFN" capture "$HF_KAFKA_PLAIN" "$d" --partition 0 --from-offset 1 --count 2 >"$T/p0.jsonl" 2>"$T/p0.log"
got=$(python3 -c '
import json, sys
print(" ".join(r["body"] for r in map(json.loads, open(sys.argv[1]))))' "$T/p0.jsonl")
check partition-offset-count "$got $(cat "$T/p0.log")" [ "$got" = "p0-10 p0-20" ]
# --count over every partition: the first N in partition order
"$HUBFN" capture "$HF_KAFKA_PLAIN" "$d" --count 6 >"$T/n6.jsonl" 2>/dev/null
check count-in-partition-order "$(cut -c1-30 "$T/n6.jsonl" | tr '\n' ' ')" [ "$(lines "$T/n6.jsonl")" = 6 ]
# an offset that expired is not there: starts at the oldest (here: offset 0 is the oldest)
"$HUBFN" capture "$HF_KAFKA_PLAIN" "$d" --partition 3 --from-offset 9 >"$T/p3.jsonl" 2>"$T/p3.log"
check from-offset-past-end "$(cat "$T/p3.log")" grep -q "partition 3: nothing at or after offset 9 (its newest event has offset 1)" "$T/p3.log"

# --follow: waits for new events; --count ends it
start_bg "$T/follow.log" "$HUBFN" capture "$HF_KAFKA_PLAIN" "$d" --partition 1 --from-offset 3 --follow --count 2
fpid=$BG
sleep $((2 * SLOW))
check follow-waits "$(cat "$T/follow.log")" kill -0 "$fpid"
printf '1 0 - x6e6577310a\n1 0 - x6e657732\n1 0 - x6e657733\n' | "$TOP/$BUILD/tools/produce_raw" "$HF_KAFKA_PLAIN" "$d"
wait_for 20 bash -c "! kill -0 $fpid"
got=$(python3 -c '
import json, sys
print(" ".join("%d:%s" % (r["offset"], r["body"].strip()) for r in map(json.loads, open(sys.argv[1]))))' "$T/follow.log.out")
check follow-writes-new-events "$got $(cat "$T/follow.log")" [ "$got" = "3:new1 4:new2" ]
# --follow ended by SIGINT: exit 0 with the summary
start_bg "$T/follow2.log" "$HUBFN" capture "$HF_KAFKA_PLAIN" "$d" --follow
fpid=$BG
wait_for 20 bash -c "[ \$(wc -l <'$T/follow2.log.out') -ge 15 ]"
kill -INT "$fpid"
wait "$fpid"
rc=$?
check follow-sigint-exits-0 "exit $rc: $(cat "$T/follow2.log")" bash -c "[ $rc = 0 ] && grep -q '^captured 15 events from $d (4 partitions)' '$T/follow2.log'"
