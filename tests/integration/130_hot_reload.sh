#!/usr/bin/env bash
# Hot reload: saving a running function's handler makes the next batches use the new code,
# every event is processed exactly once across the reload, and a syntax error keeps the
# previous version serving (with the error's file:line in the log).
. "$(dirname "$0")/lib.sh"

app=$T/app
mkdir -p "$app/rec"
echo '{ "version": "2.0" }' >"$app/host.json"
cat >"$app/rec/function.json" <<'JSON'
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "reload", "connection": "Conn", "cardinality": "many" } ] }
JSON
handler() {  # handler VERSION: a handler recording "VERSION id" per event
    cat >"$app/rec/handler.lua.new" <<LUA
local out = assert(io.open("$T/rec.out", "a"))
out:setvbuf("no")
return function(events)
  local lines = {}
  for _, ev in ipairs(events) do lines[#lines + 1] = "$1 " .. ev.body.id .. "\n" end
  out:write(table.concat(lines))
end
LUA
    mv "$app/rec/handler.lua.new" "$app/rec/handler.lua"
}
handler v1
count() { cat "$T/rec.out" 2>/dev/null | wc -l; }
feed() {  # feed FROM TO: events with ids FROM..TO
    seq "$1" "$2" | awk '{ printf "k%d\t{\"id\":%d}\n", $1 % 5, $1 }' >"$T/feed"
    produce "$addr" reload "$T/feed"
}

start_bg "$T/run.log" "$HUBFN" start "$app" --embedded --partitions 2 --workers 2
pid=$BG
wait_for 20 grep -q "listening at" "$T/run.log"
addr=$(sed -n 's/.*embedded broker listening at \([0-9.:]*\).*/\1/p' "$T/run.log" | head -1)
wait_for 20 grep -q "assigned partitions" "$T/run.log"
feed 1 200
wait_for 20 bash -c "[ \$(cat '$T/rec.out' 2>/dev/null | wc -l) -ge 200 ]"

handler v2
wait_for 10 grep -q "reloading" "$T/run.log"
feed 201 400
wait_for 20 bash -c "[ \$(cat '$T/rec.out' 2>/dev/null | wc -l) -ge 400 ]"

printf 'return function(events)\n  local = oops\nend\n' >"$app/rec/handler.lua"
wait_for 10 grep -q "previous version keeps running" "$T/run.log"
feed 401 600
wait_for 20 bash -c "[ \$(cat '$T/rec.out' 2>/dev/null | wc -l) -ge 600 ]"
kill -TERM "$pid"
wait "$pid"
rc=$?

check exits-0 "exit $rc: $(tail -2 "$T/run.log")" [ "$rc" = 0 ]
check syntax-error-shows-file-line "$(grep -m1 'previous version' "$T/run.log")" \
    grep -q "handler.lua:2:.*previous version keeps running\|previous version keeps running.*handler.lua:2:" "$T/run.log"
check every-event-exactly-once "$(count) lines, $(cut -d' ' -f2 "$T/rec.out" | sort -u | wc -l) unique" \
    [ "$(count)" = 600 -a "$(cut -d' ' -f2 "$T/rec.out" | sort -u | wc -l)" = 600 ]
check old-code-before-reload "$(awk '$2 <= 200 && $1 != "v1"' "$T/rec.out" | head -3)" \
    [ -z "$(awk '$2 <= 200 && $1 != "v1"' "$T/rec.out")" ]
check new-code-after-reload "$(awk '$2 > 200 && $1 != "v2"' "$T/rec.out" | head -3)" \
    [ -z "$(awk '$2 > 200 && $1 != "v2"' "$T/rec.out")" ]
