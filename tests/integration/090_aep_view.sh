#!/usr/bin/env bash
# The AEP activation view of Adobe's documented payloads (tests/fixtures/aep/, see its
# README), end to end: through `hubfn run` and through the trigger on the real broker. A
# handler writes one canonical JSON line per event (hubfn.json.encode sorts keys) with
# ev.activation, ev.body, ev.decodeError and the metadata; python compares each with the
# fixture's expected view (NAME.view.json) and its body. Also: the doc's "timestamps
# toggle" sample as printed (a trailing comma: not JSON) arrives with decodeError and no
# view, and a RudderStack track event has no view but a decoded body.
. "$(dirname "$0")/lib.sh"

FIX=$TOP/tests/fixtures/aep
names=()
for f in "$FIX"/*.json; do
    case "$f" in *.view.json) continue ;; esac
    names+=("$(basename "$f" .json)")
done

# mkviews DIR CONNECTION HUB: an app whose function "views" appends one line per event to
# DIR/views.out
mkviews() {
    local dir=$1 conn=$2 hub=$3
    mkdir -p "$dir/views"
    cat >"$dir/host.json" <<'JSON'
{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 5 } },
  "logging": { "logLevel": { "default": "Information" } } }
JSON
    cat >"$dir/local.settings.json" <<JSON
{ "IsEncrypted": false, "Values": { "Conn": "$conn", "HUB": "$hub" } }
JSON
    cat >"$dir/views/function.json" <<JSON
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "%HUB%", "connection": "Conn", "consumerGroup": "g-$hub",
    "cardinality": "many" } ] }
JSON
    cat >"$dir/views/handler.lua" <<LUA
local json = require("hubfn").json
local out = assert(io.open("$dir/views.out", "a"))
local function orNull(v) if v == nil then return json.null end return v end
return function(events, context)
  local lines = {}
  for i, ev in ipairs(events) do
    lines[i] = json.encode({
      key = orNull(ev.partitionKey), offset = ev.offset, partition = ev.partition,
      activation = orNull(ev.activation), body = ev.body,
      decodeError = orNull(ev.decodeError), enqueuedTime = orNull(ev.enqueuedTime),
      properties = ev.properties, systemProperties = ev.systemProperties })
  end
  out:write(table.concat(lines, "\n"), "\n")
  out:flush()
end
LUA
}

# compare OUT MODE NAME...: python checks of DIR/views.out; MODE is "run" (events are the
# fixtures as one line each, in order) or "trigger" (one message per fixture, keyed by name)
compare() {
    python3 - "$FIX" "$@" <<'PY'
import json, re, sys
fix, out, mode, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rows = [json.loads(l) for l in open(out) if l.strip()]
problems = []
def bad(msg):
    problems.append(msg)
if mode == "run":
    byname = {}
    for r in rows:
        byname.setdefault(names[r["offset"]], []).append(r)
else:
    byname = {}
    for r in rows:
        byname.setdefault(r["key"], []).append(r)
if len(rows) != len(names):
    bad(f"{len(rows)} events out for {len(names)} in")
for name in names:
    got = byname.get(name, [])
    if len(got) != 1:
        bad(f"{name}: delivered {len(got)} times")
        continue
    r = got[0]
    raw = open(f"{fix}/{name}.json", encoding="utf-8").read()
    if mode == "run":
        raw = raw.replace("\n", "")
    want = json.load(open(f"{fix}/{name}.view.json"))
    if r["activation"] != want:
        bad(f"{name}: view differs:\n got  {json.dumps(r['activation'], sort_keys=True)}\n"
            f" want {json.dumps(want, sort_keys=True)}")
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if body is not None:
        if r["body"] != body or r["decodeError"] is not None:
            bad(f"{name}: body {r['body']!r} decodeError {r['decodeError']!r}")
    elif r["body"] != raw or not re.match(r"invalid JSON at byte \d+: ", r["decodeError"] or ""):
        bad(f"{name}: invalid JSON should arrive raw with decodeError, got {r!r}")
    # metadata, read lazily, as documented
    sp = r["systemProperties"]
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["enqueuedTime"] or ""):
        bad(f"{name}: enqueuedTime {r['enqueuedTime']!r}")
    if (sp.get("x-opt-offset") != r["offset"] or sp.get("x-opt-sequence-number") != r["offset"]
            or sp.get("partitionId") != r["partition"]
            or sp.get("x-opt-enqueued-time") != r["enqueuedTime"]
            or sp.get("x-opt-partition-key") != r["key"]):
        bad(f"{name}: systemProperties {sp!r} for {r!r}")
    want_props = {"source": "rudderstack", "trace": "t-1"} if (
        mode == "trigger" and name == "rudderstack-track") else {}
    if r["properties"] != want_props:
        bad(f"{name}: properties {r['properties']!r}, want {want_props!r}")
# the two special cases, spelled out
inv = byname.get("segment-timestamps-doc-invalid", [{}])[0]
if inv.get("activation") is not None or "decodeError" not in inv or not inv.get("decodeError"):
    bad(f"the doc's invalid sample: {inv!r}")
rs = byname.get("rudderstack-track", [{}])[0]
if rs.get("activation") is not None or (rs.get("body") or {}).get("type") != "track":
    bad(f"rudderstack track: {rs!r}")
if problems:
    print("\n".join(problems))
    sys.exit(1)
PY
}

# --- hubfn run: the fixtures as one line each
app=$T/run
mkviews "$app" "localhost:1" aep
for n in "${names[@]}"; do tr -d '\n' <"$FIX/$n.json"; echo; done >"$T/lines"
"$HUBFN" run "$app/views" --events "$T/lines" >"$T/run.out" 2>"$T/run.err"
rc=$?
check run-exits-0 "exit $rc: $(tail -3 "$T/run.err")" [ "$rc" = 0 ]
why=$(compare "$app/views.out" run "${names[@]}" 2>&1)
check run-views-match-fixtures "$why" [ -z "$why" ]
check run-counts "$(grep -c . "$app/views.out") lines for ${#names[@]} events" \
    grep -q "[^0-9]${#names[@]} events, 0 outputs, 0 failed" "$T/run.err"

# --- the trigger on the real broker: each fixture file as one message, keyed by its name
need_kafka
hub=aep-view-$$
topic "$hub" 1
for n in "${names[@]}"; do
    headers=()
    [ "$n" = rudderstack-track ] && headers=(-H source=rudderstack -H trace=t-1)
    kcat -P -b "$HF_KAFKA_PLAIN" -t "$hub" -k "$n" "${headers[@]}" "$FIX/$n.json" 2>>"$T/kcat.err"
done
app=$T/trigger
mkviews "$app" "$HF_KAFKA_PLAIN" "$hub"
timeout $((60 * SLOW)) "$HUBFN" start "$app" --exit-on-eof 2>"$T/trigger.log"
rc=$?
check trigger-exits-0 "exit $rc: $(tail -3 "$T/trigger.log")" [ "$rc" = 0 ]
why=$(compare "$app/views.out" trigger "${names[@]}" 2>&1)
check trigger-views-match-fixtures "$why" [ -z "$why" ]
check trigger-counts "$(tail -1 "$T/trigger.log")" \
    grep -qE "stopped: ${#names[@]} events in [0-9]+ batches, 0 failed" "$T/trigger.log"
