#!/usr/bin/env bash
# Consumer benchmark: hubfn against kcat (the raw floor) and the consumers a user would run
# instead (kafkajs, confluent-kafka in Python, franz-go in Go, franz-go with gopher-lua), on
# one broker and one data set, in one run. Not part of `make test`.
#
#   tests/bench/consume.sh [--kafka] [--rounds N] [--events N] [--no-latency] [--peers LIST]
#
# Broker: by default a standalone Kafka-protocol broker on loopback (build/tools/mockbroker,
# librdkafka's mock cluster); with --kafka the Apache Kafka broker of the test harness
# (tests/kafka/broker.sh, started if needed and stopped again if this script started it; it
# honours HF_KAFKA_DIR and the HF_KAFKA_*_PORT variables).
#
# Throughput: EVENTS (150000) generated AEP activation payloads (tests/bench/decode/gen_aep.py,
# about 690 bytes, segmentMembership.ups holding 3-6 audiences) are loaded keyed into a
# 32-partition hub with kcat (record batches of at most 64 KB, what a producer lingering 5 ms
# writes). Then, ROUNDS (3) times, in rotating order and each with a fresh consumer group
# (auto.offset.reset earliest), every consumer below consumes the hub to its end:
#   kcat      kcat -G -e, printing only the partition of each message (no decoding)
#   hubfn (a) full body: hubfn start --exit-on-eof, default host.json (prefetchCount 300,
#             batches of 100), a handler that reads ev.body of every event (the whole body
#             decoded into Lua tables) and the status of every entry of
#             body.segmentMembership.ups, counting "realized"
#   hubfn (b) idiomatic: the same, but the handler reads ev.activation.segments (hubfn's
#             activation view, built straight from the JSON text; the body is not decoded)
#             and the status of each segment
#   kafkajs   tests/bench/kafkajs/consumer.js (kafkajs 2.2.4, Node): eachBatch, JSON.parse of
#             every value, every status under segmentMembership.ups; stops after EVENTS
#   confluent-kafka (Python)  tests/bench/python/consumer.py (confluent-kafka 2.16.1, which
#             bundles librdkafka 2.16): consume() batches of 100, json.loads of every value,
#             every status under segmentMembership.ups; stops at partition EOF everywhere;
#             fetch.queue.backoff.ms 10 instead of librdkafka 2.4+'s 1000, which idles a
#             consumer slower than its fetcher (hubfn's librdkafka has no such wait)
#   franz-go (Go)  tests/bench/go/franzgo (franz-go 1.22.3): encoding/json of every value
#             into a map[string]any, every status under segmentMembership.ups; compiled, no
#             scripting; stops at the high watermarks listed at start
#   franz-go + gopher-lua  tests/bench/go/gopherlua (franz-go 1.22.3, gopher-lua 1.1.2): the
#             records of one partition from one poll, at most 100, make a batch; each value
#             is decoded with encoding/json into a map[string]any, converted into Lua tables
#             and passed as ev.body to tests/bench/go/gopherlua/handler.lua, called once per
#             batch, which reads every status under body.segmentMembership.ups as hubfn (a)
#             does; stops like franz-go (Go)
# The peers do the same work for both workloads, so they run once per round; hubfn runs once
# per workload. Each commits offsets as its client does by default (hubfn, kafkajs and
# confluent-kafka auto-commit; franz-go auto-commits and commits what is left before it
# leaves). Every consumer but kcat prints "start" at its first event and its count of
# realized audiences; each count must equal the one this script reads from the data file.
# hubfn writes one line per batch, the others one line at the end.
# For each it reports CPU time per event (user+sys of the whole process, from wait4, so the
# group join and every thread count), events/s from its first event to its exit (after the
# group join), and peak RSS (ru_maxrss); medians of the rounds, each also as a ratio to hubfn
# (a) and to hubfn (b). --peers LIST (comma-separated, from kcat,kafkajs,python,go,golua;
# default all) picks the peers; hubfn (a) and (b) always run.
# Workers (unless --no-scaling): hubfn (a) also runs with --workers 1, and a CPU-bound
# handler (workload (a), then every decoded body encoded back to JSON with hubfn's json.encode)
# runs with the default workers (one per CPU) and with --workers 1; each pair is reported as
# events/s to the exit and to the last batch handled, with the CPUs busy during the run: CPU
# time of hubfn and of the broker process (from /proc, at the first event and at the exit)
# over that time. On a machine whose CPUs the broker shares, that says how much a further
# worker could have found.
# Peers are installed on first use from their registries into ~/.cache/hubfn/ (npm, PyPI, the
# Go module proxy; see install.sh in each directory), never into the repository.
#
# Latency (with --kafka only): a paced producer (tests/bench/pace.c) writes at 1000 and then
# 10000 events/s for LATENCY_SECONDS (10) into a fresh hub while hubfn runs alone (the
# handler of workload (b)); p50/p99 from enqueue (the broker's append time: the hubs use
# LogAppendTime, like Event Hubs' enqueued time) to handler start come from hubfn's own
# histogram hubfn_enqueued_to_start_seconds on /metrics (millisecond buckets up to 5 ms).
# Each hub first gets 3 s of the same load (`pace --warm-up`, key "warm-up"; the test broker
# answers a new topic's first second of writes late): hubfn's histogram is scraped once those
# events are handled and again at the end, and the difference is measured; kafkajs does not
# time them. Then kafkajs (when among the peers) gets the same load on another hub and
# measures the same in its handler. The mock broker answers a fetch that found nothing only
# when the fetch's maximum wait ends, even if events arrive meanwhile, so there it would
# measure the consumers' fetch.wait settings.
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
broker=mock rounds=3 n=150000 latency=1 peers=kcat,kafkajs,python,go,golua
batch_bytes=65536 scaling=1
usage="usage: $0 [--kafka] [--rounds N] [--events N] [--no-latency] [--peers LIST]
       [--batch-bytes N] [--no-scaling]"
