#!/usr/bin/env bash
# An endless loop and a memory bomb in a handler fail that invocation only: the host says
# which limit was hit (functionTimeout, extensions.lua.memoryLimitMB) and the other events
# are handled as usual by the same Lua state.
. "$(dirname "$0")/lib.sh"

app=$T/app
mkdir -p "$app/f"
cat >"$app/host.json" <<'JSON'
{ "version": "2.0", "functionTimeout": "00:00:01",
  "extensions": { "lua": { "memoryLimitMB": 32 } } }
JSON
cat >"$app/f/function.json" <<'JSON'
{ "bindings": [
  { "type": "eventHubTrigger", "direction": "in", "name": "ev", "eventHubName": "in",
    "connection": "Conn" },
  { "type": "eventHub", "direction": "out", "name": "$return", "eventHubName": "out",
    "connection": "Conn" } ] }
JSON
cat >"$app/f/handler.lua" <<'LUA'
return function(ev)
  if ev.body.what == "loop" then
    while true do pcall(function() while true do end end) end
  elseif ev.body.what == "bomb" then
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep("x", 4096) .. i end
  end
  return { id = ev.body.id }
end
LUA
printf '{"id":1}\n{"id":2,"what":"loop"}\n{"id":3,"what":"bomb"}\n{"id":4}\n{"id":5}\n' >"$T/events"
timeout $((60 * SLOW)) "$HUBFN" run "$app/f" --events "$T/events" --log-format text >"$T/out" 2>"$T/err"
rc=$?
check exits-1 "exit $rc" [ "$rc" = 1 ]
ids=$(python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["body"]["id"]) for l in open(sys.argv[1])))' "$T/out")
check others-still-handled "outputs for ids: $ids" [ "$ids" = "1 4 5" ]
check loop-reported "$(grep -m1 "line 2" "$T/err")" grep -q "event on line 2).*timed out after 1000 ms" "$T/err"
check bomb-reported "$(grep -m1 "line 3" "$T/err")" grep -q "event on line 3).*out of memory" "$T/err"
