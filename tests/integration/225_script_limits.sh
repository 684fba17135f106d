#!/usr/bin/env bash
# Loading a script runs under functionTimeout and memoryLimitMB as a handler does: a top
# level that loops or allocates too much stops `hubfn run` with one line naming the script
# (exit 2), and saved while `hubfn start` runs, its reload fails with one line while the
# previous version keeps handling events. /healthz fails while a worker is stuck in one
# call (here os.execute, which the timeout hook cannot interrupt) longer than
# functionTimeout plus 10 s, and answers 200 again once the call returns.
. "$(dirname "$0")/lib.sh"

# ---- hubfn run: the top level hits a limit ----
app=$T/app
mkdir -p "$app/f"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "functionTimeout": "00:00:01",
  "extensions": { "lua": { "memoryLimitMB": 32 } } }
JSON
cat >"$app/f/function.json" <<'JSON'
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "in", "connection": "Conn", "cardinality": "many" } ] }
JSON
echo '{"id":1}' >"$T/events"

printf 'local n = 0\nwhile true do n = n + 1 end\nreturn function() end\n' >"$app/f/handler.lua"
t0=$(date +%s)
timeout $((30 * SLOW)) "$HUBFN" run "$app/f" --events "$T/events" --log-format text \
    >"$T/loop.out" 2>"$T/loop.err"
rc=$? t=$(( $(date +%s) - t0 ))
check run-loop-exits-2 "exit $rc after $t s: $(cat "$T/loop.err")" [ "$rc" = 2 ]
check run-loop-one-line "$(cat "$T/loop.err")" [ "$(wc -l <"$T/loop.err")" = 1 ]
check run-loop-names-script-and-limit "$(cat "$T/loop.err")" grep -q \
    "error $app/f/handler.lua: loading the script took longer than functionTimeout (00:00:01); it was at $app/f/handler.lua:2$" \
    "$T/loop.err"

printf 'local t = {}\nfor i = 1, 50000 do t[i] = string.rep("x", 4096) .. i end\nreturn function() end\n' \
    >"$app/f/handler.lua"       # 200 MB
timeout $((30 * SLOW)) "$HUBFN" run "$app/f" --events "$T/events" --log-format text \
    >"$T/mem.out" 2>"$T/mem.err"
rc=$?
check run-memory-exits-2 "exit $rc: $(cat "$T/mem.err")" [ "$rc" = 2 ]
check run-memory-one-line "$(cat "$T/mem.err")" [ "$(wc -l <"$T/mem.err")" = 1 ]
check run-memory-names-script-and-limit "$(cat "$T/mem.err")" grep -q \
    "error $app/f/handler.lua: loading the script ran out of memory (extensions.lua.memoryLimitMB is 32)$" \
    "$T/mem.err"

# ---- hubfn start: a reload that loops keeps the previous version; a stuck worker ----
app=$T/app2
mkdir -p "$app/rec"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "functionTimeout": "00:00:02",
  "extensions": { "lua": { "memoryLimitMB": 32, "allowUnsafeLibraries": true } } }
JSON
echo '{ "Values": { "Conn": "embedded" } }' >"$app/local.settings.json"
cat >"$app/rec/function.json" <<'JSON'
{ "bindings": [ { "type": "eventHubTrigger", "direction": "in", "name": "events",
    "eventHubName": "limits", "connection": "Conn", "cardinality": "many" } ] }
JSON
cat >"$app/rec/handler.lua" <<LUA
local out = assert(io.open("$T/rec.out", "a"))
out:setvbuf("no")
return function(events)
  for _, ev in ipairs(events) do
    if ev.body.sleep then os.execute("sleep " .. ev.body.sleep) end
    out:write("v1 ", ev.body.id, "\n")
  end
end
LUA
feed() {  # feed FROM TO [EXTRA JSON]: events {"id":i EXTRA}
    seq "$1" "$2" | awk -v x="${3:-}" '{ printf "{\"id\":%d%s}\n", $1, x }' >"$T/feed"
    timeout $((60 * SLOW)) "$HUBFN" send "$addr" limits "$T/feed" 2>>"$T/send.log"
}
count() { lines "$T/rec.out"; }

start_bg "$T/run.log" "$HUBFN" start "$app" --embedded --partitions 1 --workers 1 \
    --http-port 0 --log-format text
pid=$BG
wait_for 20 grep -q "on http://" "$T/run.log"
port=$(sed -n 's|.*on http://0\.0\.0\.0:\([0-9]*\).*|\1|p' "$T/run.log" | head -1)
wait_for 20 grep -q "embedded broker listening at" "$T/run.log"
addr=$(sed -n 's/.*embedded broker listening at \([0-9.:]*\).*/\1/p' "$T/run.log" | head -1)
url=http://127.0.0.1:$port
code() { curl -s -o "$T/body" -w '%{http_code}' --max-time 5 "$@"; }
wait_for 20 grep -q "assigned partitions" "$T/run.log"
feed 1 20
wait_for 30 bash -c "[ \$(cat '$T/rec.out' 2>/dev/null | wc -l) -ge 20 ]"
check v1-handles-events "$(count) lines" [ "$(count)" = 20 ]

printf 'while true do end\nreturn function() end\n' >"$app/rec/handler.lua.new"
mv "$app/rec/handler.lua.new" "$app/rec/handler.lua"
wait_for 20 grep -q "previous version keeps running" "$T/run.log"
grep "reload failed" "$T/run.log" >"$T/reload.lines"
check reload-fails-with-one-line "$(cat "$T/reload.lines")" [ "$(wc -l <"$T/reload.lines")" = 1 ]
check reload-line-names-script-and-limit "$(cat "$T/reload.lines")" grep -q \
    "$app/rec/handler.lua: loading the script took longer than functionTimeout (00:00:02)" \
    "$T/reload.lines"
c=$(code "$url/healthz")
check healthz-200-after-failed-reload "$c $(cat "$T/body")" [ "$c" = 200 ]
feed 21 40
wait_for 30 bash -c "[ \$(cat '$T/rec.out' 2>/dev/null | wc -l) -ge 40 ]"
check old-version-keeps-serving "$(count) lines, $(grep -vc '^v1 ' "$T/rec.out") not from v1" \
    [ "$(count)" = 40 -a "$(grep -vc '^v1 ' "$T/rec.out")" = 0 ]

# One event keeps the worker in os.execute("sleep 17"): past 2 s + 10 s /healthz fails,
# naming the worker and the function; once the call returns it is healthy again.
feed 41 41 ',"sleep":17'
sleep 1
c=$(code "$url/healthz")
check healthz-200-before-the-grace "$c $(cat "$T/body")" [ "$c" = 200 ]
wait_for 25 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 '$url/healthz')\" = 503 ]"
c=$(code "$url/healthz")
check healthz-503-when-stuck "$c $(cat "$T/body")" [ "$c" = 503 ]
check healthz-says-which-worker "$(cat "$T/body")" grep -Eq \
    "^worker 0 has been inside one invocation of function rec for 1[2-9] s, longer than functionTimeout \(00:00:02\) plus 10 s$" \
    "$T/body"
wait_for 20 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 '$url/healthz')\" = 200 ]"
c=$(code "$url/healthz")
check healthz-200-after-the-call "$c $(cat "$T/body")" [ "$c" = 200 ]
check stuck-invocation-timed-out "$(grep -m1 'offsets 40-40' "$T/run.log")" \
    grep -q "offsets 40-40.*timed out" "$T/run.log"

kill -TERM "$pid"
wait "$pid"
rc=$?
check exits-0 "exit $rc: $(tail -2 "$T/run.log")" [ "$rc" = 0 ]
