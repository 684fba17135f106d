#!/usr/bin/env bash
# What one event costs hubfn on a broker, by handler: CPU per event of `hubfn start`, and
# where it goes (a perf profile). Not part of `make test`; docs/performance.md shows its
# output.
#
#   tests/bench/event_cost.sh [--rounds N] [--events N] [--handlers LIST] [--perf DIR]
#
# Loads EVENTS (150000) generated AEP payloads (tests/bench/decode/gen_aep.py) keyed into a
# 32-partition hub of a standalone mock broker on loopback (build/tools/mockbroker), in
# record batches of at most 64 KB, as tests/bench/consume.sh does; then, ROUNDS (3) times in
# rotating order and each with a fresh consumer group, runs `hubfn start --exit-on-eof`
# (default host.json: prefetchCount 300, batches of 100) with each handler of LIST
# (default noop,view,body):
#   noop   return function(events, context) end: the events are never read
#   view   every segment status of every event from ev.activation.segments
#   body   ev.body of every event (the whole body decoded) and every status under
#          body.segmentMembership.ups
# and kcat (-G, printing each message's partition only) as the floor. Each consumer's CPU
# time (user+sys, from wait4, so every thread and the group join count) per event, medians
# of the rounds. Handlers count what they read; the counts must match the data.
#   HUBFN=path        the binary to measure (default build/hubfn, built with make)
#   HUBFN_BASE=path   also run this other build in the same rounds ("base ..." rows)
#   --perf DIR        after the rounds, run each handler (and the base build's) once more
#                     under `perf record -g` (linux-perf) into DIR/NAME.data and write
#                     DIR/NAME.txt: the share of each library and the top symbols
#   PERF_LIBDIR=dir   put dir first in LD_LIBRARY_PATH for the perf runs only: Debian's
#                     liblua5.4 has no symbols for its internals, a build of the same
#                     source with -g (apt-get source lua5.4) there names them
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
rounds=3 n=150000 handlers=noop,view,body perfdir=
usage="usage: $0 [--rounds N] [--events N] [--handlers LIST] [--perf DIR]"
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift ;;
        --events) n=$2; shift ;;
        --handlers) handlers=$2; shift ;;
        --perf) perfdir=$(realpath -m "$2"); shift ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
    shift
done
build=${BUILD:-build}
hubfn=${HUBFN:-$top/$build/hubfn}
tmp=${TMPDIR:-/tmp}/hubfn-bench-event-cost
mkdir -p "$tmp"
if [ -z "${HUBFN:-}" ]; then
    make --no-print-directory -s "$build/hubfn" >/dev/null
fi
make --no-print-directory -s "$build/tools/mockbroker" >/dev/null
if [ -n "$perfdir" ]; then
    command -v perf >/dev/null || { echo "$0: --perf needs perf (apt-get install linux-perf)" >&2; exit 2; }
    mkdir -p "$perfdir"
fi

data=$tmp/aep-$n.jsonl
[ -s "$data" ] || python3 tests/bench/decode/gen_aep.py "$n" >"$data"
[ -s "$data.keyed" ] || awk '{ print NR "\t" $0 }' "$data" >"$data.keyed"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
hub=aep$(date +%s)
mkfifo "$tmp/mock.in" 2>/dev/null || true
sleep infinity >"$tmp/mock.in" &
pids+=($!)
"$build/tools/mockbroker" --topic "$hub:32" <"$tmp/mock.in" >"$tmp/mock.out" 2>"$tmp/mock.err" &
pids+=($!)
for _ in $(seq 50); do grep -q '^bootstrap' "$tmp/mock.out" 2>/dev/null && break; sleep 0.1; done
bootstrap=$(awk '/^bootstrap/ { print $2 }' "$tmp/mock.out")
[ -n "$bootstrap" ] || { echo "the mock broker did not start (see $tmp)" >&2; exit 1; }
kcat -P -b "$bootstrap" -t "$hub" -K $'\t' -z none -X linger.ms=5 -X batch.size=65536 \
    -l "$data.keyed"

for w in noop view body; do
    app=$tmp/app-$w
    rm -rf "$app"
    mkdir -p "$app/segments"
    echo '{ "version": "2.0", "logging": { "logLevel": { "default": "Warning" } } }' \
        >"$app/host.json"
    cat >"$app/segments/function.json" <<'JSON'
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "%BENCH_HUB%", "consumerGroup": "%BENCH_GROUP%", "connection": "Conn",
    "cardinality": "many" } ] }
