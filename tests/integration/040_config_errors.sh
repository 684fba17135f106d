#!/usr/bin/env bash
# Each bad configuration: exit 2 and one line naming the file, the field and the problem,
# with no secret in it.
. "$(dirname "$0")/lib.sh"

base() {  # base DIR: a valid app with one function "f"
    rm -rf "$1"
    mkdir -p "$1/f"
    echo '{ "version": "2.0" }' >"$1/host.json"
    cat >"$1/f/function.json" <<'JSON'
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "in", "connection": "Conn" } ] }
JSON
    echo 'return function(events) end' >"$1/f/handler.lua"
    echo '{ "Values": { "Conn": "127.0.0.1:1" } }' >"$1/local.settings.json"
}

# expect NAME WANT... : the last prepared app ($T/a) fails with exit 2 and one line
# holding every WANT
expect() {
    local name=$1; shift
    timeout 20 "$HUBFN" start "$T/a" --exit-on-eof >"$T/$name.out" 2>"$T/$name.err"
    local rc=$? n
    n=$(wc -l <"$T/$name.err")
    if [ "$rc" != 2 ] || [ "$n" != 1 ]; then
        fail "$name" "exit $rc, $n lines: $(cat "$T/$name.err")"
        return
    fi
    for w in "$@"; do
        if ! grep -qF -- "$w" "$T/$name.err"; then
            fail "$name" "missing \"$w\" in: $(cat "$T/$name.err")"
            return
        fi
    done
    ok "$name"
}

base "$T/a"; printf '{ "version": "2.0",\n  "functionTimeout": 00:05:00 }\n' >"$T/a/host.json"
expect invalid-json-line-column "host.json:2:" "invalid JSON"

base "$T/a"; rm "$T/a/host.json"
expect missing-host-json "host.json"

base "$T/a"; sed -i 's/eventHubTrigger/httpTrigger/' "$T/a/f/function.json"
expect unknown-binding-type "f/function.json" "bindings[0]" "httpTrigger"

base "$T/a"; sed -i 's/"eventHubName": "in", //' "$T/a/f/function.json"
expect missing-event-hub-name "f/function.json" "eventHubName"

base "$T/a"; sed -i 's/"in", "conn/"%INPUT_HUB%", "conn/' "$T/a/f/function.json"
expect setting-found-nowhere "f/function.json" "INPUT_HUB" "environment" "local.settings.json"

base "$T/a"; echo '{ "version": "2.0", "functionTimeout": "5 minutes" }' >"$T/a/host.json"
expect bad-duration "host.json" "functionTimeout" "5 minutes"

base "$T/a"
echo '{ "version": "2.0", "extensions": { "eventHubs": { "maxEventBatchSize": "ten" } } }' >"$T/a/host.json"
expect bad-batch-size "host.json" "maxEventBatchSize" "ten"

base "$T/a"
echo '{ "version": "2.0", "extensions": { "eventHubs": { "minEventBatchSize": 20, "maxEventBatchSize": 10 } } }' >"$T/a/host.json"
expect min-over-max "minEventBatchSize"

base "$T/a"
echo '{ "version": "2.0", "extensions": { "eventHubs": { "initialOffsetOptions": { "type": "fromEnqueuedTime" } } } }' >"$T/a/host.json"
expect enqueued-time-required "enqueuedTimeUtc"

base "$T/a"
echo '{ "Values": { "Conn": "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=Send;SharedAccessKey=" } }' >"$T/a/local.settings.json"
expect connection-missing-key "Conn" "SharedAccessKey"

base "$T/a"
echo '{ "Values": { "Conn": "Endpoint=http://ns1/;SharedAccessKeyName=Send;SharedAccessKey=S3cretS3cret=" } }' >"$T/a/local.settings.json"
expect connection-bad-endpoint "Conn" "Endpoint"
check connection-error-hides-key "$(cat "$T/connection-bad-endpoint.err")" \
    bash -c "! grep -q S3cretS3cret '$T/connection-bad-endpoint.err'"

base "$T/a"; echo '{ "Values": { } }' >"$T/a/local.settings.json"
expect connection-setting-missing "Conn"

base "$T/a"; printf 'return function(events)\n  local x = = 1\nend\n' >"$T/a/f/handler.lua"
expect handler-syntax-error "handler.lua:2:"

base "$T/a"; echo 'local x = 1' >"$T/a/f/handler.lua"
expect handler-returns-nothing "handler.lua" "must return the handler"

base "$T/a"; sed -i 's/^{ "bindings"/{ "scriptFile": "nope.lua", "bindings"/' "$T/a/f/function.json"
expect script-file-missing "nope.lua"

base "$T/a"
echo '{ "version": "2.0", "extensions": { "kafka": { "fetch.wait.max.ms": "soon" } } }' >"$T/a/host.json"
expect bad-kafka-property "extensions.kafka" "fetch.wait.max.ms"

base "$T/a"
AzureFunctionsJobHost__extensions__eventHubs__maxEventBatchSize=0 expect override-validated "maxEventBatchSize"

"$HUBFN" start "$T/a" --workers lots >/dev/null 2>"$T/cli.err"
rc=$?
check cli-bad-option "exit $rc: $(cat "$T/cli.err")" [ "$rc" = 2 -a "$(wc -l <"$T/cli.err")" = 1 ]
