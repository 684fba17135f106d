#!/usr/bin/env bash
# eventHubState on a state hub the broker compacts: the restore gives each key its latest
# value and leaves deleted keys out, both before the log cleaner ran (every old value and
# the tombstones still in the hub) and after it (old values gone, tombstones too).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/state_lib.sh"
need_kafka
in=st-compact-in-$$ st=st-compact-state-$$
topic "$in" 2
# small segments, cleaned at once, tombstones dropped at the first cleaning
state_topic "$st" 2 --config segment.bytes=4096 --config min.cleanable.dirty.ratio=0.01 \
    --config delete.retention.ms=0 --config min.compaction.lag.ms=0
mkstateapp "$T/app" "$HF_KAFKA_PLAIN" "$in" "$st"

# 20 rounds over 60 keys (each round a new seq per key), then keys k0-k19 deleted
awk 'BEGIN { for (r = 1; r <= 20; r++) for (k = 0; k < 60; k++)
        printf "k%d\t{\"k\":\"k%d\",\"seq\":%d}\n", k, k, r
    for (k = 0; k < 20; k++) printf "k%d\t{\"k\":\"k%d\",\"op\":\"del\"}\n", k, k }' >"$T/writes"
awk 'BEGIN { for (k = 0; k < 60; k++) printf "k%d\t{\"k\":\"k%d\",\"op\":\"read\"}\n", k, k }' \
    >"$T/reads"
# the expected read of each key: k0-k19 deleted, the others at seq 20
awk 'BEGIN { for (k = 0; k < 60; k++) print "k" k "\t" (k < 20 ? "nil" : "20") }' | sort >"$T/want"
got() {  # the reads as "key<TAB>seq or nil", sorted
    python3 -c 'import json, sys
for l in sys.stdin:
    k, v = l.rstrip("\n").split("\t", 1)
    print(k + "\t" + ("nil" if v == "nil" else str(json.loads(v)["seq"])))' <"$T/app/read.out" | sort
}

# (an invocation writes each key it changed once: about one record per key per batch)
produce "$HF_KAFKA_PLAIN" "$in" "$T/writes"
timeout $((90 * SLOW)) "$HUBFN" start "$T/app" --exit-on-eof 2>"$T/run1.log"
rc=$?
check writes-run "exit $rc: $(tail -2 "$T/run1.log")" [ "$rc" = 0 ]
records() { kcat -C -b "$HF_KAFKA_PLAIN" -t "$st" -e -q -f 'x\n' 2>/dev/null | wc -l; }
# what was written, from the partitions' end offsets: the cleaner may already have run
# (on a busy machine it can while the first run still writes), and it keeps the offsets
written=$(kcat -Q -b "$HF_KAFKA_PLAIN" -t "$st:0:-1" -t "$st:1:-1" 2>/dev/null |
    awk '/offset/ { s += $NF } END { print s + 0 }')
tombstones=$(kcat -C -b "$HF_KAFKA_PLAIN" -t "$st" -e -q -Z -f '%s\n' 2>/dev/null | grep -c '^NULL$')
echo "# $written records written to the state hub ($(records) in it now), $tombstones tombstones"
check tombstones-written "$tombstones tombstones" [ "$tombstones" = 20 ]

# restored as it is, before or while the cleaner works
produce "$HF_KAFKA_PLAIN" "$in" "$T/reads"
timeout $((90 * SLOW)) "$HUBFN" start "$T/app" --exit-on-eof 2>"$T/run2.log"
got >"$T/got1"
check latest-value-per-key-and-tombstones "$(diff "$T/want" "$T/got1" | head -5)" cmp -s "$T/want" "$T/got1"

# The cleaner never touches a partition's active segment, and on a busy machine the writes
# may all sit in it (fewer, larger record batches). A tombstone for an already deleted key
# in each partition rolls it: whatever is in a segment over segment.bytes rolls at the next
# append.
for p in 0 1; do
    printf 'k0\t\n' | kcat -P -b "$HF_KAFKA_PLAIN" -t "$st" -p "$p" -K $'\t' -Z 2>>"$T/kcat.err"
done
# wait for the cleaner: most old values gone (the active segment keeps a few)
wait_for 40 bash -c "[ \$(kcat -C -b '$HF_KAFKA_PLAIN' -t '$st' -e -q -f 'x\n' 2>/dev/null | wc -l) -lt $((written / 3)) ]"
compacted=$(records)
check hub-compacted "$compacted of $written records left" [ "$compacted" -lt $((written / 3)) ]
: >"$T/app/read.out"
produce "$HF_KAFKA_PLAIN" "$in" "$T/reads"
timeout $((90 * SLOW)) "$HUBFN" start "$T/app" --exit-on-eof 2>"$T/run3.log"
rc=$?
check compacted-run "exit $rc: $(tail -2 "$T/run3.log")" [ "$rc" = 0 ]
got >"$T/got2"
check compacted-hub-restores-latest-and-no-deleted-key "$(diff "$T/want" "$T/got2" | head -5)" \
    cmp -s "$T/want" "$T/got2"
restored=$(grep -o 'restored [0-9]* keys' "$T/run3.log" | awk '{ s += $2 } END { print s + 0 }')
check restores-live-keys-only "restored $restored keys" [ "$restored" = 40 ]
