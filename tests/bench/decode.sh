#!/usr/bin/env bash
# End-to-end decode benchmark: `hubfn run` against the naive cJSON ceiling, on one core.
#
#   tests/bench/decode.sh [EVENTS] [ROUNDS]      defaults: 200000 AEP payloads, 5 rounds
#
# Generates EVENTS AEP activation payloads (tests/bench/decode/gen_aep.py, about 690 bytes
# each) once, then alternates, ROUNDS times, between
#   hubfn   build/hubfn run FUNCTION --events FILE, with maxEventBatchSize 100 and a
#           handler that reads every segment status from ev.activation.segments
#   naive   tests/bench/naive_cjson.c: the file line by line, cJSON_ParseWithLength, a
#           recursive walk into Lua tables, { body = ... } events, one Lua call per 100
#           events, a handler reading every segment status from body.segmentMembership.ups
# each pinned to CPU 0 (taskset -c 0). It measures each process's CPU time (user+sys,
# from wait4) and prints per-event CPU time, events/s (events / CPU seconds) and the
# ratio of the medians. Both handlers write the batch's count of realized audiences; the
# outputs must match. Not part of `make test`.
#   HUBFN=path   the binary to measure (default build/hubfn, built with make)
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
n=${1:-200000}
rounds=${2:-5}
build=${BUILD:-build}
hubfn=${HUBFN:-$top/$build/hubfn}
tmp=${TMPDIR:-/tmp}/hubfn-bench-e2e
mkdir -p "$tmp" "$build/bench"

if [ -z "${HUBFN:-}" ]; then
    make --no-print-directory -s "$build/hubfn" >/dev/null
fi
${CC:-cc} -std=gnu11 -O2 -g -Wall -Wextra -Werror $(pkg-config --cflags lua5.4 libcjson) \
    tests/bench/naive_cjson.c -o "$build/bench/naive_cjson" $(pkg-config --libs lua5.4 libcjson)

data=$tmp/aep-$n.jsonl
[ -s "$data" ] || python3 tests/bench/decode/gen_aep.py "$n" >"$data"

app=$tmp/app
mkdir -p "$app/segments"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0",
  "extensions": { "eventHubs": { "maxEventBatchSize": 100 } },
  "logging": { "logLevel": { "default": "Warning" } } }
JSON
cat >"$app/segments/function.json" <<'JSON'
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "aep", "connection": "Conn", "cardinality": "many" } ] }
JSON
echo '{ "IsEncrypted": false, "Values": { "Conn": "localhost:9092" } }' >"$app/local.settings.json"
cat >"$app/segments/handler.lua" <<'LUA'
-- reads every segment status of every event; writes the batch's realized count
local write = io.write
return function(events, context)
  local n = 0
  for i = 1, #events do
    local a = events[i].activation
    for _, s in ipairs(a.segments) do
      if s.status == "realized" then n = n + 1 end
    end
  end
  write(n, "\n")
end
LUA
cat >"$tmp/naive.lua" <<'LUA'
-- the same for decoded bodies: every segment status under segmentMembership.ups
local write = io.write
return function(events)
  local n = 0
  for i = 1, #events do
    local ups = events[i].body.segmentMembership.ups
    for _, s in pairs(ups) do
      if s.status == "realized" then n = n + 1 end
    end
  end
  write(n, "\n")
end
LUA

exec python3 - "$n" "$rounds" "$data" "$tmp" "$hubfn" "$app/segments" \
    "$build/bench/naive_cjson" "$tmp/naive.lua" <<'PY'
import os, platform, statistics, subprocess, sys
n, rounds = int(sys.argv[1]), int(sys.argv[2])
data, tmp, hubfn, fn, naive, naive_lua = sys.argv[3:9]
size = os.path.getsize(data)
cmds = {
    "hubfn": ["taskset", "-c", "0", hubfn, "run", fn, "--events", data],
    "naive": ["taskset", "-c", "0", naive, naive_lua, data, "100"],
}

def run(name):
    out = os.path.join(tmp, name + ".out")
    with open(out, "wb") as o, open(os.path.join(tmp, name + ".err"), "wb") as e:
        p = subprocess.Popen(cmds[name], stdout=o, stderr=e)
        _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{name} failed (status {status}), see {tmp}/{name}.err")
    with open(out) as f:
        total = sum(int(x) for x in f)
    return ru.ru_utime + ru.ru_stime, total

try:
    model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                 if l.startswith("model name"))
except (OSError, StopIteration):
    model = platform.processor() or "unknown CPU"
print(f"{n} AEP payloads, {size / n:.0f} bytes average, batches of 100, one core "
      f"(taskset -c 0), CPU time user+sys; {model}, {os.cpu_count()} CPUs, "
      f"load {os.getloadavg()[0]:.1f}")
times = {"hubfn": [], "naive": []}
realized = {}
for r in range(rounds):
    for name in ("naive", "hubfn") if r % 2 == 0 else ("hubfn", "naive"):
        t, total = run(name)
        times[name].append(t)
        realized[name] = total
    print(f"round {r + 1}: naive {times['naive'][-1] / n * 1e6:.2f} us/event, "
          f"hubfn {times['hubfn'][-1] / n * 1e6:.2f} us/event")
if realized["hubfn"] != realized["naive"]:
    sys.exit(f"the outputs differ: hubfn counted {realized['hubfn']} realized, "
             f"naive {realized['naive']}")
med = {k: statistics.median(v) for k, v in times.items()}
best = {k: min(v) for k, v in times.items()}
for name, label in (("naive", "naive  cJSON -> Lua tables -> handler"),
                    ("hubfn", "hubfn  run, ev.activation -> handler  ")):
    print(f"{label}  {n / med[name]:9.0f} events/s  {med[name] / n * 1e6:5.2f} us/event "
          f"(median; best {n / best[name]:.0f} events/s)")
print(f"ratio  {med['naive'] / med['hubfn']:.2f}x (hubfn / naive events/s, medians; "
      f"best rounds {best['naive'] / best['hubfn']:.2f}x); {realized['hubfn']} realized "
      f"audiences counted by both")
PY
