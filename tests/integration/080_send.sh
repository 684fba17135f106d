#!/usr/bin/env bash
# hubfn send on the real broker, through the Event Hubs-like SASL_SSL listener: RudderStack
# events as JSON lines and as one {"events": [...]} document all arrive, compact, keyed by
# userId else anonymousId, the same key always in the same partition, and in the partition
# a murmur2 Kafka client (kcat, like Java's default partitioner) picks for that key.
. "$(dirname "$0")/lib.sh"
need_kafka

hub=send-$$
topic "$hub" 4

# gen.py OUT N FIRST PRETTY: N RudderStack-shaped events (ids FIRST..), as JSON lines or as
# one pretty-printed {"events": [...]} document; every 7th has userId "" (key: anonymousId),
# every 11th no userId at all, every 23rd neither (no key).
cat >"$T/gen.py" <<'PY'
import json, sys
out, n, first, pretty = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
events = []
for i in range(first, first + n):
    ev = {"type": "track", "event": "Purchase", "messageId": "m-%d" % i, "id": i,
          "anonymousId": "anon-%d" % (i % 13), "channel": "web",
          "context": {"library": {"name": "RudderLabs JavaScript SDK", "version": "1.1.1"},
                      "traits": {"email": "user%d@example.com" % (i % 17)}},
          "properties": {"currency": "USD", "revenue": i * 1.5, "big": 12345678901234567890},
          "userId": "user-%d" % (i % 17)}
    if i % 7 == 0:
        ev["userId"] = ""
    if i % 11 == 0:
        del ev["userId"]
    if i % 23 == 0:
        ev.pop("userId", None)
        del ev["anonymousId"]
    events.append(ev)
with open(out, "w") as f:
    if pretty:
        json.dump({"source": "test", "events": events}, f, indent=2)
        f.write("\n")
    else:
        for ev in events:
            f.write(json.dumps(ev) + "\n")
PY
python3 "$T/gen.py" "$T/rs.jsonl" 300 1 0
python3 "$T/gen.py" "$T/rs.json" 200 301 1

# The root policy's connection string from an app setting in the environment ...
HubConn="$HF_EH_CONN" timeout $((90 * SLOW)) "$HUBFN" send HubConn "$hub" "$T/rs.jsonl" \
    --key userId,anonymousId 2>"$T/lines.log"
rc=$?
check jsonl-exits-0 "exit $rc: $(cat "$T/lines.log")" [ "$rc" = 0 ]
check jsonl-summary "$(cat "$T/lines.log")" \
    grep -Eq "^sent 300 events to $hub in [0-9.]+ s \([1-4] partitions\), 0 failed, 13 without a key$" \
    "$T/lines.log"

# ... and from local.settings.json Values, the document read from standard input.
mkdir -p "$T/app"
printf '{ "IsEncrypted": false, "Values": { "HubConn": "%s" } }\n' "$HF_EH_CONN" \
    >"$T/app/local.settings.json"
(cd "$T/app" && timeout $((90 * SLOW)) "$HUBFN" send HubConn "$hub" - \
    --key userId,anonymousId <"$T/rs.json" 2>"$T/doc.log")
rc=$?
check document-exits-0 "exit $rc: $(cat "$T/doc.log")" [ "$rc" = 0 ]
check document-summary "$(cat "$T/doc.log")" grep -q "^sent 200 events to $hub in .* 0 failed" \
    "$T/doc.log"

kcat -C -b "$HF_KAFKA_PLAIN" -t "$hub" -e -q -f '%k\t%p\t%s\n' >"$T/got" 2>>"$T/kcat.err"
check every-event-delivered "$(wc -l <"$T/got") messages in the hub, want 500" \
    [ "$(wc -l <"$T/got")" = 500 ]

# Keys as asked, values compact and exact, the same key always in one partition.
cat >"$T/check.py" <<'PY'
import json, sys
got = [l.rstrip("\n").split("\t", 2) for l in open(sys.argv[1])]
want = {}
for path in sys.argv[2:]:
    text = open(path).read()
    evs = json.loads(text)["events"] if path.endswith(".json") else [json.loads(l) for l in text.splitlines()]
    for ev in evs:
        want[ev["id"]] = ev
problems, parts = [], {}
for key, part, value in got:
    ev = json.loads(value)
    orig = want.pop(ev["id"], None)
    if orig is None:
        problems.append("unexpected or repeated id %s" % ev["id"]); continue
    if value != json.dumps(orig, separators=(",", ":")):
        problems.append("id %s not sent as its compact text: %s" % (ev["id"], value[:80]))
    k = orig.get("userId") or orig.get("anonymousId") or ""
    if key != k:
        problems.append("id %s has key %r, want %r" % (ev["id"], key, k))
    if key:
        parts.setdefault(key, set()).add(part)
split = {k: sorted(v) for k, v in parts.items() if len(v) > 1}
if split:
    problems.append("keys in several partitions: %s" % split)
if want:
    problems.append("%d events missing" % len(want))
print("; ".join(problems[:5]) or "ok")
with open(sys.argv[1] + ".keys", "w") as f:
    for k in sorted(parts, key=lambda s: s.encode()):
        f.write("%s\t%s\n" % (k, min(parts[k])))
PY
res=$(python3 "$T/check.py" "$T/got" "$T/rs.jsonl" "$T/rs.json")
check keys-values-partitions "$res" [ "$res" = ok ]

# The partition of each key is the one a murmur2 client picks (kcat, as Java's default).
hub2=send-murmur-$$
topic "$hub2" 4
cut -f1 "$T/got.keys" | awk '{ print $1 "\t" $1 }' >"$T/keys.in"
kcat -P -b "$HF_KAFKA_PLAIN" -t "$hub2" -K $'\t' -X partitioner=murmur2_random -l "$T/keys.in" \
    2>>"$T/kcat.err"
kcat -C -b "$HF_KAFKA_PLAIN" -t "$hub2" -e -q -f '%k\t%p\n' | LC_ALL=C sort >"$T/kcat.keys"
check same-partitions-as-murmur2-clients "$(diff "$T/got.keys" "$T/kcat.keys" | head -5)" \
    cmp -s "$T/got.keys" "$T/kcat.keys"

# Nothing secret in any output.
check key-never-printed "the SharedAccessKey appears in the output" \
    bash -c "! cat '$T/lines.log' '$T/doc.log' | grep -qF -- '$HF_EH_KEY'"
