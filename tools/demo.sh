#!/usr/bin/env bash
# make run: host the bundled app (functions/) on the embedded broker and feed it sample
# traffic (tools/demo-feed), showing hubfn's log. Ctrl-C (or SIGTERM) stops the feeder,
# then hubfn, which drains and exits 0; this script exits with hubfn's status.
#   tools/demo.sh [APP]        APP defaults to functions
#   DEMO_RATE=N                events per second (default 3)
#   HUBFN=PATH                 the binary (default build/hubfn)
set -u
cd "$(dirname "$0")/.."
app=${1:-functions}
hubfn_bin=${HUBFN:-build/hubfn}
rate=${DEMO_RATE:-3}
log=$(mktemp "${TMPDIR:-/tmp}/hubfn-demo.XXXXXX")
hubfn='' feeder='' tailer='' stopping=0

if [ ! -x "$hubfn_bin" ]; then
    echo "demo: $hubfn_bin is not built (run make)" >&2
    exit 2
fi

# Stop in order: the feeder first (the broker lives inside hubfn), then hubfn. Each gets
# exactly one signal, from here: both run in their own session, so a Ctrl-C in the terminal
# reaches only this script (a second signal would make hubfn skip its drain). SIGTERM, not
# SIGINT: background jobs start with SIGINT ignored, so a Ctrl-C in hubfn's first moments,
# before it installs its handlers, would otherwise be lost; SIGTERM drains just the same.
stop() {
    [ "$stopping" = 1 ] && return
    stopping=1
    if [ -n "$feeder" ]; then
        kill -TERM "$feeder" 2>/dev/null
        wait "$feeder" 2>/dev/null
        sleep 1   # lets hubfn handle the last events sent, rather than leave them unread
    fi
    [ -n "$hubfn" ] && kill -TERM "$hubfn" 2>/dev/null
}
trap stop INT TERM
trap 'rm -f "$log"' EXIT

setsid "$hubfn_bin" start "$app" --embedded --log-format text 2>"$log" &
hubfn=$!
# hubfn writes its log to a file so that this script can read the broker's address from
# it; tail shows it live and ends shortly after hubfn does.
tail -n +1 -f --pid="$hubfn" "$log" >&2 &
tailer=$!

addr=''
for _ in $(seq 150); do
    addr=$(sed -n 's/.*embedded broker listening at \([^ ]*\).*/\1/p' "$log" | head -1)
    [ -n "$addr" ] || [ "$stopping" = 1 ] || ! kill -0 "$hubfn" 2>/dev/null && break
    sleep 0.2
done
if [ -n "$addr" ] && [ "$stopping" = 0 ]; then
    setsid python3 tools/demo-feed "$addr" --rate "$rate" &
    feeder=$!
fi

# A trapped signal interrupts `wait` while hubfn still runs: wait again for its own status.
while :; do
    wait "$hubfn"
    rc=$?
    kill -0 "$hubfn" 2>/dev/null || break
done
if [ -z "$addr" ] && [ "$stopping" = 0 ]; then
    echo "demo: hubfn exited ($rc) before its embedded broker was listening" >&2
fi
# The feeder outlives hubfn only if hubfn stopped on its own (a config error, a crash).
[ -n "$feeder" ] && [ "$stopping" = 0 ] && { kill -TERM "$feeder" 2>/dev/null; wait "$feeder" 2>/dev/null; }
wait "$tailer" 2>/dev/null
exit "$rc"
