#!/usr/bin/env bash
# HTTP forwarding benchmark: a hubfn function with an "http" output binding against the Node.js
# forwarder a user would write instead (kafkajs + undici), doing the same work at the same
# concurrency against the same HTTP server, on one broker and one data set, in one run. Not
# part of `make test`.
#
#   tests/bench/http.sh [--kafka] [--rounds N] [--events N] [--concurrency N] [--no-count]
#                       [--sides a,b,node] [--baseline HUBFN]
#
# Broker: by default a standalone Kafka-protocol broker on loopback (build/tools/mockbroker, as
# tests/bench/consume.sh runs it); with --kafka the Apache Kafka broker of the test harness
# (tests/kafka/broker.sh, started if needed and stopped again if this script started it; it
# honours HF_KAFKA_DIR and the HF_KAFKA_*_PORT variables).
#
# Data: EVENTS (50000) generated AEP activation payloads (tests/bench/decode/gen_aep.py, the
# same as consume.sh's: segmentMembership.ups holds 3-6 audiences, about 30% "realized" and
# 20% "exited"; the profile's ECID is identityMap.ecid[0].id) loaded keyed into a 32-partition
# hub with kcat (record batches of at most 64 KB).
#
# The work, the same on every side: for each event decode the body; for each audience with
# status "realized" send PUT /profiles/{ecid}/audiences/{audienceId} with the JSON body
# {ecid, audience, status, lastQualificationTime}; for each "exited" a DELETE to the same path
# (no body). Every request carries Authorization and an Idempotency-Key; at most CONCURRENCY
# (16) requests are in flight, over keep-alive HTTP/1.1 connections; a batch's offsets are
# committed only after every request of the batch got a 2xx. The sides:
#   hubfn (a) ev.body, the same work as Node: hubfn start --exit-on-eof, default host.json,
#             eventHubTrigger (cardinality many) and an "http" output binding (maxConcurrency
#             CONCURRENCY, requestsPerSecond 0); the handler reads ev.body (the whole body
#             decoded into Lua tables, as JSON.parse does) and calls
#             context.bindings.crm:send(body, { path =, method = }) once per request; the
#             binding sends them from hubfn's event loop through libcurl's multi interface
#             (at most CONCURRENCY keep-alive HTTP/1.1 connections, libcurl reusing them). This
#             is the headline row and the one the ratios are taken against.
#   hubfn (b) ev.activation, idiomatic: the same, but the handler reads the activation view
#             (ev.activation.segments for the statuses and times, ev.activation.identities
#             for the ECID); the body is not decoded.
#   Node      tests/bench/http-node/forward.js (kafkajs 2.2.4, undici 6.24.1 request() over a
#             Pool of CONCURRENCY connections, a semaphore of CONCURRENCY): eachBatch,
#             JSON.parse of every value, resolveOffset after awaiting the batch's requests,
#             autoCommit; exits when every partition reached the high watermark it read at
#             start. undici is pinned rather than Node's built-in fetch (which is undici too,
#             6.24.1 in Node 20.20) so the client does not change with the Node version, and
#             its request() API rather than fetch() because it is undici's fast path: the
#             comparison is against the fastest client a Node user would pick.
#   hubfn (a0) with --baseline HUBFN: hubfn (a) run by another hubfn binary (a copy of an
#             earlier build, say), in the same rotation, to measure a change against it on a
#             shared machine.
# --sides picks the rows that run (default a,b,node; a0 joins when --baseline is given).
# hubfn runs only when it has the binding (`hubfn help http` exits 0); otherwise the script
# says so and runs the Node side alone.
#
# The HTTP server: nginx (Debian's nginx-light, installed with apt-get when missing) on
# loopback with a config written to a temp dir: worker_processes 1, keep-alive (no limit on
# requests per connection), `return 200 '{"ok":true}'` for any method and path. A fresh nginx
# serves each run, so each run has its own access log and nginx's own CPU (wait4 of its
# master, which reaps the worker) is reported per request, to show the server is not the
# bottleneck. Counting: the access log has one buffered line per request (method, URI, status,
# Idempotency-Key, Content-Length, request size; buffer=256k, so about one write(2) per 2000
# requests). After each run the script checks that the log holds exactly the requests the
# data calls for, each (method, path) once, every status 2xx, every Idempotency-Key distinct.
# What the log costs nginx is measured with --no-count (access log off, no check) and shows
# in its CPU column; it costs the consumers nothing.
#
# Each side runs ROUNDS (3) times in rotating order, each run with a fresh consumer group. For
# each: CPU time per event (user+sys of the whole process: startup, group join, every thread)
# and its system part (the kernel's, mostly loopback TCP, which every client pays per
# request), events/s from its first event to its exit (so the last requests and the last
# commit count), peak RSS (ru_maxrss); medians of the rounds, with ratios to hubfn (a). CPU
# per event is also shown from the first event on (the process's CPU time read from /proc at
# its first output line, subtracted), which leaves out startup and the group join (Node's
# JIT warm-up comes later and stays in). The
# figures come from wait4 in tests/bench/rusage.c, a small launcher that starts each side:
# a child of the harness itself would report at least the harness's RSS as its peak.
# Peers are installed on first use from npm into ~/.cache/hubfn/bench-http-node (see
# tests/bench/http-node/install.sh), never into the repository.
set -eu
cd "$(dirname "$0")/../.."
top=$PWD
broker=mock rounds=3 n=50000 conc=16 count=1 sides=a,b,node baseline=
usage="usage: $0 [--kafka] [--rounds N] [--events N] [--concurrency N] [--no-count]"\
" [--sides a,b,node] [--baseline HUBFN]"
while [ $# -gt 0 ]; do
    case "$1" in
        --kafka) broker=kafka ;;
        --rounds) rounds=$2; shift ;;
        --events) n=$2; shift ;;
        --concurrency) conc=$2; shift ;;
        --no-count) count=0 ;;
        --sides) sides=$2; shift ;;
        --baseline) baseline=$(realpath "$2"); shift ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
    shift
