#!/usr/bin/env bash
# eventHubState without a broker and on the embedded one: `hubfn run` keeps the state from
# one event to the next and `--state FILE` loads and saves it as JSON lines (a bad line is
# one error naming file and line); `hubfn start --embedded` creates the state hub with the
# input hub's partitions and writes the state there.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/state_lib.sh"

mkstateapp "$T/app" embedded orders orders-state
gen_events "$T/events" 300 6
cut -f2 "$T/events" >"$T/bodies"
fn=$T/app/cnt

"$HUBFN" run "$fn" --events "$T/bodies" --state "$T/state.jsonl" >"$T/run1.out" 2>"$T/run1.err"
rc=$?
check run-exits-0 "exit $rc: $(tail -2 "$T/run1.err")" [ "$rc" = 0 ]
check run-prints-no-state-writes "$(head -c 300 "$T/run1.out")" [ ! -s "$T/run1.out" ]
check run-keeps-state-across-events "$(head -3 "$T/app/gaps.out" 2>/dev/null)" [ ! -s "$T/app/gaps.out" ]
check run-saves-state "$(head -3 "$T/state.jsonl")" python3 - "$T/state.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["key"] for r in rows] == ["k%d" % i for i in range(6)], rows
for r in rows:
    assert r["binding"] == "state" and r["partition"] == 0, r
    assert r["value"]["n"] == 50 and r["value"]["seq"] == 50, r
PY
# a second run starts from the saved state: the counters go on
"$HUBFN" run "$fn" --events "$T/bodies" --state "$T/state.jsonl" >/dev/null 2>"$T/run2.err"
n=$(python3 -c 'import json,sys; print(sorted({json.loads(l)["value"]["n"] for l in open(sys.argv[1])}))' "$T/state.jsonl")
check run-loads-saved-state "counters $n" [ "$n" = "[100]" ]

# state by hand: "binding" and "partition" may be left out; another partition is apart
printf '{"key":"k1","value":{"n":7,"seq":50}}\n\n{"partition":3,"key":"k1","value":{"n":1,"seq":1}}\n' \
    >"$T/hand.jsonl"
printf '{"k":"k1","seq":51}\n' >"$T/one"
"$HUBFN" run "$fn" --events "$T/one" --state "$T/hand.jsonl" >/dev/null 2>"$T/hand.err"
check run-hand-written-state "$(cat "$T/hand.jsonl")" python3 - "$T/hand.jsonl" <<'PY'
import json, sys
rows = {(r["partition"], r["key"]): r["value"] for r in map(json.loads, open(sys.argv[1]))}
assert rows[(0, "k1")]["n"] == 8 and rows[(0, "k1")]["seq"] == 51, rows
assert rows[(3, "k1")] == {"n": 1, "seq": 1}, rows
PY

bad() {  # bad NAME CONTENT EXPECTED: exit 2 with one line naming the file and line
    local name=$1
    printf '%b' "$2" >"$T/$name.jsonl"
    "$HUBFN" run "$fn" --events "$T/one" --state "$T/$name.jsonl" --log-format text \
        >/dev/null 2>"$T/$name.err"
    local rc=$?
    check "bad-$name-exit-2" "exit $rc" [ "$rc" = 2 ]
    check "bad-$name-says-where" "$(cat "$T/$name.err")" grep -qF -- "$3" "$T/$name.err"
    check "bad-$name-file-kept" "changed" [ "$(cat "$T/$name.jsonl")" = "$(printf '%b' "$2")" ]
}
bad not-json '{"key":"a","value":1}\nnope\n' "--state $T/not-json.jsonl:2: not a JSON object"
bad no-value '{"key":"a"}\n' "--state $T/no-value.jsonl:1: no \"value\""
bad no-key '{"value":1}\n' "--state $T/no-key.jsonl:1: \"key\" must be a non-empty string"
bad partition '{"key":"a","value":1,"partition":-1}\n' "\"partition\" must be a partition number"

# the embedded broker creates the state hub beside the input hub, with as many partitions
start_bg "$T/emb.log" "$HUBFN" start "$T/app" --embedded --partitions 3
pid=$BG
wait_for 20 grep -q "embedded broker listening at" "$T/emb.log"
addr=$(sed -n 's/.*embedded broker listening at \([0-9.:]*\).*/\1/p' "$T/emb.log" | head -1)
parts=$(kcat -L -b "$addr" -t orders-state 2>/dev/null | grep -c 'partition [0-9]')
check embedded-creates-state-hub "kcat sees $parts partitions" [ "$parts" = 3 ]
: >"$T/app/seen.out"
produce "$addr" orders "$T/events"
wait_for 30 bash -c "[ \$(cat '$T/app/seen.out' | wc -l) -ge 300 ]"
wait_for 20 bash -c "[ \$(kcat -C -b '$addr' -t orders-state -e -q -f 'x\n' 2>/dev/null | wc -l) -ge 6 ]"
written=$(kcat -C -b "$addr" -t orders-state -e -q -f '%k\n' 2>/dev/null | sort -u | tr '\n' ' ')
check embedded-state-written "keys in the state hub: $written" [ "$written" = "k0 k1 k2 k3 k4 k5 " ]
kill -TERM "$pid"
wait "$pid"
rc=$?
check embedded-exits-0 "exit $rc: $(tail -2 "$T/emb.log")" [ "$rc" = 0 ]
check embedded-no-gaps "$(head -3 "$T/app/gaps.out")" [ ! -s "$T/app/gaps.out" ]
