#!/usr/bin/env bash
# hubfn checkpoints: shows each partition's checkpoint, oldest and newest offsets, backlog
# and the enqueued time at the checkpoint; --set to a time (offsets-for-times per
# partition), then hubfn start --exit-on-eof handles exactly the events enqueued at or after
# it; --dry-run changes nothing; --set while an instance runs is refused, naming it; a
# checkpoint past the end of a recreated hub is reported as such.
. "$(dirname "$0")/lib.sh"
need_kafka

hub=ckpt-$$
topic "$hub" 3
mkapp "$T/app" "$HF_KAFKA_PLAIN" "$hub" many
base=$(( ($(date +%s) - 600) * 1000 ))
# 6 events per partition; event id = 10 * partition + k, enqueued at base + 10 s * k + p
python3 - "$base" >"$T/spec" <<'PY'
import sys
base = int(sys.argv[1])
for p in range(3):
    for k in range(6):
        print(p, base + 10000 * k + 1000 * p, "x6b", "x" + ('{"id":%d}' % (10 * p + k)).encode().hex())
PY
"$TOP/$BUILD/tools/produce_raw" "$HF_KAFKA_PLAIN" "$hub" <"$T/spec" 2>"$T/produce.err"
rc=$?
check produced "$(cat "$T/produce.err")" [ "$rc" = 0 ]
iso() { python3 -c "import datetime; print(datetime.datetime.fromtimestamp($1 / 1000, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z')"; }

ck() { "$HUBFN" checkpoints "$T/app" rec "$@"; }
ck >"$T/show.txt" 2>"$T/show.err"
rc=$?
check show-exits-0 "exit $rc: $(cat "$T/show.err")" [ "$rc" = 0 ]
check show-names-hub-and-group "$(head -1 "$T/show.txt")" grep -q "^function rec: hub $hub, consumer group g-$hub, Kafka at $HF_KAFKA_PLAIN" "$T/show.txt"
check show-no-checkpoint "$(cat "$T/show.txt")" grep -q "no checkpoint: starts at offset 0 (initialOffsetOptions fromStart)" "$T/show.txt"
check show-total "$(tail -1 "$T/show.txt")" grep -q "^behind in all: 18 events" "$T/show.txt"
ck --json >"$T/show.json" 2>&1
first1=$(iso $((base + 1000)))
check show-json "$(cat "$T/show.json")" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["function"] == "rec" and d["consumerGroup"].startswith("g-ckpt-"), d
ps = d["partitions"]
assert [(p["partition"], p["checkpoint"], p["oldest"], p["newest"], p["end"], p["behind"], p["state"]) for p in ps] == \
       [(i, None, 0, 5, 6, 6, "none") for i in range(3)], ps
assert ps[1]["checkpointEnqueuedTime"] == sys.argv[2], ps[1]
' "$T/show.json" "$first1"

# --set TIME --dry-run changes nothing
t=$(iso $((base + 25000)))
ck --set "$t" --dry-run >"$T/dry.txt" 2>&1
rc=$?
check dry-run-exits-0 "exit $rc: $(cat "$T/dry.txt")" [ "$rc" = 0 ]
check dry-run-says-so "$(cat "$T/dry.txt")" grep -q "(dry run: nothing changes)" "$T/dry.txt"
ck --json >"$T/after-dry.json" 2>&1
check dry-run-changes-nothing "$(cat "$T/after-dry.json")" cmp -s "$T/show.json" "$T/after-dry.json"

