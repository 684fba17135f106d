#!/usr/bin/env bash
# State restore benchmark: how long an eventHubState binding takes to read a partition's
# state back from its hub before the partition's first batch, against kcat reading the
# same partition to its end (the floor: a fetch loop that decodes nothing). Not part of
# `make test`.
#
#   tests/bench/state.sh [--kafka] [--keys N] [--partitions N] [--rounds N]
#
# Broker: by default a standalone Kafka-protocol broker on loopback (build/tools/mockbroker,
# librdkafka's mock cluster); with --kafka the Apache Kafka broker of the test harness
# (tests/kafka/broker.sh, started if needed and stopped again if this script started it),
# where the state hub is compacted.
#
# Data: KEYS (100000) keys of the aep-state-router example's form
# ("ecid:38 digits/audience id", 82 bytes) with values of its form
# ({"membership":"in","qualifiedAt":...}, 46 bytes), spread over the PARTITIONS of a state
# hub (1 on Kafka; 4 on the mock broker, whose partitions keep only their last 5 MB),
# loaded with kcat (record batches of at most 64 KB). Then ROUNDS (3) times, in alternating
# order:
#   kcat   kcat -C -o beginning -e on every partition of the state hub, printing the keys to
#          a pipe that counts them, with the fetch settings of hubfn's restore consumer
#          (fetch.wait.max.ms 100, fetch.message.max.bytes 4 MB, queued.min.messages 100000,
#          queued.max.messages.kbytes 16384): the time from its start to its exit, and from
#          its first key to its exit (kcat then waits for a fetch that finds nothing to know
#          it is at the end; hubfn stops at the partition's high watermark)
#   hubfn  hubfn start --exit-on-eof on an app whose function has an empty input hub with as
#          many partitions and the state binding: the restore's own time from its log lines
#          ("restored N keys ... in T s", per partition, from the assignment to the state
#          being ready, the records checked as JSON and put in the partition's map; the
#          partitions are read at once, so the longest), and the whole process's CPU and
#          peak RSS
# and each of the two once more on an empty state hub: the CPU per key is that of the run on
# the full hub minus that of the run on the empty one (startup, group join, connections
# cancel out).
# Medians of the rounds; ratios against kcat. CPU and RSS come from wait4 in
# tests/bench/rusage.c.
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
broker=mock keys=100000 rounds=3 parts=
usage="usage: $0 [--kafka] [--keys N] [--partitions N] [--rounds N]"
while [ $# -gt 0 ]; do
    case "$1" in
        --kafka) broker=kafka ;;
        --keys) keys=$2; shift ;;
        --partitions) parts=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$parts" ] || { [ "$broker" = kafka ] && parts=1 || parts=4; }
build=${BUILD:-build}
hubfn=${HUBFN:-$top/$build/hubfn}
tmp=${TMPDIR:-/tmp}/hubfn-bench-state
mkdir -p "$tmp" "$build/bench"
if [ -z "${HUBFN:-}" ]; then
    make --no-print-directory -s "$build/hubfn" >/dev/null
fi
make --no-print-directory -s "$build/tools/mockbroker" >/dev/null
${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -Werror tests/bench/rusage.c -o "$build/bench/rusage"

data=$tmp/state-$keys.tsv
[ -s "$data" ] || awk -v n="$keys" 'BEGIN { srand(7)
    for (i = 0; i < n; i++) {
        ecid = sprintf("%010d%010d%018d", int(rand() * 1e9), int(rand() * 1e9), i)
        seg = sprintf("%08x-%04x-4%03x-%04x-%012x", int(rand() * 4e9), i % 65536, i % 4096,
                      int(rand() * 65536), i)
        printf "ecid:%s/%s\t{\"membership\":\"%s\",\"qualifiedAt\":%d}\n", ecid, seg,
               (i % 5 ? "in" : "out"), 1714000000 + i
    } }' >"$data"

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ "${started_kafka:-0}" = 1 ]; then tests/kafka/broker.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

run_id=$(date +%s)
in=bench-in-$run_id st=bench-state-$run_id empty=bench-empty-$run_id
if [ "$broker" = mock ]; then
    mkfifo "$tmp/mock.in" 2>/dev/null || true
    sleep infinity >"$tmp/mock.in" &
    pids+=($!)
    "$build/tools/mockbroker" --topic "$in:$parts" --topic "$st:$parts" --topic "$empty:$parts" \
        <"$tmp/mock.in" \
        >"$tmp/mock.out" 2>"$tmp/mock.err" &
    pids+=($!)
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
    tests/kafka/broker.sh topic "$in" "$parts" >/dev/null
    tests/kafka/broker.sh topic --config cleanup.policy=compact "$st" "$parts" "$empty" "$parts" \
        >/dev/null
    label="Apache Kafka 3.9.1 (KRaft, one node, loopback, the test harness broker)"
fi
[ -n "$bootstrap" ] || { echo "the broker did not start (see $tmp)" >&2; exit 1; }
# key i to partition i mod PARTITIONS
for ((p = 0; p < parts; p++)); do
    awk -v p=$p -v n=$parts '(NR - 1) % n == p' "$data" |
        kcat -P -b "$bootstrap" -t "$st" -p $p -K $'\t' -z none -X linger.ms=5 -X batch.size=65536
done

app=$tmp/app
rm -rf "$app"
mkdir -p "$app/f"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "logging": { "logLevel": { "default": "Information" } } }
JSON
cat >"$app/local.settings.json" <<JSON
{ "Values": { "Conn": "$bootstrap", "IN": "$in" } }
JSON
cat >"$app/f/function.json" <<'JSON'
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "events", "eventHubName": "%IN%",
    "connection": "Conn", "consumerGroup": "%GROUP%", "cardinality": "many" },
  { "type": "eventHubState", "direction": "inout", "name": "state", "eventHubName": "%ST%",
    "connection": "Conn" } ] }