done
build=${BUILD:-build}
hubfn=${HUBFN:-$top/$build/hubfn}
tmp=${TMPDIR:-/tmp}/hubfn-bench-http
mkdir -p "$tmp"
if [ -z "${HUBFN:-}" ]; then
    make --no-print-directory -s "$build/hubfn" >/dev/null
fi
make --no-print-directory -s "$build/tools/mockbroker" >/dev/null
mkdir -p "$build/bench"
${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -Werror tests/bench/rusage.c -o "$build/bench/rusage"

has_http=0
if "$hubfn" help http >/dev/null 2>&1; then
    has_http=1
else
    echo "http.sh: this hubfn has no \"http\" output binding (\`hubfn help http\` fails):" \
        "running the Node side alone, without hubfn rows" >&2
fi

node_path=$(tests/bench/http-node/install.sh | tail -n 1)
nginx=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$nginx" ]; then
    if command -v apt-get >/dev/null; then
        echo "http.sh: installing Debian's nginx-light" >&2
        sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get update -qq >&2 &&
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx-light >&2
    fi
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    [ -x "$nginx" ] || { echo "http.sh: nginx not found (install nginx-light)" >&2; exit 1; }
fi

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
hub="http$run_id"
if [ "$broker" = mock ]; then
    # mock.out goes first: the loop below must not read the last run's bootstrap line
    rm -f "$tmp/mock.in" "$tmp/mock.out"
    mkfifo "$tmp/mock.in"
    sleep infinity >"$tmp/mock.in" &
    pids+=($!)
    "$build/tools/mockbroker" --topic "$hub:32" <"$tmp/mock.in" >"$tmp/mock.out" \
        2>"$tmp/mock.err" &
    pids+=($!)
    for _ in $(seq 50); do
        grep -q '^bootstrap' "$tmp/mock.out" 2>/dev/null && break
        sleep 0.1
    done
    bootstrap=$(awk '/^bootstrap/ { print $2 }' "$tmp/mock.out")
    label="mock broker (librdkafka $(pkg-config --modversion rdkafka) mock cluster, loopback)"
else
    if ! tests/kafka/broker.sh status >/dev/null 2>&1; then
        tests/kafka/broker.sh start >/dev/null
        started_kafka=1
    fi
    . "${HF_KAFKA_DIR:-/tmp/hubfn-kafka}/env"
    bootstrap=$HF_KAFKA_PLAIN
    tests/kafka/broker.sh topic "$hub" 32 >/dev/null
    label="Apache Kafka 3.9.1 (KRaft, one node, loopback, the test harness broker)"
fi
[ -n "$bootstrap" ] || { echo "the broker did not start (see $tmp)" >&2; exit 1; }

kcat -P -b "$bootstrap" -t "$hub" -K $'\t' -z none -X linger.ms=5 -X batch.size=65536 \
    -l "$data.keyed"

# One app per handler, the same but for the handler: app-body (a) and app-activation (b).
for w in body activation; do
    app=$tmp/app-$w
    rm -rf "$app"
    mkdir -p "$app/forward"
    cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "logging": { "logLevel": { "default": "Warning" } } }
