#!/usr/bin/env bash
# hubfn new: every template writes a function that runs as written (hubfn run on events
# fitting the template gives exit 0 and the outputs the template promises), a fresh folder
# gets host.json and local.settings.json, and nothing is ever overwritten: errors exit 2 with
# one line.
. "$(dirname "$0")/lib.sh"

app=$T/app
mkdir -p "$app"
cd "$app" || exit 1

# new_ok NAME ARGS...: hubfn new ARGS in the app folder must exit 0
new_ok() {
    local name=$1 rc; shift
    "$HUBFN" new "$@" >"$T/$name.new.out" 2>"$T/$name.new.err"
    rc=$?
    check "$name-created" "exit $rc: $(cat "$T/$name.new.err")" \
        [ "$rc" = 0 -a -f "$1/function.json" -a -f "$1/handler.lua" ]
}

# json_check NAME FILE PYTHON: run PYTHON with rows = the JSON lines of FILE
json_check() {
    local name=$1 file=$2 code=$3 why
    if why=$(python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
$code" "$file" 2>&1); then
        ok "$name"
    else
        fail "$name" "$(echo "$why" | tail -3) -- output: $(head -c 600 "$file")"
    fi
}

# --- passthrough (the default) ---------------------------------------------------------
new_ok passthrough relay
check fresh-app-gets-host-json "$(cat "$T/passthrough.new.out")" \
    grep -q '"version": "2.0"' host.json
check fresh-app-gets-local-settings "$(cat local.settings.json 2>&1)" \
    grep -q '"HubConnection": "embedded"' local.settings.json
check says-what-it-created "$(cat "$T/passthrough.new.out")" \
    grep -q 'created relay/function.json' "$T/passthrough.new.out"
printf '%s\n' '{"id": 1,  "note": "spacing kept"}' 'not json, still passed on' '{"id":3}' \
    >"$T/pass.events"
"$HUBFN" run relay --events "$T/pass.events" >"$T/pass.out" 2>"$T/pass.err"
rc=$?
check passthrough-runs "exit $rc: $(tail -3 "$T/pass.err")" [ "$rc" = 0 ]
json_check passthrough-copies-bytes "$T/pass.out" '
lines = [l.rstrip("\n") for l in open("'"$T/pass.events"'")]
assert [r["body"] for r in rows] == lines, rows
assert all(r["binding"] == "out" and r["eventHubName"] == "relay-out" for r in rows), rows'

# --- aep-activation --------------------------------------------------------------------
new_ok aep-activation audiences --template aep-activation
check existing-app-keeps-host-json "$(cat "$T/aep-activation.new.out")" \
    bash -c "! grep -q 'created host.json' '$T/aep-activation.new.out'"
cat >"$T/aep.events" <<'EOF'
{"person":{"name":{"firstName":"Ana"}},"segmentMembership":{"ups":{"seg-b":{"lastQualificationTime":"2024-05-02T08:15:00Z","status":"realized","name":"Gold members"},"seg-a":{"lastQualificationTime":"2024-05-01T10:00:00+0000","status":"exited"},"seg-c":{"lastQualificationTime":"2024-04-01T10:00:00Z","status":"existing"}}},"identityMap":{"ecid":[{"id":"32190288767206698995128181920214237181"}],"email":[{"id":"ana@example.com"}],"crmid":[{"id":"CRM-1"}]}}
{"segmentMembership":{"ups":{"seg-a":{"lastQualificationTime":"2024-05-02T09:00:00Z","status":"realized"}}},"identityMap":{"ecid":[{"id":"08130494355355215032117568021714632048"}],"email":[{"id":"bo@example.com"}]}}
{"segmentMembership":{"ups":{"seg-c":{"lastQualificationTime":"2024-05-02T09:00:00Z","status":"existing"}}},"identityMap":{"ecid":[{"id":"55841422980600054634624860912918487758"}]}}
{"type":"track","event":"Order Completed","userId":"user-1"}
EOF
"$HUBFN" run audiences --events "$T/aep.events" >"$T/aep.out" 2>"$T/aep.err"
rc=$?
check aep-activation-runs "exit $rc: $(tail -3 "$T/aep.err")" [ "$rc" = 0 ]
json_check aep-activation-routes-changes "$T/aep.out" '
got = [(r["partitionKey"], r["body"]["change"], r["body"]["audience"]["id"]) for r in rows]
assert got == [("CRM-1", "left", "seg-a"), ("CRM-1", "entered", "seg-b"),
               ("bo@example.com", "entered", "seg-a")], got
assert rows[1]["body"]["audience"]["name"] == "Gold members", rows[1]
assert rows[2]["body"]["profile"] == {"namespace": "email", "id": "bo@example.com"}, rows[2]
assert all(r["eventHubName"] == "crm-updates" for r in rows), rows'
check aep-activation-warns-on-other-events "$(cat "$T/aep.err")" \
    grep -q 'offset 3: .*skipped' "$T/aep.err"

# --- rudderstack -----------------------------------------------------------------------
new_ok rudderstack rs-events --template=rudderstack
cat >"$T/rs.events" <<'EOF'
{"anonymousId":"d36981e7-6413-4862-9bb9-b8595fb3d0d4","event":"Purchase","properties":{"revenue":100},"type":"track","userId":"user-12345"}
{"anonymousId":"7bc73a83-fd63-4d5b-a385-ac4bda9bf98c","name":"Pricing","type":"page"}
{"anonymousId":"b7ebb70c-60b7-402b-8b81-3439c2fa7b1f","traits":{"email":"ines@example.com"},"type":"identify","userId":""}
{"type":"track","event":"truncated",
EOF
"$HUBFN" run rs-events --events "$T/rs.events" >"$T/rs.out" 2>"$T/rs.err"
rc=$?
check rudderstack-runs "exit $rc: $(tail -3 "$T/rs.err")" [ "$rc" = 0 ]
json_check rudderstack-keys-userid-else-anonymousid "$T/rs.out" '
assert [r["partitionKey"] for r in rows] == ["user-12345", "7bc73a83-fd63-4d5b-a385-ac4bda9bf98c",
                                             "b7ebb70c-60b7-402b-8b81-3439c2fa7b1f"], rows
assert [r["properties"]["type"] for r in rows] == ["track", "page", "identify"], rows
assert rows[0]["body"]["properties"] == {"revenue": 100}, rows[0]
assert all(r["eventHubName"] == "rs-events-out" for r in rows), rows'

# --- the app as a whole hosts -----------------------------------------------------------
timeout $((60 * SLOW)) "$HUBFN" start . --embedded --exit-on-eof >/dev/null 2>"$T/start.err"
rc=$?
check generated-app-hosts "exit $rc: $(tail -3 "$T/start.err")" [ "$rc" = 0 ]

# --- refusals: exit 2, one line, nothing touched ---------------------------------------
sum_before=$(cat relay/function.json relay/handler.lua host.json | md5sum)
# refuse NAME EXPECTED_TEXT ARGS...: hubfn new ARGS must exit 2 with one line holding TEXT
refuse() {
    local name=$1 text=$2 rc; shift 2
    "$HUBFN" new "$@" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
    check "refuses-$name" "exit $rc, stderr: $(cat "$T/$name.err")" \
        [ "$rc" = 2 -a "$(wc -l <"$T/$name.err")" = 1 ]
    check "refuses-$name-says-why" "$(cat "$T/$name.err")" grep -q -- "$text" "$T/$name.err"
}
refuse existing-function "already exists" relay
refuse existing-function-other-template "already exists" relay --template rudderstack
refuse same-name-other-case "already exists" Relay
refuse invalid-name "not a valid function name" 9lives
refuse name-with-slash "not a valid function name" ../escape
refuse lib-folder "lib" lib
refuse unknown-template "unknown template" fresh --template kafka-connect
refuse missing-name "missing NAME"
check refusals-touch-nothing "files changed" \
    [ "$(cat relay/function.json relay/handler.lua host.json | md5sum)" = "$sum_before" ]
check refusals-create-nothing "$(ls)" bash -c "[ ! -e fresh -a ! -e 9lives -a ! -e '$T/escape' ]"
cd relay || exit 1
refuse inside-function-folder "app folder" nested
cd "$app" || exit 1
check inside-function-folder-creates-nothing "$(ls relay)" [ ! -e relay/nested ]

# A folder with a host.json of its own keeps it and gets no local.settings.json.
mkdir -p "$T/app2"
echo '{ "version": "2.0", "functionTimeout": "00:00:30" }' >"$T/app2/host.json"
cd "$T/app2" || exit 1
"$HUBFN" new only >/dev/null 2>"$T/app2.err"
rc=$?
check existing-host-json-kept "exit $rc: $(cat "$T/app2.err")" \
    bash -c "[ $rc = 0 -a ! -e local.settings.json ] && grep -q 00:00:30 host.json"