JSON
done
cat >"$tmp/app-noop/segments/handler.lua" <<'LUA'
-- reads nothing; one line per batch: 0 realized, the number of events. Each line is one
-- string: io.write with several arguments writes them one by one, and the lines of two
-- workers would interleave
local write = io.write
io.stdout:setvbuf("line")
return function(events, context) write("0 " .. #events .. "\n") end
LUA
cat >"$tmp/app-view/segments/handler.lua" <<'LUA'
-- every segment status from the activation view; one line per batch: realized, events
local write = io.write
io.stdout:setvbuf("line")
return function(events, context)
  local n = 0
  for i = 1, #events do
    for _, s in ipairs(events[i].activation.segments) do
      if s.status == "realized" then n = n + 1 end
    end
  end
  write(n .. " " .. #events .. "\n")
end
LUA
cat >"$tmp/app-body/segments/handler.lua" <<'LUA'
-- every body decoded, every status under segmentMembership.ups; one line per batch
local write = io.write
io.stdout:setvbuf("line")
return function(events, context)
  local n = 0
  for i = 1, #events do
    for _, s in pairs(events[i].body.segmentMembership.ups) do
      if s.status == "realized" then n = n + 1 end
    end
  end
  write(n .. " " .. #events .. "\n")
end
LUA

python3 - "$tmp" "$hubfn" "${HUBFN_BASE:-}" "$bootstrap" "$hub" "$n" "$rounds" \
    "$handlers" "$data" "$perfdir" <<'PY'
import json, os, platform, statistics, subprocess, sys
tmp, hubfn, base, bootstrap, hub, n, rounds, handlers, data, perfdir = sys.argv[1:11]
n, rounds = int(n), int(rounds)
runners = ["kcat"]
for h in handlers.split(","):
    if h not in ("noop", "view", "body"):
        sys.exit(f"unknown handler '{h}' (noop, view, body)")
    runners.append(h)
    if base:
        runners.append("base " + h)
expected = 0
with open(data, "rb") as f:
    for line in f:
        ups = json.loads(line).get("segmentMembership", {}).get("ups", {})
        expected += sum(1 for a in ups.values() if a.get("status") == "realized")

def command(runner, group):
    if runner == "kcat":
        return ["kcat", "-b", bootstrap, "-G", group, "-q", "-e", "-f", "%p\n",
                "-X", "auto.offset.reset=earliest", hub]
    binary, w = (base, runner[5:]) if runner.startswith("base ") else (hubfn, runner)
    app = os.path.join(tmp, "app-" + w)
    with open(os.path.join(app, "local.settings.json"), "w") as f:
        json.dump({"IsEncrypted": False, "Values": {"Conn": bootstrap, "BENCH_GROUP": group,
                                                    "BENCH_HUB": hub}}, f)
    return [binary, "start", app, "--exit-on-eof"]

seq = 0
def run(runner, prefix=(), env=None):
    global seq
    seq += 1
    group = f"{hub}-{seq}"
    cmd = list(prefix) + command(runner, group)
    err = open(os.path.join(tmp, runner.replace(" ", "-") + ".err"), "wb")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
    events = realized = 0
    for line in p.stdout:
        f = line.split()
        if runner == "kcat":
            events += 1
        elif len(f) == 2:
            realized += int(f[0]); events += int(f[1])
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0 or events < n * 0.99:
        sys.exit(f"{runner} failed: status {status}, {events} of {n} events")
    if events != n:
        # not seen since each handler writes its line as one string; reported, and the CPU
        # time counted per event handled
        print(f"warning: {runner} exited at the end with {events} of {n} events handled",
              flush=True)
    elif runner.endswith(("view", "body")) and realized != expected:
        sys.exit(f"{runner} counted {realized} realized audiences, the data holds {expected}")
    return (ru.ru_utime + ru.ru_stime) * n / events

try:
    model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                 if l.startswith("model name"))
except (OSError, StopIteration):
    model = platform.processor() or "unknown CPU"
print(f"mock broker, {n} AEP payloads in 32 partitions, 64 KB record batches; {model}, "
      f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {rounds} rounds, medians",
      flush=True)
cpu = {r: [] for r in runners}
for r in range(rounds):
    k = r % len(runners)
    for runner in runners[k:] + runners[:k]:
        cpu[runner].append(run(runner))
    print(f"round {r + 1}: " + ", ".join(f"{x} {cpu[x][-1] / n * 1e6:.2f}" for x in runners)
          + " us/event", flush=True)
med = {r: statistics.median(v) for r, v in cpu.items()}
print("\n| consumer | CPU per event | vs kcat |" + (" vs base |" if base else ""))
print("|---|---|---|" + ("---|" if base else ""))
for r in runners:
    row = f"| {r} | {med[r] / n * 1e6:.2f} us | {med[r] / med['kcat']:.2f}x |"
    if base:
        row += f" {med['base ' + r] / med[r]:.2f}x |" if "base " + r in med else " |"
    print(row)
if not perfdir:
    sys.exit(0)
print(f"\nperf profiles in {perfdir}:", flush=True)
for runner in runners[1:]:
    name = runner.replace(" ", "-")
    out = os.path.join(perfdir, name + ".data")
    env = dict(os.environ)
    if os.environ.get("PERF_LIBDIR"):
        env["LD_LIBRARY_PATH"] = os.environ["PERF_LIBDIR"] + ":" + env.get("LD_LIBRARY_PATH", "")
    run(runner, ["perf", "record", "-q", "-g", "-o", out, "--"], env)
    rep = lambda *a: subprocess.run(["perf", "report", "-i", out, "--no-children", "-g", "none",
                                     "--percent-limit", "0.7", *a], capture_output=True,
                                    text=True).stdout
    lines = lambda t: "\n".join(l for l in t.splitlines() if l.strip() and l[0] != "#")
    with open(os.path.join(perfdir, name + ".txt"), "w") as f:
        f.write(f"{runner}: share of the samples by library\n")
        f.write(lines(rep("--sort", "dso")) + "\n\ntop symbols\n")
        f.write(lines(rep("--sort", "dso,sym")) + "\n")
    print(f"  {name}.txt", flush=True)
PY