JSON
    cat >"$app/forward/function.json" <<JSON
{ "bindings": [
    { "type": "eventHubTrigger", "direction": "in", "name": "events",
      "eventHubName": "%BENCH_HUB%", "consumerGroup": "%BENCH_GROUP%", "connection": "Conn",
      "cardinality": "many" },
    { "type": "http", "direction": "out", "name": "crm",
      "url": "%CRM_URL%", "method": "POST",
      "headers": { "Authorization": "%CRM_AUTH%" },
      "timeout": "00:00:10", "maxConcurrency": $conc, "requestsPerSecond": 0,
      "maxRetryTime": "00:05:00" } ] }
JSON
done
cat >"$tmp/app-body/forward/handler.lua" <<'LUA'
-- (a) ev.body, the same work as the Node peer: the whole body decoded; one PUT per realized
-- audience, one DELETE per exited one. One line per batch: requests queued, events.
local write, first = io.write, true
io.stdout:setvbuf("line")
return function(events, context)
  if first then write("start\n"); first = false end
  local crm, n = context.bindings.crm, 0
  for i = 1, #events do
    local body = events[i].body
    local ecid = body.identityMap.ecid[1].id
    for id, s in pairs(body.segmentMembership.ups) do
      local status = s.status
      if status == "realized" then
        crm:send({ ecid = ecid, audience = id, status = status,
                   lastQualificationTime = s.lastQualificationTime },
                 { path = "/profiles/" .. ecid .. "/audiences/" .. id, method = "PUT" })
        n = n + 1
      elseif status == "exited" then
        crm:send("", { path = "/profiles/" .. ecid .. "/audiences/" .. id, method = "DELETE" })
        n = n + 1
      end
    end
  end
  write(n .. " " .. #events .. "\n")
end
LUA
cat >"$tmp/app-activation/forward/handler.lua" <<'LUA'
-- (b) ev.activation, idiomatic: statuses and times from the activation view's segments, the
-- ECID from its identities; the body is not decoded. One PUT per realized audience, one
-- DELETE per exited one. One line per batch: requests queued, events.
local write, first = io.write, true
io.stdout:setvbuf("line")
return function(events, context)
  if first then write("start\n"); first = false end
  local crm, n = context.bindings.crm, 0
  for i = 1, #events do
    local a = events[i].activation
    local ecid = a.identities.ecid[1]
    local segments = a.segments
    for j = 1, #segments do
      local s = segments[j]
      local status = s.status
      if status == "realized" then
        crm:send({ ecid = ecid, audience = s.id, status = status,
                   lastQualificationTime = s.lastQualificationTime },
                 { path = "/profiles/" .. ecid .. "/audiences/" .. s.id, method = "PUT" })
        n = n + 1
      elseif status == "exited" then
        crm:send("", { path = "/profiles/" .. ecid .. "/audiences/" .. s.id, method = "DELETE" })
        n = n + 1
      end
    end
  end
  write(n .. " " .. #events .. "\n")
end
LUA

python3 - "$top" "$tmp" "$hubfn" "$bootstrap" "$run_id" "$n" "$rounds" "$data" "$label" \
    "$node_path" "$nginx" "$conc" "$count" "$has_http" "$build/bench/rusage" "$sides" \
    "$baseline" <<'PY'
import collections, json, os, platform, signal, socket, statistics, subprocess, sys, time
(top, tmp, hubfn, bootstrap, run_id, n, rounds, data, label, node_path, nginx, conc, count,
 has_http, rusage, sides, baseline) = sys.argv[1:18]
n, rounds, conc = int(n), int(rounds), int(conc)
count, has_http = count == "1", has_http == "1"
hub = "http" + run_id
auth = "Bearer bench-token"
forward_js = os.path.join(top, "tests/bench/http-node/forward.js")
LABELS = {
    "hubfn-body": "hubfn (a) ev.body, same work",
    "hubfn-base": "hubfn (a0) ev.body, --baseline " + os.path.basename(baseline),
    "hubfn-activation": "hubfn (b) ev.activation",
    "node": "Node (kafkajs + undici)",
}
SIDES = {"a": "hubfn-body", "a0": "hubfn-base", "b": "hubfn-activation", "node": "node"}
picked = sides.split(",") + (["a0"] if baseline else [])
if any(k not in SIDES for k in picked):
    sys.exit(f"--sides: pick among {', '.join(SIDES)}")
runners = [SIDES[k] for k in ("a", "a0", "b", "node") if k in picked
           and (k == "node" or has_http) and (k != "a0" or baseline)]

# What the data calls for: one PUT per realized audience, one DELETE per exited one.
expected = collections.Counter()
with open(data, "rb") as f:
    for line in f:
        body = json.loads(line)
        ecid = body["identityMap"]["ecid"][0]["id"]
        for aud, s in body["segmentMembership"]["ups"].items():
            method = {"realized": "PUT", "exited": "DELETE"}.get(s.get("status"))
            if method:
                expected[(method, f"/profiles/{ecid}/audiences/{aud}")] += 1
want = sum(expected.values())
assert max(expected.values()) == 1, "the data repeats a (method, path)"

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

port = free_port()
url = f"http://127.0.0.1:{port}"
ndir = os.path.join(tmp, "nginx")
os.makedirs(ndir, exist_ok=True)
access_log = os.path.join(ndir, "access.log")
conf = os.path.join(ndir, "nginx.conf")
with open(conf, "w") as f:
    log = (f"access_log {access_log} bench buffer=256k;" if count else "access_log off;")
    user = "user root;" if os.geteuid() == 0 else ""
    f.write(f"""# written by tests/bench/http.sh
{user}
daemon off;
master_process on;
worker_processes 1;
pid {ndir}/nginx.pid;
error_log {ndir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {ndir}/body;
    proxy_temp_path {ndir}/proxy;
    fastcgi_temp_path {ndir}/fastcgi;
    uwsgi_temp_path {ndir}/uwsgi;
    scgi_temp_path {ndir}/scgi;
    log_format bench '$request_method $request_uri $status $http_idempotency_key '
                     '$content_length $request_length';
    keepalive_timeout 65s;
    keepalive_requests 100000000;
    server {{
        listen 127.0.0.1:{port};
        {log}
        location / {{
            default_type application/json;
            return 200 '{{"ok":true}}';
        }}
    }}
}}
""")

def start_nginx():
    if os.path.exists(access_log):
        os.unlink(access_log)
    p = subprocess.Popen([nginx, "-p", ndir, "-c", conf, "-e", os.path.join(ndir, "error.log")],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(ndir, "stderr"), "wb"))
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            if p.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"nginx did not start (see {ndir}/error.log and {ndir}/stderr)")
            time.sleep(0.05)