JSON
echo 'return function(events, context) end' >"$app/f/handler.lua"

python3 - "$tmp" "$hubfn" "$bootstrap" "$st" "$empty" "$keys" "$rounds" "$label" "$app" \
    "$build/bench/rusage" "$parts" <<'PY'
import os, platform, re, statistics, subprocess, sys, time
tmp, hubfn, bootstrap, st, empty, keys, rounds, label, app, rusage, parts = sys.argv[1:12]
keys, rounds, parts = int(keys), int(rounds), int(parts)

def usage(path):
    user, sys_, rss, _ = open(path).read().split()
    return float(user) + float(sys_), int(rss) / 1024

def run_kcat(hub, want):
    """Times from kcat's start to its exit and from its first key to its last; CPU, RSS."""
    out = os.path.join(tmp, "kcat.rusage")
    t0 = time.monotonic()
    p = subprocess.Popen([rusage, out, "kcat", "-C", "-b", bootstrap, "-t", hub,
                          "-o", "beginning", "-e", "-q", "-f", "%k\n",
                          "-X", "fetch.wait.max.ms=100", "-X", "fetch.message.max.bytes=4194304",
                          "-X", "queued.min.messages=100000",
                          "-X", "queued.max.messages.kbytes=16384"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    got, first, last = 0, None, None
    while True:
        chunk = p.stdout.read1(1 << 16)
        if not chunk:
            break
        last = time.monotonic()
        if first is None:
            first = last
        got += chunk.count(b"\n")
    rc = p.wait()
    end = time.monotonic()
    assert rc == 0 and got == want, ("kcat", rc, got)
    cpu, rss = usage(out)
    return {"secs": end - t0, "read": (last - first) if first else 0, "cpu": cpu, "rss": rss}

def run_hubfn(hub, want, r):
    """The restore's time (the longest partition's, from hubfn's log); CPU, RSS."""
    out = os.path.join(tmp, "hubfn.rusage")
    env = dict(os.environ, GROUP="bench-state-%d-%d-%s" % (os.getpid(), r, hub), ST=hub)
    logf = os.path.join(tmp, "hubfn.log")
    with open(logf, "w") as err:
        p = subprocess.Popen([rusage, out, hubfn, "start", app, "--exit-on-eof", "--workers",
                              "1", "--log-format", "text"], env=env, stdout=subprocess.DEVNULL,
                             stderr=err)
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            sys.exit("hubfn did not finish in 120 s; its log: " + logf)
    log = open(logf).read()
    m = re.findall(r"restored (\d+) keys \((\d+) bytes\) of partition \d+ from hub \S+ in "
                   r"([0-9.]+) s \((\d+) records read\)", log)
    got = sum(int(x[0]) for x in m)
    assert p.returncode == 0 and len(m) == parts and got == want, \
        ("hubfn", p.returncode, got, log[-800:])
    cpu, rss = usage(out)
    return {"secs": max(float(x[2]) for x in m), "cpu": cpu, "rss": rss,
            "bytes": sum(int(x[1]) for x in m)}

sides = ["kcat", "hubfn", "kcat-empty", "hubfn-empty"]
res = {w: [] for w in sides}
for r in range(rounds):
    for who in (sides if r % 2 == 0 else sides[::-1]):
        hub, want = (empty, 0) if who.endswith("-empty") else (st, keys)
        res[who].append(run_kcat(hub, want) if who.startswith("kcat") else
                        run_hubfn(hub, want, r))
med = {w: {k: statistics.median(x[k] for x in res[w]) for k in res[w][0] if k != "bytes"}
       for w in res}
cpu_model = ""
try:
    cpu_model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                     if l.startswith("model name"))
except (OSError, StopIteration):
    pass
print(f"state restore, {keys} keys in {parts} partition{'s' if parts > 1 else ''} "
      f"({res['hubfn'][0]['bytes'] / 1e6:.1f} MB in memory), {label}")
print(f"{platform.machine()}, {cpu_model}, {os.cpu_count()} CPUs; {rounds} rounds, medians")
h, k = med["hubfn"], med["kcat"]
# CPU of the reading itself: the run on the full hub minus the run on an empty one
hc = (h["cpu"] - med["hubfn-empty"]["cpu"]) / keys * 1e6
kc = (k["cpu"] - med["kcat-empty"]["cpu"]) / keys * 1e6
print("| side | time | keys/s | CPU per key | peak RSS |")
print("| --- | --- | --- | --- | --- |")
print(f"| kcat, first key to last (the read alone) | {k['read']:.3f} s | {keys / k['read']:,.0f} "
      f"| {kc:.2f} us | {k['rss']:.0f} MB |")
print(f"| kcat, start to exit (connect, read, wait for the end) | {k['secs']:.3f} s "
      f"| {keys / k['secs']:,.0f} | | |")
print(f"| **hubfn**, assignment to ready | **{h['secs']:.3f} s** | **{keys / h['secs']:,.0f}** "
      f"| **{hc:.2f} us** | {h['rss']:.0f} MB |")
print(f"hubfn's restore: {h['secs'] / k['read']:.2f}x the time of kcat's read alone, "
      f"{h['secs'] / k['secs']:.2f}x kcat's whole run; {hc / kc:.2f}x its CPU per key "
      f"(CPU per key: the run on the full hub minus one on an empty hub, whole process)")
PY
