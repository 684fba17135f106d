#!/usr/bin/env bash
# Runs every test: the unit-test binaries, then the integration scripts against a real Kafka
# broker (started once, see tests/kafka/broker.sh) and the embedded broker. Each test prints
# TAP-style "ok - NAME" / "not ok - NAME: why" lines; the last line is "N passed, N failed".
#   tests/run.sh                 everything
#   tests/run.sh unit            only the unit tests
#   tests/run.sh integration     only the integration tests
#   tests/run.sh NAME...         the unit binaries / integration scripts whose names match
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
export HUBFN=$PWD/$BUILD/hubfn
export TOP=$PWD
out=$(mktemp -d /tmp/hubfn-tests.XXXXXX)
export HF_TEST_TMP=$out
passed=0 failed=0

want() {  # want NAME: is this test selected?
    [ $# -gt 0 ] || return 0
    [ ${#SEL[@]} -eq 0 ] && return 0
    local s    # the callers loop over a global $s
    for s in "${SEL[@]}"; do
        case "$s" in
            unit) [[ $1 == unit/* ]] && return 0 ;;
            integration) [[ $1 == integration/* ]] && return 0 ;;
            *) [[ $1 == *"$s"* ]] && return 0 ;;
        esac
    done
    return 1
}
SEL=("$@")


run_one() {  # run_one NAME LOG CMD...: run a test, count its lines; a crash without lines fails
    local name=$1 log=$2; shift 2
    local t0=$SECONDS
    "$@" >"$log" 2>"$log.err"
    local rc=$?
    echo "# $name: $((SECONDS - t0)) s" >>"$out/times"
    local p f
    p=$(grep -c '^ok - ' "$log"); f=$(grep -c '^not ok - ' "$log")
    grep -E '^(not )?ok - ' "$log"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $name: exited $rc without a failing check (stderr: $log.err)"
        tail -n 5 "$log.err" | sed 's/^/    /'
        f=$((f + 1))
    elif [ "$f" -gt 0 ]; then
        tail -n 15 "$log.err" | sed 's/^/    /'
    fi
    passed=$((passed + p)); failed=$((failed + f))
}

for bin in "$BUILD"/tests/test_*; do
    [ -x "$bin" ] || continue
    name=unit/$(basename "$bin")
    want "$name" || continue
    run_one "$name" "$out/$(basename "$bin").log" "$bin"
done

scripts=()
for s in tests/integration/[0-9]*.sh; do
    [ -f "$s" ] || continue
    want "integration/$(basename "$s" .sh)" && scripts+=("$s")
done
if [ ${#scripts[@]} -gt 0 ]; then
    if grep -lq 'need_kafka' "${scripts[@]}"; then
        if tests/kafka/broker.sh start >"$out/broker.log" 2>&1; then
            export HF_KAFKA_STARTED=1
        else
            echo "not ok - integration/kafka-broker: could not start Kafka (see $out/broker.log)"
            tail -n 20 "$out/broker.log" | sed 's/^/    /'
            failed=$((failed + 1))
        fi
    fi
    for s in "${scripts[@]}"; do
        name=integration/$(basename "$s" .sh)
        # A watchdog: no test may hang the suite.
        run_one "$name" "$out/$(basename "$s" .sh).log" \
            timeout -k 10 "${HF_TEST_LIMIT:-900}" bash "$s"
    done
    [ "${HF_KAFKA_STARTED:-0}" = 1 ] && tests/kafka/broker.sh stop >>"$out/broker.log" 2>&1
fi

# The slowest tests, for whoever keeps the suite's time down.
sort -k3,3 -n -r "$out/times" 2>/dev/null | head -n 8
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