def stop_nginx(p):
    """Graceful stop (SIGQUIT: the worker flushes its log buffer and exits); nginx's CPU."""
    p.send_signal(signal.SIGQUIT)
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"nginx exited with status {status} (see {ndir}/error.log)")
    return ru.ru_utime + ru.ru_stime

def check_log(who):
    """The access log of one run: exactly the requests the data calls for, each once, all
    2xx, distinct idempotency keys. Returns (requests, average PUT Content-Length, average
    request size: request line, headers and body)."""
    got, keys, bad, put_bytes, wire = collections.Counter(), set(), 0, [], 0
    with open(access_log) as f:
        for line in f:
            method, uri, status, key, length, request_length = line.split(" ")
            wire += int(request_length)
            got[(method, uri)] += 1
            keys.add(key)
            if not status.startswith("2"):
                bad += 1
            if method == "PUT":
                put_bytes.append(int(length) if length.strip() != "-" else 0)
    total = sum(got.values())
    problems = []
    if bad:
        problems.append(f"{bad} answers not 2xx")
    missing = expected - got
    extra = got - expected
    if missing:
        problems.append(f"{sum(missing.values())} requests missing, e.g. {next(iter(missing))}")
    if extra:
        problems.append(f"{sum(extra.values())} unexpected or repeated requests, "
                        f"e.g. {next(iter(extra))}")
    if len(keys) != total:
        problems.append(f"{total - len(keys)} repeated Idempotency-Keys")
    if problems:
        sys.exit(f"{who}: the access log ({access_log}) does not match the data: "
                 + "; ".join(problems))
    return total, statistics.mean(put_bytes) if put_bytes else 0, wire / total if total else 0

