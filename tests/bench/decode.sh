#!/usr/bin/env bash
# End-to-end decode benchmark: `hubfn run` against the naive cJSON ceiling, on one core.
#
#   tests/bench/decode.sh [EVENTS] [ROUNDS]      defaults: 200000 AEP payloads, 5 rounds
#
# Generates EVENTS AEP activation payloads (tests/bench/decode/gen_aep.py, about 690 bytes
# each) once, then, ROUNDS times in rotating order, runs
#   naive   tests/bench/naive_cjson.c: the file line by line, cJSON_ParseWithLength, a
#           recursive walk into Lua tables, { body = ... } events, one Lua call per 100
#           events, a handler reading every segment status from body.segmentMembership.ups
#   body    build/hubfn run FUNCTION --events FILE, maxEventBatchSize 100, with a handler
#           doing naive's work: it reads ev.body of every event (the whole body decoded into
#           Lua tables) and every status under body.segmentMembership.ups
#   view    the same with a handler reading every segment status from ev.activation.segments
#           (hubfn's activation view, built from the text; the body is never decoded)
#   noop    the same with a handler that reads nothing (`function(events, context) end`):
#           what reading the file, the events and the invocations cost by themselves
# each pinned to CPU 0 (taskset -c 0). It measures each process's CPU time (user+sys, from
# wait4) and prints per-event CPU time, events/s (events / CPU seconds) and the ratio of each
# median to naive's. Every handler but noop writes its batch's count of realized audiences;
# the totals must match. Not part of `make test`.
#   HUBFN=path        the binary to measure (default build/hubfn, built with make)
#   HUBFN_BASE=path   also run this other build of hubfn in the same rounds (rows "base ..."),
#                     with the ratio of its CPU per event to HUBFN's
#   DECODE_RUNS=list  what to run, from naive,body,view,noop (default all)
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
rm -rf "$app"
for w in body view noop; do
    mkdir -p "$app/$w"
    cat >"$app/$w/function.json" <<'JSON'
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "aep", "connection": "Conn", "cardinality": "many" } ] }
JSON
done
cat >"$app/host.json" <<'JSON'
{ "version": "2.0",
  "extensions": { "eventHubs": { "maxEventBatchSize": 100 } },
  "logging": { "logLevel": { "default": "Warning" } } }
JSON
echo '{ "IsEncrypted": false, "Values": { "Conn": "localhost:9092" } }' >"$app/local.settings.json"
cat >"$app/body/handler.lua" <<'LUA'
-- naive's work: every body decoded, every status under segmentMembership.ups; writes the
-- batch's realized count
local write = io.write
return function(events, context)
  local n = 0
  for i = 1, #events do
    for _, s in pairs(events[i].body.segmentMembership.ups) do
      if s.status == "realized" then n = n + 1 end
    end
  end
  write(n, "\n")
end
LUA
cat >"$app/view/handler.lua" <<'LUA'
-- every segment status of every event from the activation view; writes the batch's
-- realized count
local write = io.write
return function(events, context)
  local n = 0
  for i = 1, #events do
    for _, s in ipairs(events[i].activation.segments) do
      if s.status == "realized" then n = n + 1 end
    end
  end
  write(n, "\n")
end
LUA
cat >"$app/noop/handler.lua" <<'LUA'
-- reads nothing
return function(events, context) end
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

exec python3 - "$n" "$rounds" "$data" "$tmp" "$hubfn" "$app" "$build/bench/naive_cjson" \
    "$tmp/naive.lua" "${HUBFN_BASE:-}" "${DECODE_RUNS:-naive,body,view,noop}" <<'PY'
import os, platform, statistics, subprocess, sys
n, rounds = int(sys.argv[1]), int(sys.argv[2])
data, tmp, hubfn, app, naive, naive_lua, base, runs = sys.argv[3:11]
size = os.path.getsize(data)
pin = ["taskset", "-c", "0"]
WHAT = {"body": "handler reads ev.body (the whole body decoded)",
        "view": "handler reads ev.activation (the body not decoded)",
        "noop": "handler reads nothing"}
cmds, labels = {}, {}
for w in runs.split(","):
    if w == "naive":
        cmds[w] = pin + [naive, naive_lua, data, "100"]
        labels[w] = "naive: cJSON parse, walk into Lua tables, handler reads body"
    elif w in WHAT:
        cmds[w] = pin + [hubfn, "run", os.path.join(app, w), "--events", data]
        labels[w] = "hubfn run, " + WHAT[w]
        if base:
            cmds["base " + w] = pin + [base, "run", os.path.join(app, w), "--events", data]
            labels["base " + w] = "base hubfn run, " + WHAT[w]
    else:
        sys.exit(f"DECODE_RUNS: unknown '{w}' (naive, body, view, noop)")
names = list(cmds)

def run(name):
    stem = os.path.join(tmp, name.replace(" ", "-"))
    with open(stem + ".out", "wb") as o, open(stem + ".err", "wb") as e:
        p = subprocess.Popen(cmds[name], stdout=o, stderr=e)
        _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{name} failed (status {status}), see {stem}.err")
    with open(stem + ".out") as f:
        total = sum(int(x) for x in f)
    return ru.ru_utime + ru.ru_stime, total

try:
    model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                 if l.startswith("model name"))
except (OSError, StopIteration):
    model = platform.processor() or "unknown CPU"
print(f"{n} AEP payloads, {size / n:.0f} bytes average, batches of 100, one core "
      f"(taskset -c 0), CPU time user+sys; {model}, {os.cpu_count()} CPUs, "
      f"load {os.getloadavg()[0]:.1f}", flush=True)
times = {k: [] for k in names}
realized = {}
for r in range(rounds):
    k = r % len(names)
    for name in names[k:] + names[:k]:
        t, total = run(name)
        times[name].append(t)
        if not name.endswith("noop"):
            realized[name] = total
    print(f"round {r + 1}: " + ", ".join(f"{x} {times[x][-1] / n * 1e6:.2f}" for x in names)
          + " us/event", flush=True)
if len(set(realized.values())) > 1:
    sys.exit(f"the realized counts differ: {realized}")
med = {k: statistics.median(v) for k, v in times.items()}
best = {k: min(v) for k, v in times.items()}
print()
print("| what | events/s | CPU per event | vs naive |" + (" vs base |" if base else ""))
print("|---|---|---|---|" + ("---|" if base else ""))
for name in names:
    row = (f"| {labels[name]} | {n / med[name]:,.0f} | {med[name] / n * 1e6:.2f} us | "
           + (f"{med['naive'] / med[name]:.2f}x |" if "naive" in med else "- |"))
    if base:
        b = "base " + name
        row += f" {med[b] / med[name]:.2f}x |" if b in med and b != name else " |"
    print(row)
print(f"\nevents/s: events / CPU seconds of the process, medians of {rounds} rounds (best: "
      + ", ".join(f"{x} {n / best[x]:,.0f}" for x in names) + "); vs naive: naive's CPU per "
      "event / this one's" + ("; vs base: the base build's / this one's" if base else "")
      + (f"; {next(iter(realized.values()))} realized audiences counted by each"
         if realized else ""))
PY
