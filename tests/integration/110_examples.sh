#!/usr/bin/env bash
# The examples and the bundled app cannot rot: every example's function runs on the
# example's events.jsonl, and every function of functions/ on functions/samples/NAME.jsonl,
# through `hubfn run`; stdout must equal the expected JSON lines (compared as JSON values,
# in order) and the exit status must be 0. An example with a state.jsonl runs with
# `--state` on a copy of it, which must then equal its expected-state.jsonl; run again on
# that state, the same events send nothing (what was sent is remembered).
. "$(dirname "$0")/lib.sh"

# same_json NAME OUT EXPECTED: compare two files of JSON lines, value by value
same_json() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
name, out, exp = sys.argv[1:4]
def rows(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]
try:
    got = rows(out)
except ValueError as e:
    sys.exit("%s: stdout is not JSON lines: %s" % (name, e))
want = rows(exp)
for i, (g, w) in enumerate(zip(got, want)):
    if g != w:
        sys.exit("%s: output line %d differs\n  got:  %s\n  want: %s"
                 % (name, i + 1, json.dumps(g, sort_keys=True), json.dumps(w, sort_keys=True)))
if len(got) != len(want):
    sys.exit("%s: %d output lines, expected %d" % (name, len(got), len(want)))
PY
}

# run_case NAME FUNCTION_DIR EVENTS EXPECTED [STATE]
run_case() {
    local name=$1 fn=$2 events=$3 expected=$4 state=${5:-} rc why
    if [ ! -f "$expected" ]; then
        fail "$name" "no expected output file $expected"
        return
    fi
    local args=()
    [ -n "$state" ] && args=(--state "$state")
    "$HUBFN" run "$fn" --events "$events" "${args[@]}" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
    check "$name-exits-0" "exit $rc: $(tail -3 "$T/$name.err")" [ "$rc" = 0 ]
    if why=$(same_json "$name" "$T/$name.out" "$expected" 2>&1); then
        ok "$name-output"
    else
        fail "$name-output" "$why"
    fi
}

examples=0
for app in "$TOP"/examples/*/; do
    app=${app%/}
    [ -f "$app/events.jsonl" ] || continue
    fns=()
    for fj in "$app"/*/function.json; do
        [ -f "$fj" ] && [ "$(basename "$(dirname "$fj")")" != lib ] && fns+=("$(dirname "$fj")")
    done
    name=examples-$(basename "$app")
    if [ ${#fns[@]} -ne 1 ]; then
        fail "$name" "expected one function folder in $app, found ${#fns[@]}"
        continue
    fi
    check "$name-has-readme" "no README.md in $app" [ -f "$app/README.md" ]
    if [ -f "$app/state.jsonl" ]; then
        cp "$app/state.jsonl" "$T/$name.state.jsonl"
        run_case "$name" "${fns[0]}" "$app/events.jsonl" "$app/expected.jsonl" "$T/$name.state.jsonl"
        if why=$(same_json "$name-state" "$T/$name.state.jsonl" "$app/expected-state.jsonl" 2>&1); then
            ok "$name-state"
        else
            fail "$name-state" "$why"
        fi
        "$HUBFN" run "${fns[0]}" --events "$app/events.jsonl" --state "$T/$name.state.jsonl" \
            >"$T/$name.again.out" 2>"$T/$name.again.err"
        check "$name-again-sends-nothing" "$(lines "$T/$name.again.out") lines on a second run: $(head -c 300 "$T/$name.again.out")" \
            [ ! -s "$T/$name.again.out" ]
    else
        run_case "$name" "${fns[0]}" "$app/events.jsonl" "$app/expected.jsonl"
    fi
    examples=$((examples + 1))
done
check examples-found "no example with events.jsonl under $TOP/examples" [ "$examples" -ge 3 ]

samples=0
for fj in "$TOP"/functions/*/function.json; do
    fn=$(dirname "$fj")
    name=$(basename "$fn")
    events=$TOP/functions/samples/$name.jsonl
    if [ ! -f "$events" ]; then
        fail "functions-$name" "no sample events functions/samples/$name.jsonl"
        continue
    fi
    run_case "functions-$name" "$fn" "$events" "$TOP/functions/samples/$name.expected.jsonl"
    samples=$((samples + 1))
done
check functions-samples-found "no function with samples under $TOP/functions" [ "$samples" -ge 2 ]