# --set TIME, base+21 s: the first event at or after it is k=3 in partition 0 (30 s), k=2 in
# partition 1 (21 s: exactly at it) and k=2 in partition 2 (22 s)
t=$(iso $((base + 21000)))
ck --set "$t" >"$T/set.txt" 2>&1
rc=$?
check set-time-exits-0 "exit $rc: $(cat "$T/set.txt")" [ "$rc" = 0 ]
check set-time-says-moved "$(cat "$T/set.txt")" grep -q "^moved 3 checkpoints of consumer group g-$hub" "$T/set.txt"
ck --json >"$T/set.json" 2>&1
got=$(python3 -c 'import json,sys; print(" ".join(str(p["checkpoint"]) for p in json.load(open(sys.argv[1]))["partitions"]))' "$T/set.json")
check set-time-offsets "$got" [ "$got" = "3 2 2" ]
timeout $((60 * SLOW)) "$HUBFN" start "$T/app" --exit-on-eof 2>"$T/run.log"
rc=$?
check start-after-set-exits-0 "exit $rc: $(tail -2 "$T/run.log")" [ "$rc" = 0 ]
# exactly the events enqueued at or after base+21 s
want=$(python3 -c '
import sys
print(" ".join(sorted("%d" % (10 * p + k) for p in range(3) for k in range(6) if 10000 * k + 1000 * p >= 21000)))')
got=$(awk '{print $3}' "$T/app/rec.out" | sort | tr '\n' ' ' | sed 's/ $//')
check start-handles-exactly-events-after-time "got [$got] want [$want]" [ "$got" = "$want" ]

# --set P:OFFSET, then --json shows it
ck --set 0:1,2:6 --json >"$T/po.json" 2>"$T/po.err"
rc=$?
check set-offsets-json "exit $rc: $(cat "$T/po.json" "$T/po.err")" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["dryRun"] is False and [(p["partition"], p["to"]) for p in d["partitions"]] == [(0, 1), (2, 6)], d
' "$T/po.json"
got=$(ck --json | python3 -c 'import json,sys; print(" ".join(str(p["checkpoint"]) for p in json.load(sys.stdin)["partitions"]))')
check set-offsets-applied "$got" [ "$got" = "1 6 6" ]

# While an instance runs, --set is refused and names it.
start_bg "$T/live.log" "$HUBFN" start "$T/app"
live=$BG
ckpts() { ck --json 2>/dev/null | python3 -c 'import json,sys; print(" ".join(str(p["checkpoint"]) for p in json.load(sys.stdin)["partitions"]))'; }
# it catches partition 0 up (offsets 1-5) and checkpoints it
wait_for 30 bash -c "grep -q 'assigned partitions' '$T/live.log' && [ \"\$(\"$HUBFN\" checkpoints '$T/app' rec --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"partitions\"][0][\"checkpoint\"])')\" = 6 ]"
ck --set earliest >"$T/busy.txt" 2>"$T/busy.err"
rc=$?
check set-while-running-refused "exit $rc: $(cat "$T/busy.err")" [ "$rc" = 1 ]
check set-while-running-names-members "$(cat "$T/busy.err")" grep -q \
    "^hubfn checkpoints: refused: consumer group g-$hub of function rec has 1 active member: hubfn at /127.0.0.1 (hubfn-[0-9a-f-]*). Checkpoints move only while no instance runs" \
    "$T/busy.err"
ck --set earliest --dry-run >"$T/busy-dry.txt" 2>"$T/busy-dry.err"
check dry-run-while-running-warns "$(cat "$T/busy-dry.err")" grep -q "would refuse: consumer group g-$hub" "$T/busy-dry.err"
got=$(ckpts)
check refused-set-changed-nothing "$got" [ "$got" = "6 6 6" ]
kill -TERM "$live"
wait "$live"
ck --set earliest >"$T/earliest.txt" 2>&1
rc=$?
check set-after-stop-works "exit $rc: $(cat "$T/earliest.txt")" [ "$rc" = 0 ]
check set-shows-repeats "$(cat "$T/earliest.txt")" grep -q "(6 handled again)" "$T/earliest.txt"

# A checkpoint past the end of the hub (left by an earlier life of the hub).
"$TOP/$BUILD/tools/commit_offset" "$HF_KAFKA_PLAIN" "g-$hub" "$hub" 1 500 2>>"$T/commit.err"
ck >"$T/stale.txt" 2>&1
check past-end-reported "$(cat "$T/stale.txt")" bash -c "grep -q '^        1         500 .*past the end of the hub (the hub was recreated?): starts at the oldest event' '$T/stale.txt' &&
    grep -q '^1 checkpoint is past the end of the hub' '$T/stale.txt'"
ck --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitions"][1]["state"])' >"$T/stale.state"
check past-end-json-state "$(cat "$T/stale.state")" [ "$(cat "$T/stale.state")" = pastEnd ]
ck --set latest >/dev/null 2>&1
got=$(ck --json | python3 -c 'import json,sys; print(" ".join("%s/%s" % (p["checkpoint"], p["behind"]) for p in json.load(sys.stdin)["partitions"]))')
check set-latest "$got" [ "$got" = "6/0 6/0 6/0" ]