def settings(app, group):
    with open(os.path.join(app, "local.settings.json"), "w") as f:
        json.dump({"IsEncrypted": False, "Values": {
            "Conn": bootstrap, "BENCH_GROUP": group, "BENCH_HUB": hub,
            "CRM_URL": url, "CRM_AUTH": auth}}, f)

def command(runner, group):
    if runner.startswith("hubfn-"):
        app = os.path.join(tmp, "app-" + {"base": "body"}.get(runner[6:], runner[6:]))
        settings(app, group)
        return [baseline if runner == "hubfn-base" else hubfn, "start", app,
                "--exit-on-eof"], None
    env = dict(os.environ, NODE_PATH=node_path, BENCH_AUTH=auth)
    return ["node", forward_js, bootstrap, hub, group, url, "--concurrency", str(conc)], env

TICK = os.sysconf("SC_CLK_TCK")

def cpu_of_child(launcher):
    """user+sys seconds so far of the launcher's child (every thread), None if unknown."""
    try:
        with open(f"/proc/{launcher}/task/{launcher}/children") as f:
            child = f.read().split()[0]
        with open(f"/proc/{child}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None

def run(runner, r):
    group = f"{runner}-{run_id}-{r}"
    cmd, env = command(runner, group)
    errf = os.path.join(tmp, runner + ".err")
    usage = os.path.join(tmp, runner + ".rusage")
    if os.path.exists(usage):
        os.unlink(usage)
    ng = start_nginx()
    t0 = time.monotonic()
    # through the launcher: its ru_maxrss is the consumer's own, not this harness's (rusage.c)
    p = subprocess.Popen([rusage, usage] + cmd, stdout=subprocess.PIPE,
                         stderr=open(errf, "wb"), env=env)
    first = None
    events = queued = 0
    cpu_at_first = None
    for line in p.stdout:
        if first is None:
            first = time.monotonic()
            cpu_at_first = cpu_of_child(p.pid)
        f = line.split()
        if runner.startswith("hubfn-"):
            if len(f) == 2:
                queued += int(f[0]); events += int(f[1])
        elif len(f) == 4 and f[0] == b"requests":
            queued, events = int(f[1]), int(f[3])
    p.wait()
    end = time.monotonic()
    ncpu = stop_nginx(ng)
    if not os.path.exists(usage):
        sys.exit(f"{runner}: the launcher wrote no usage (exit status {p.returncode})")
    utime, stime, maxrss, status = open(usage).read().split()
    utime, stime, maxrss, status = float(utime), float(stime), int(maxrss), int(status)
    if status != 0 or events != n or first is None:
        sys.exit(f"{runner} failed: wait status {status}, {events} of {n} events "
                 f"(see {errf})")
    if queued != want:
        sys.exit(f"{LABELS[runner]} made {queued} requests, the data calls for {want}")
    served, put_len, req_len = check_log(LABELS[runner]) if count else (want, 0, 0)
    if cpu_at_first is None:
        sys.exit(f"{runner}: could not read its CPU time at the first event")
    return {"cpu": utime + stime, "sys": stime, "rss": maxrss / 1024,
            "steady": utime + stime - cpu_at_first,
            "rate": n / (end - first), "join": first - t0, "nginx": ncpu / want,
            "served": served, "put_len": put_len, "req_len": req_len}

try:
    model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                 if l.startswith("model name"))
