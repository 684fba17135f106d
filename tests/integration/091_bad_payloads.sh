#!/usr/bin/env bash
# Hostile and odd event bodies reach the handler, each exactly once, with a decodeError
# or decoded correctly; the host neither crashes nor loses one. Invalid UTF-8 (stray,
# overlong, surrogate), 100000-level nesting (bare and inside an AEP payload), 1 MB bodies
# (an AEP profile in about 9000 audiences, a 1 MB string, the same profile truncated), an
# empty value, a null value (tombstone), whitespace, NUL bytes inside and outside strings.
# Through the trigger on the real broker (every case, one message each, produced from
# files so that the bytes go through as they are) and through `hubfn run` (every case a
# line can hold: not the empty and null values, nor whitespace-only, which `run` skips as
# blank lines by design). Events are counted in and out.
. "$(dirname "$0")/lib.sh"

bad=$T/bad
mkdir -p "$bad"
python3 - "$bad" <<'PY'
import json, os, sys
d = sys.argv[1]
def put(name, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    open(os.path.join(d, name + ".bin"), "wb").write(data)
def aep(n):
    ups = {f"{i:08x}-3c48-4b18-bf56-4f5c5e6967ae":
           {"lastQualificationTime": "2022-01-02T23:37:33Z",
            "status": ("realized", "existing", "exited")[i % 3]} for i in range(n)}
    return {"person": {"name": {"firstName": "John"}}, "segmentMembership": {"ups": ups},
            "identityMap": {"ecid": [{"id": "14575006536349286404619648085736425115"}]}}
put("utf8-stray", b'{"a":"\xff\xfe"}')
put("utf8-overlong", b'{"a":"\xc0\xaf"}')
put("utf8-surrogate", b'{"a":"\xed\xa0\x80"}')
put("utf8-truncated", b'{"a":"\xe2\x82"}')
put("utf8-in-aep-id", b'{"segmentMembership":{"ups":{"\xc0\xaf":{"status":"realized"}}}}')
put("utf8-valid", '{"a":"h\u00e9llo \u20ac \U0001f600"}')
put("nest-arrays", "[" * 100000)
put("nest-objects", '{"a":' * 100000)
put("nest-in-aep", '{"identityMap":{"ecid":[{"id":"1"}]},"x":' + "[" * 100000)
# 1 MB bodies: a profile in about 9000 audiences padded to exactly 1000000 bytes
doc = aep(9000)
text = json.dumps(doc, separators=(",", ":"))
doc["person"]["name"]["lastName"] = "x" * (1000000 - len(text) - len(',"lastName":""'))
text = json.dumps(doc, separators=(",", ":"))
assert len(text) == 1000000, len(text)
put("big-aep", text)
put("big-aep-truncated", text[:-1])
s = '{"s":"' + "\\u00e9" * 166665
put("big-string", s + "x" * (1000000 - len(s) - 2) + '"}')
put("nul-in-string", b'{"a":"x\x00y"}')
put("nul-after", b'{"a":1}\x00')
put("nul-only", b"\x00")
put("nul-escaped", '{"a":"x\\u0000y"}')
put("whitespace", "   \t ")
PY
empties=(empty-value null-value)
names=()
for f in "$bad"/*.bin; do names+=("$(basename "$f" .bin)"); done

# mkapp-like: function "bad" appends one summary line per event to DIR/bad.out
mkbad() {
    local dir=$1 conn=$2 hub=$3
    mkdir -p "$dir/bad"
    cat >"$dir/host.json" <<'JSON'
{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": 4 } },
  "logging": { "logLevel": { "default": "Information" } } }
JSON
    cat >"$dir/local.settings.json" <<JSON
{ "IsEncrypted": false, "Values": { "Conn": "$conn", "HUB": "$hub" } }
JSON
    cat >"$dir/bad/function.json" <<JSON
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "%HUB%", "connection": "Conn", "consumerGroup": "g-$hub",
    "cardinality": "many" } ] }
JSON
    cat >"$dir/bad/handler.lua" <<LUA
local json = require("hubfn").json
local out = assert(io.open("$dir/bad.out", "a"))
local function orNull(v) if v == nil then return json.null end return v end
return function(events)
  local lines = {}
  for i, ev in ipairs(events) do
    -- every field is built on first read: half the events read the view and the error
    -- before the body, and the outcome must not depend on the order
    local b, a
    if ev.offset % 2 == 1 then
      a = ev.activation
      local _ = ev.decodeError
      b = ev.body
    else
      b, a = ev.body, ev.activation
    end
    local s = { key = orNull(ev.partitionKey), offset = ev.offset, type = type(b),
                decodeError = orNull(ev.decodeError), activation = a ~= nil }
    if type(b) == "string" then s.len = #b end
    if type(b) == "table" then
      if type(b.a) == "string" then s.a = b.a; s.alen = #b.a end
      if type(b.s) == "string" then s.slen = #b.s end
      if b.segmentMembership then
        local n = 0
        for _ in pairs(b.segmentMembership.ups) do n = n + 1 end
        s.ups = n
      end
    end
    if a then
      s.segments, s.realized, s.existing, s.exited = #a.segments, #a.realized, #a.existing, #a.exited
      s.ecid = a.identities.ecid[1]
      s.lastNameLen = #a.attributes.person.name.lastName
    end
    lines[i] = json.encode(s)
  end
  out:write(table.concat(lines, "\n"), "\n")
  out:flush()
end
LUA
}

# verify OUT MODE NAME...: every event once, each with the right outcome
verify() {
    python3 - "$@" <<'PY'
import json, re, sys
out, mode, names = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = [json.loads(l) for l in open(out) if l.strip()]
problems = []
by = {}
for r in rows:
    by.setdefault(r["key"] if mode == "trigger" else names[r["offset"]], []).append(r)
if len(rows) != len(names):
    problems.append(f"{len(rows)} events out for {len(names)} in")
def err(pattern):
    return lambda r: r["type"] == "string" and not r["activation"] and \
        re.fullmatch(r"invalid JSON at byte \d+: " + pattern, r["decodeError"] or "")
want = {
    "utf8-stray": err(r"invalid UTF-8 byte 0xff in string"),
    "utf8-overlong": err(r"invalid UTF-8 byte 0xc0 in string"),
    "utf8-surrogate": err(r"invalid UTF-8 byte 0xed in string"),
    "utf8-truncated": err(r"invalid UTF-8 byte 0xe2 in string"),
    "utf8-in-aep-id": err(r"invalid UTF-8 byte 0xc0 in string"),
    "utf8-valid": lambda r: r["a"] == "h\u00e9llo \u20ac \U0001f600" and r["decodeError"] is None,
    "nest-arrays": lambda r: err(r"nesting deeper than 1000 levels")(r) and "at byte 1000:" in r["decodeError"]
        and r["len"] == 100000,
    "nest-objects": lambda r: err(r"nesting deeper than 1000 levels")(r) and "at byte 5000:" in r["decodeError"],
    "nest-in-aep": err(r"nesting deeper than 1000 levels"),
    "big-aep": lambda r: r["decodeError"] is None and r["ups"] == 9000 and r["segments"] == 9000
        and (r["realized"], r["existing"], r["exited"]) == (3000, 3000, 3000)
        and r["ecid"] == "14575006536349286404619648085736425115" and r["lastNameLen"] > 30000,
    "big-aep-truncated": lambda r: err(r"unexpected end of input.*")(r) and r["len"] == 999999,
    "big-string": lambda r: r["decodeError"] is None and r["slen"] == 166665 * 2 +
        (1000000 - len('{"s":"') - 6 * 166665 - len('"}')),
    "nul-in-string": err(r"control character 0x00 in string.*"),
    "nul-after": err(r".*trailing.*"),
    "nul-only": err(r".*"),
    "nul-escaped": lambda r: r["a"] == "x\x00y" and r["alen"] == 3 and r["decodeError"] is None,
    "whitespace": err(r"empty body"),
    "empty-value": lambda r: err(r"empty body")(r) and r["len"] == 0,
    "null-value": lambda r: err(r"empty body")(r) and r["len"] == 0,
}
for name in names:
    got = by.get(name, [])
    if len(got) != 1:
        problems.append(f"{name}: delivered {len(got)} times")
    elif not want[name](got[0]):
        problems.append(f"{name}: unexpected {got[0]}")
if problems:
    print("\n".join(problems))
    sys.exit(1)
PY
}

# --- hubfn run: the cases a line can hold
run_names=()
: >"$T/lines"
for n in "${names[@]}"; do
    [ "$n" = whitespace ] && continue
    if python3 -c 'import sys; sys.exit(b"\n" in open(sys.argv[1], "rb").read())' "$bad/$n.bin"; then
        cat "$bad/$n.bin" >>"$T/lines"; echo >>"$T/lines"
        run_names+=("$n")
    fi
done
app=$T/run
mkbad "$app" "localhost:1" bad
"$HUBFN" run "$app/bad" --events "$T/lines" >"$T/run.out" 2>"$T/run.err"
rc=$?
check run-exits-0 "exit $rc: $(tail -3 "$T/run.err")" [ "$rc" = 0 ]
why=$(verify "$app/bad.out" run "${run_names[@]}" 2>&1)
check run-every-event-right-once "$why" [ -z "$why" ]
check run-counts "$(tail -1 "$T/run.err")" \
    grep -q "[^0-9]${#run_names[@]} events, 0 outputs, 0 failed" "$T/run.err"

# --- the trigger on the real broker: every case, one message each
need_kafka
hub=bad-payloads-$$
topic "$hub" 1
for n in "${names[@]}"; do
    kcat -P -b "$HF_KAFKA_PLAIN" -t "$hub" -k "$n" -X message.max.bytes=2000000 \
        "$bad/$n.bin" 2>>"$T/kcat.err"
done
printf 'empty-value\t\n' | kcat -P -b "$HF_KAFKA_PLAIN" -t "$hub" -K $'\t' 2>>"$T/kcat.err"
printf 'null-value\t\n' | kcat -P -b "$HF_KAFKA_PLAIN" -t "$hub" -K $'\t' -Z 2>>"$T/kcat.err"
all=("${names[@]}" "${empties[@]}")
in=$(kcat -C -b "$HF_KAFKA_PLAIN" -t "$hub" -e -q -f '%k\n' 2>/dev/null | grep -c .)
check trigger-all-produced "$in of ${#all[@]} on the hub: $(tail -2 "$T/kcat.err")" [ "$in" = ${#all[@]} ]
app=$T/trigger
mkbad "$app" "$HF_KAFKA_PLAIN" "$hub"
timeout $((90 * SLOW)) "$HUBFN" start "$app" --exit-on-eof 2>"$T/trigger.log"
rc=$?
check trigger-exits-0 "exit $rc: $(tail -3 "$T/trigger.log")" [ "$rc" = 0 ]
why=$(verify "$app/bad.out" trigger "${all[@]}" 2>&1)
check trigger-every-event-right-once "$why" [ -z "$why" ]
check trigger-counts "$(tail -1 "$T/trigger.log")" \
    grep -qE "stopped: ${#all[@]} events in [0-9]+ batches, 0 failed" "$T/trigger.log"