while [ $# -gt 0 ]; do
    case "$1" in
        --kafka) broker=kafka ;;
        --rounds) rounds=$2; shift ;;
        --events) n=$2; shift ;;
        --no-latency) latency=0 ;;
        --peers) peers=$2; shift ;;
        --batch-bytes) batch_bytes=$2; shift ;;
        --no-scaling) scaling=0 ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
    shift
done
for p in ${peers//,/ }; do
    case "$p" in
        kcat|kafkajs|python|go|golua) ;;
        *) echo "$0: unknown peer '$p' (kcat, kafkajs, python, go, golua)" >&2; exit 2 ;;
    esac
done
has_peer() { case ",$peers," in *",$1,"*) return 0 ;; esac; return 1; }
[ "$broker" = kafka ] || latency=0
build=${BUILD:-build}
hubfn=${HUBFN:-$top/$build/hubfn}
tmp=${TMPDIR:-/tmp}/hubfn-bench-consume
mkdir -p "$tmp" "$build/bench"
if [ -z "${HUBFN:-}" ]; then
    make --no-print-directory -s "$build/hubfn" >/dev/null
fi
make --no-print-directory -s "$build/tools/mockbroker" >/dev/null
${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -Werror tests/bench/pace.c -o "$build/bench/pace" \
    $(pkg-config --cflags --libs rdkafka)
${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -Werror tests/bench/rusage.c -o "$build/bench/rusage"
node_path= python_bin= go_bin=
if has_peer kafkajs; then node_path=$(tests/bench/kafkajs/install.sh | tail -n 1); fi
if has_peer python; then python_bin=$(tests/bench/python/install.sh | tail -n 1); fi
if has_peer go || has_peer golua; then go_bin=$(tests/bench/go/install.sh | tail -n 1); fi

data=$tmp/aep-$n.jsonl
[ -s "$data" ] || python3 tests/bench/decode/gen_aep.py "$n" >"$data"
[ -s "$data.keyed" ] || awk '{ print NR "\t" $0 }' "$data" >"$data.keyed"

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ "${started_kafka:-0}" = 1 ]; then tests/kafka/broker.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

run_id=$(date +%s)
hubs="aep$run_id:32"
if [ "$broker" = mock ]; then
    # mock.out goes first: the loop below must not read the last run's bootstrap line
    rm -f "$tmp/mock.in" "$tmp/mock.out"
    mkfifo "$tmp/mock.in"
    sleep infinity >"$tmp/mock.in" &
    pids+=($!)
    args=()
    for h in $hubs; do args+=(--topic "$h"); done
    "$build/tools/mockbroker" "${args[@]}" <"$tmp/mock.in" >"$tmp/mock.out" 2>"$tmp/mock.err" &
    pids+=($!)
    broker_pid=$!
    for _ in $(seq 50); do grep -q '^bootstrap' "$tmp/mock.out" 2>/dev/null && break; sleep 0.1; done
    bootstrap=$(awk '/^bootstrap/ { print $2 }' "$tmp/mock.out")
    label="mock broker (librdkafka $(pkg-config --modversion rdkafka) mock cluster, loopback)"
else
    if ! tests/kafka/broker.sh status >/dev/null 2>&1; then
        tests/kafka/broker.sh start >/dev/null
        started_kafka=1
    fi
    . "${HF_KAFKA_DIR:-/tmp/hubfn-kafka}/env"
    bootstrap=$HF_KAFKA_PLAIN
    broker_pid=$(cat "${HF_KAFKA_DIR:-/tmp/hubfn-kafka}/kafka.pid")
    tests/kafka/broker.sh topic "aep$run_id" 32 >/dev/null
    # Latency hubs stamp events with the broker's append time, as Event Hubs' enqueued time
    # is: the time the hub took the event, whatever the producer did before.
    for h in lat1k-hubfn lat1k-kafkajs lat10k-hubfn lat10k-kafkajs; do
        tests/kafka/broker.sh tool org.apache.kafka.tools.TopicCommand --bootstrap-server \
            "$bootstrap" --create --topic "$h$run_id" --partitions 32 \
            --config message.timestamp.type=LogAppendTime >/dev/null
    done
    label="Apache Kafka 3.9.1 (KRaft, one node, loopback, the test harness broker)"
fi
[ -n "$bootstrap" ] || { echo "the broker did not start (see $tmp)" >&2; exit 1; }

kcat -P -b "$bootstrap" -t "aep$run_id" -K $'\t' -z none -X linger.ms=5 -X batch.size=$batch_bytes \
    -l "$data.keyed"

# One app per workload, the same but for the handler: app-body (a), app-activation (b), and
# app-encode for the workers rows (a CPU-bound handler).
for w in body activation encode; do
    app=$tmp/app-$w
    rm -rf "$app"
    mkdir -p "$app/segments"
    cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "logging": { "logLevel": { "default": "Warning" } } }