except (OSError, StopIteration):
    model = platform.processor() or "unknown CPU"
size = os.path.getsize(data) / n
puts = sum(1 for m, _ in expected if m == "PUT")
print(f"{label}\n{n} AEP payloads ({size:.0f} bytes average) in 32 partitions -> {want} "
      f"requests ({puts} PUT, {want - puts} DELETE; {want / n:.2f} per event) to nginx on "
      f"loopback, {conc} in flight; {model}, {os.cpu_count()} CPUs; {rounds} rounds, medians",
      flush=True)
if not has_http:
    print("hubfn: no \"http\" output binding in this build (`hubfn help http` fails); "
          "Node only", flush=True)
res = {p: [] for p in runners}
for r in range(rounds):
    k = r % len(runners)
    for runner in runners[k:] + runners[:k]:
        x = run(runner, r)
        res[runner].append(x)
        served = (f"nginx served {x['served']} requests, each once, all 2xx "
                  f"({x['req_len']:.0f} bytes each on average, PUT bodies {x['put_len']:.0f})"
                  if count else "not counted")
        print(f"round {r + 1}: {LABELS[runner]}: {x['cpu'] / n * 1e6:.2f} us/event "
              f"({x['sys'] / n * 1e6:.2f} sys, {x['steady'] / n * 1e6:.2f} from the first "
              f"event), {x['rate']:,.0f} events/s, {x['rss']:.0f} MB, join {x['join']:.1f} s; "
              f"{served}; nginx {x['nginx'] * 1e6:.2f} us/request", flush=True)
med = {p: {k: statistics.median(x[k] for x in res[p])
           for k in ("cpu", "sys", "steady", "rss", "rate", "nginx")}
       for p in runners}
base = med.get("hubfn-body")
def vs(p, k):
    return f" ({med[p][k] / base[k]:.2f}x)" if base and p != "hubfn-body" else ""
print()
print("| forwarder | CPU per event | of which sys | CPU per event from the first event | "
      "events/s | peak RSS | nginx CPU per request |")
print("|---|---|---|---|---|---|---|")
for p in runners:
    m = med[p]
    name = f"**{LABELS[p]}**" if p == "hubfn-body" else LABELS[p]
    print(f"| {name} | {m['cpu'] / n * 1e6:.2f} us{vs(p, 'cpu')} | {m['sys'] / n * 1e6:.2f} us "
          f"| {m['steady'] / n * 1e6:.2f} us{vs(p, 'steady')} | {m['rate']:,.0f}{vs(p, 'rate')} "
          f"| {m['rss']:.0f} MB{vs(p, 'rss')} | {m['nginx'] * 1e6:.2f} us |")
print(f"\n(x): the figure divided by hubfn (a)'s. CPU is user+sys of the whole process over "
      f"{n} events ({want} requests), sys the kernel's part of it (mostly loopback TCP); "
      f"\"from the first event\" leaves out what was spent before it (startup, group join). "
      f"events/s from the first event to the exit. "
      + (f"nginx's access log held exactly the {want} requests the data calls for, in every "
         "run." if count else "Requests not counted (--no-count)."), flush=True)
if base and "node" in med:
    node = med["node"]
    line = (f"hubfn (a) uses {base['cpu'] / node['cpu']:.2f} of Node's CPU per event, "
            f"{base['steady'] / node['steady']:.2f} from the first event")
    for p, name in (("hubfn-base", "hubfn (a0)"), ("hubfn-activation", "hubfn (b)")):
        if p in med:
            line += (f"; {name} {med[p]['cpu'] / node['cpu']:.2f} and "
                     f"{med[p]['steady'] / node['steady']:.2f}")
    print(line + " (goal: at most 0.33).", flush=True)
PY