JSON
    cat >"$app/segments/function.json" <<'JSON'
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "%BENCH_HUB%", "consumerGroup": "%BENCH_GROUP%", "connection": "Conn",
    "cardinality": "many" } ] }
JSON
done
cat >"$tmp/app-body/segments/handler.lua" <<'LUA'
-- workload (a), full body: decodes every event's body and reads the status of every entry of
-- segmentMembership.ups; one line per batch: realized audiences, events
local write, first = io.write, true
io.stdout:setvbuf("line")
return function(events)
  if first then write("start\n"); first = false end
  local n = 0
  for i = 1, #events do
    for _, s in pairs(events[i].body.segmentMembership.ups) do
      if s.status == "realized" then n = n + 1 end
    end
  end
  write(n .. " " .. #events .. "\n")
end
LUA
cat >"$tmp/app-encode/segments/handler.lua" <<'LUA'
-- the workers rows' CPU-bound handler: workload (a), and every decoded body encoded back to
-- JSON (as a handler reshaping events for an output would); one line per batch as in (a)
local json = require("hubfn").json
local write, first = io.write, true
io.stdout:setvbuf("line")
return function(events)
  if first then write("start\n"); first = false end
  local n, bytes = 0, 0
  for i = 1, #events do
    local body = events[i].body
    for _, s in pairs(body.segmentMembership.ups) do
      if s.status == "realized" then n = n + 1 end
    end
    bytes = bytes + #json.encode(body)
  end
  assert(bytes > 0)
  write(n .. " " .. #events .. "\n")
end
LUA
cat >"$tmp/app-activation/segments/handler.lua" <<'LUA'
-- workload (b), idiomatic: reads every segment status of every event from the activation
-- view; one line per batch: realized audiences, events
local write, first = io.write, true
io.stdout:setvbuf("line")
return function(events)
  if first then write("start\n"); first = false end
  local n = 0
  for i = 1, #events do
    for _, s in ipairs(events[i].activation.segments) do
      if s.status == "realized" then n = n + 1 end
    end
  end
  write(n .. " " .. #events .. "\n")
end
LUA

python3 - "$top" "$tmp" "$hubfn" "$bootstrap" "$run_id" "$n" "$rounds" "$latency" "$data" \
    "$build/bench/pace" "$label" "$broker" "$peers" "$node_path" "$python_bin" "$go_bin" \
    "$build/bench/rusage" "$batch_bytes" "$scaling" "${HUBFN_BASE:-}" "$broker_pid" <<'PY'
import json, os, platform, re, socket, statistics, subprocess, sys, time, urllib.request
(top, tmp, hubfn, bootstrap, run_id, n, rounds, latency, data, pace, label, broker, peer_list,
 node_path, python_bin, go_bin, rusage, batch_bytes, scaling, base, broker_pid) = sys.argv[1:22]
n, rounds, latency, scaling = int(n), int(rounds), latency == "1", scaling == "1"
hub = "aep" + run_id
app_body, app_activation = os.path.join(tmp, "app-body"), os.path.join(tmp, "app-activation")
app_encode = os.path.join(tmp, "app-encode")
consumer_js = os.path.join(top, "tests/bench/kafkajs/consumer.js")
env_node = dict(os.environ, NODE_PATH=node_path)
# franz-go needs two request versions capped on the mock broker (tests/bench/go/consume)
env_go = dict(os.environ, HF_BENCH_MOCK_BROKER="1" if broker == "mock" else "0")
LABELS = {
    "kcat": "kcat (no decoding)",
    "hubfn-body": "hubfn (a) full body",
    "hubfn-activation": "hubfn (b) idiomatic",
    "hubfn-body-w1": "hubfn (a) full body, --workers 1",
    "hubfn-encode": "hubfn (a) and every body encoded back to JSON",
    "hubfn-encode-w1": "hubfn (a) and every body encoded back to JSON, --workers 1",
    "base-body": "base build (a) full body",
    "base-activation": "base build (b) idiomatic",
    "kafkajs": "kafkajs",
    "python": "confluent-kafka (Python)",
    "go": "franz-go (Go)",
    "golua": "franz-go + gopher-lua",
}
chosen = set(peer_list.split(","))
runners = [r for r in LABELS
           if r in ("hubfn-body", "hubfn-activation") or r in chosen
           or (r.startswith(("hubfn-body-w1", "hubfn-encode")) and scaling)
           or (r.startswith("base-") and base)]

def settings(app, group, hub_name):
    with open(os.path.join(app, "local.settings.json"), "w") as f:
        json.dump({"IsEncrypted": False, "Values": {"Conn": bootstrap, "BENCH_GROUP": group,
                                                    "BENCH_HUB": hub_name}}, f)

def command(runner, group):
    if runner == "kcat":
        return ["kcat", "-b", bootstrap, "-G", group, "-q", "-e", "-f", "%p\n",
                "-X", "auto.offset.reset=earliest", hub], None
    if runner.startswith(("hubfn-", "base-")):
        app = (app_activation if runner.endswith("activation")
               else app_encode if "-encode" in runner else app_body)
        settings(app, group, hub)
        workers = ["--workers", "1"] if runner.endswith("-w1") else []
        return [base if runner.startswith("base-") else hubfn, "start", app,
                "--exit-on-eof"] + workers, None
    if runner == "kafkajs":
        return ["node", consumer_js, bootstrap, hub, group, str(n)], env_node
    if runner == "python":
        return [python_bin, os.path.join(top, "tests/bench/python/consumer.py"), bootstrap, hub,
                group], None
    if runner == "go":
        return [os.path.join(go_bin, "franzgo"), bootstrap, hub, group], env_go
    return [os.path.join(go_bin, "gopherlua"), bootstrap, hub, group,
            os.path.join(top, "tests/bench/go/gopherlua/handler.lua")], env_go

def cpu_ticks(pid):
    # user + system clock ticks of a live process, all its threads; 0 once it is gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0

def child_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return int(f.read().split()[0])
    except (OSError, IndexError, ValueError):
        return None

TICK = os.sysconf("SC_CLK_TCK")

def run(runner, r):
    group = f"{runner}-{run_id}-{r}"
    cmd, env = command(runner, group)
    err = open(os.path.join(tmp, runner + ".err"), "wb")
    usage = os.path.join(tmp, runner + ".rusage")
    if os.path.exists(usage):
        os.unlink(usage)
    t0 = time.monotonic()
    # through the launcher: a child of this harness would report at least the harness's own
    # RSS as its peak (Linux counts the memory a process had before execve), rusage.c's
    # children report their own
    p = subprocess.Popen([rusage, usage] + cmd, stdout=subprocess.PIPE, stderr=err, env=env)
    first = last = None
    events = realized = 0
    for line in p.stdout:
        last = time.monotonic()
        if first is None:
            first = last
            # CPU of the consumer and of the broker up to its first event (the join)
            child = child_of(p.pid)
            cpu_first = cpu_ticks(child) / TICK if child else 0.0
            broker_first = cpu_ticks(broker_pid) / TICK
        f = line.split()
        if runner == "kcat":
            events += 1
        elif runner.startswith(("hubfn-", "base-")):
            if len(f) == 2:
                realized += int(f[0]); events += int(f[1])
        elif len(f) == 4 and f[0] == b"realized":
            realized, events = int(f[1]), int(f[3])
    p.wait()
    end = time.monotonic()
    if not os.path.exists(usage):
        sys.exit(f"{runner}: the launcher wrote no usage (exit status {p.returncode})")
    utime, stime, maxrss, status = open(usage).read().split()
    if int(status) != 0 or events != n or first is None:
        sys.exit(f"{runner} failed: wait status {status}, {events} of {n} events "
                 f"(see {tmp}/{runner}.err)")
    cpu = float(utime) + float(stime)
    # busy: CPUs used by the consumer and the broker from the first event to the exit
    busy = (cpu - cpu_first + cpu_ticks(broker_pid) / TICK - broker_first) / (end - first)
    return {"cpu": cpu, "rss": int(maxrss) / 1024, "rate": n / (end - first),
            "rate_last": n / (last - first) if last > first else 0.0, "busy": busy,
            "exit": end - last, "join": first - t0, "realized": realized}

# The count every consumer must report: realized entries of segmentMembership.ups.
expected = 0
with open(data, "rb") as f:
    for line in f:
        ups = json.loads(line).get("segmentMembership", {}).get("ups", {})
        expected += sum(1 for a in ups.values() if a.get("status") == "realized")

def machine():
    # lscpu's model name and cores, as the README names the machine
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info = dict(l.split(":", 1) for l in out.splitlines() if ":" in l)
        info = {k.strip(): v.strip() for k, v in info.items()}
        cores = int(info["Core(s) per socket"]) * int(info.get("Socket(s)", "1"))
        return (f"{info['Model name']}, {cores} cores ({info['CPU(s)']} CPUs"
                f"{', ' + info['Hypervisor vendor'] + ' VM' if 'Hypervisor vendor' in info else ''})")
    except (OSError, KeyError, ValueError):
        return f"{platform.processor() or 'unknown CPU'}, {os.cpu_count()} CPUs"
size = os.path.getsize(data) / n
print(f"{label}\n{n} AEP payloads ({size:.0f} bytes average) in 32 partitions, record batches "
      f"of at most {int(batch_bytes) // 1024} KB; {machine()}; load average "
      f"{os.getloadavg()[0]:.1f} at start; {rounds} rounds, medians", flush=True)
res = {p: [] for p in runners}
for r in range(rounds):
    k = r % len(runners)
    for runner in runners[k:] + runners[:k]:
        x = run(runner, r)
        res[runner].append(x)
        print(f"round {r + 1}: {LABELS[runner]}: {x['cpu'] / n * 1e6:.2f} us/event, "
              f"{x['rate']:,.0f}/s, {x['rss']:.0f} MB, join {x['join']:.1f} s", flush=True)
        if runner != "kcat" and x["realized"] != expected:
            sys.exit(f"{LABELS[runner]} counted {x['realized']} realized audiences, the data "
                     f"holds {expected}")
med = {p: {k: statistics.median(x[k] for x in res[p])
           for k in ("cpu", "rss", "rate", "rate_last", "busy", "exit")}
       for p in runners}
ha, hb = med["hubfn-body"], med["hubfn-activation"]
print()
print("| consumer | CPU per event | vs (a) | vs (b) | events/s after the join | vs (a) | vs (b) "
      "| peak RSS | vs (a) | vs (b) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for p in runners:
    if p.startswith("hubfn-encode"):
        continue
    m = med[p]
    print(f"| {LABELS[p]} | {m['cpu'] / n * 1e6:.2f} us | {m['cpu'] / ha['cpu']:.2f}x | "
          f"{m['cpu'] / hb['cpu']:.2f}x | {m['rate']:,.0f} | {m['rate'] / ha['rate']:.2f}x | "
          f"{m['rate'] / hb['rate']:.2f}x | {m['rss']:.0f} MB | {m['rss'] / ha['rss']:.2f}x | "
          f"{m['rss'] / hb['rss']:.2f}x |")
if scaling:
    print(f"\nWorkers: --workers {os.cpu_count()} (the default here) against --workers 1, "
          f"events/s after the join to the exit (as above) and to the last batch handled; "
          f"CPUs busy: the CPU time of hubfn and of the broker from the first event to the "
          f"exit, over that time, of the machine's {os.cpu_count()}; exit: from the last batch "
          f"handled to the exit")
    for what, many, one in (("(a) full body", "hubfn-body", "hubfn-body-w1"),
                            ("(a) and every body encoded back to JSON", "hubfn-encode",
                             "hubfn-encode-w1")):
        m, o = med[many], med[one]
        print(f"  hubfn {what}, {m['cpu'] / n * 1e6:.2f} us/event: {m['rate']:,.0f} against "
              f"{o['rate']:,.0f}/s, {m['rate'] / o['rate']:.2f}x; to the last batch "
              f"{m['rate_last']:,.0f} against {o['rate_last']:,.0f}/s, "
              f"{m['rate_last'] / o['rate_last']:.2f}x; CPUs busy {m['busy']:.2f} against "
              f"{o['busy']:.2f}; exit {m['exit']:.2f} s against {o['exit']:.2f} s", flush=True)
print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)
print(f"\nvs (a), vs (b): the figure divided by hubfn (a)'s, hubfn (b)'s. Realized audiences "
      f"counted: {expected} by every consumer but kcat, as the data holds.", flush=True)
if not latency:
    sys.exit(0)

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()

def histogram(text, name):
    buckets, count = [], 0.0
    for line in text.splitlines():
        m = re.match(name + r'_bucket\{.*le="([^"]+)"\} (\S+)', line)
        if m:
            buckets.append((float(m.group(1)), float(m.group(2))))
        m = re.match(name + r'_count\{.*\} (\S+)', line)
        if m:
            count += float(m.group(1))
    return buckets, count

def quantile(buckets, count, q):
    # Prometheus histogram_quantile: linear within the bucket holding the rank
    rank, lo, below = q * count, 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * ((rank - below) / (c - below) if c > below else 1)
        lo, below = le, c
    return lo

def processed(text):
    return sum(float(v) for v in re.findall(r'^hubfn_events_processed_total\{[^}]*\} (\S+)',
                                             text, re.M))

secs = int(os.environ.get("LATENCY_SECONDS", "10"))
print(f"\nLatency, enqueue to handler start, {secs} s of steady load into 32 partitions:")
print("| rate | hubfn p50 | hubfn p99 | kafkajs p50 | kafkajs p99 |")
print("|---|---|---|---|---|")
def wait_ready(port, proc, what):
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            sys.exit(f"hubfn did not get ready (see {what})")
        time.sleep(0.2)

def paced(lat_hub, rate):
    out = subprocess.run([pace, bootstrap, lat_hub, str(rate), str(secs), data],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"pace failed: {out.stdout} {out.stderr}")

# The Kafka test broker answers the first second or so of writes at such a rate into a new
# topic late, and what is produced meanwhile reaches the log in bursts: so each latency hub
# first gets WARM_SECONDS of the same load (key "warm-up"), consumed and left out of the
# figures, before the measured load starts.
WARM_SECONDS = 3
def warm_up(lat_hub, rate):
    out = subprocess.run([pace, "--warm-up", bootstrap, lat_hub, str(rate), str(WARM_SECONDS),
                          data], capture_output=True, text=True)
    if out.returncode != 0 or out.stdout.split() != ["warmed", str(rate * WARM_SECONDS)]:
        sys.exit(f"pace --warm-up failed: {out.stdout} {out.stderr}")

def wait_processed(port, n):
    deadline = time.monotonic() + 60
    while processed(metrics(port)) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    return metrics(port)

def minus(after, before):
    # the histogram of what was observed between two scrapes
    old = dict(before)
    return [(le, c - old.get(le, 0.0)) for le, c in after]

for rate, name in ((1000, "lat1k"), (10000, "lat10k")):
    total = rate * secs
    # hubfn alone
    lat_hub, port = f"{name}-hubfn{run_id}", free_port()
    settings(app_activation, f"{name}-hubfn-{run_id}", lat_hub)
    herr = os.path.join(tmp, f"{name}.hubfn.err")
    hp = subprocess.Popen([hubfn, "start", app_activation, "--http-port", str(port)],
                          stdout=subprocess.DEVNULL, stderr=open(herr, "wb"))
    wait_ready(port, hp, herr)
    warm = rate * WARM_SECONDS
    warm_up(lat_hub, rate)
    b0, c0 = histogram(wait_processed(port, warm), "hubfn_enqueued_to_start_seconds")
    paced(lat_hub, rate)
    text = wait_processed(port, warm + total)
    hp.terminate()
    hp.wait()
    b, c = histogram(text, "hubfn_enqueued_to_start_seconds")
    b, c = minus(b, b0), c - c0
    if c0 != warm or c != total:
        sys.exit(f"hubfn timed {c0} warm-up events of {warm} and {c} of {total}")
    # kafkajs alone, the same load
    kjs = "- | -"
    if "kafkajs" in chosen:
        lat_hub = f"{name}-kafkajs{run_id}"
        kp = subprocess.Popen(["node", consumer_js, bootstrap, lat_hub,
                               f"{name}-kafkajs-{run_id}", str(rate * WARM_SECONDS + total),
                               "--latency"],
                              stdout=subprocess.PIPE,
                              stderr=open(os.path.join(tmp, f"{name}.kafkajs.err"), "wb"),
                              env=env_node)
        time.sleep(8)                # its group join
        warm_up(lat_hub, rate)
        time.sleep(1)
        paced(lat_hub, rate)
        try:
            kout, _ = kp.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            kp.kill()
            kout, _ = kp.communicate()
        m = re.search(rb"latency_ms p50 (\S+) p99 (\S+)", kout)
        kjs = (f"{float(m.group(1)):.1f} ms | {float(m.group(2)):.1f} ms" if m
               else "n/a | n/a")
    print(f"| {rate}/s | {quantile(b, c, 0.5) * 1e3:.1f} ms | {quantile(b, c, 0.99) * 1e3:.1f} ms"
          f" | {kjs} |", flush=True)
PY
