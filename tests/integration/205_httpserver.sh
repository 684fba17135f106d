#!/usr/bin/env bash
# The scriptable HTTP server of the HTTP binding's tests (tests/tools/httpserver.py), checked
# with curl: keep-alive, 429 with Retry-After (seconds and HTTP-date), rules that run out
# (times, for_seconds, per_key), matching, reset and close, delays and stalls, pipelined
# requests answered in order, bodies (chunked, binary), the request log, the stats, TLS with
# a test CA, HTTP/2 through nghttpx, and a clean exit on SIGTERM with nothing left behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"

# proxy_gone PID: the process is gone (or a zombie waiting for init)
proxy_gone() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null); [ -z "$st" ] || [[ $st == Z* ]]; }

# req ARGS...: one curl request; prints "CODE RETRY-AFTER" (RETRY-AFTER: - when absent)
req() {
    curl -s -o "$T/body" -D "$T/head" -w '%{http_code}' --max-time 5 \
        ${HTTPD_CACERT:+--cacert "$HTTPD_CACERT"} "$@"
    local ra; ra=$(tr -d '\r' <"$T/head" | sed -n 's/^[Rr]etry-[Aa]fter: //p' | tail -1)
    echo " ${ra:--}"
}

h=$(python3 "$HTTPD" --help)
missing=
for word in /_control/script /_control/stats /_control/reset /_control/keys retry_after_date \
            for_seconds times per_key delay_ms reset close echo --tls --log --script --h2; do
    grep -q -- "$word" <<<"$h" || missing="$missing $word"
done
check help-documents "not in --help:$missing" [ -z "$missing" ]

if ! httpd_start plain; then
    fail starts "$(cat "$T/plain.err")"; exit 1
fi
check listening-line "$HTTPD_URL" grep -Eq '^http://127\.0\.0\.1:[0-9]+$' <<<"$HTTPD_URL"
U=$HTTPD_URL

# keep-alive: two requests of one curl invocation share one connection
curl -s -o /dev/null -o /dev/null --max-time 5 "$U/a" "$U/b?q=1"
n=$(httpd_stat connections)
check keep-alive-one-connection "$n connections" [ "$n" = 1 ]
n=$(python3 -c 'import json, sys
print(len({json.loads(l)["conn"] for l in open(sys.argv[1])}))' "$HTTPD_LOG")
check keep-alive-log "$n connections in the log" [ "$n" = 1 ]
b=$(curl -s --max-time 5 "$U/c")
check default-answer "$b" grep -q '"status": 200' <<<"$b"

# 429 with Retry-After for the first 3 requests, then the default 200
httpd_script '[{"status": 429, "retry_after": 2, "times": 3}]'
got=$(for i in 1 2 3 4; do req -X POST -d x "$U/t"; done | tr '\n' ' ')
check 429-retry-after-times "$got" [ "$got" = "429 2 429 2 429 2 200 - " ]
httpd_script '[{"status": 429, "retry_after": 3, "retry_after_date": true}]'
r=$(req "$U/date")
d=$(python3 -c 'import email.utils, sys, time
t = email.utils.parsedate_to_datetime(sys.argv[1]).timestamp() - time.time()
print("ok" if 2 <= t <= 4 else t)' "${r#429 }" 2>&1)
check 429-retry-after-date "$r: $d" [ "$d" = ok ]

# for_seconds: 503 for 1 s from the script, then 200
httpd_script '[{"status": 503, "for_seconds": 1}]'
a=$(req "$U/f"); sleep 1.2; b=$(req "$U/f")
check for-seconds "$a, then $b" [ "$a $b" = "503 - 200 -" ]
httpd_script '[{"status": 503, "after_seconds": 0.6}]'
a=$(req "$U/f"); sleep 0.8; b=$(req "$U/f")
check after-seconds "$a, then $b" [ "$a $b" = "200 - 503 -" ]

# per_key: each Idempotency-Key fails once, its second attempt succeeds
httpd_script '[{"per_key": 1, "status": 500}]'
got=$(for k in k1 k1 k2 k1 k2; do req -H "Idempotency-Key: $k" -d '{}' "$U/p"; done | tr '\n' ' ')
check per-key "$got" [ "$got" = "500 - 200 - 500 - 200 - 200 - " ]
k=$(httpd_ctl GET keys | json_get - k1.statuses)
check keys-report "$k" [ "$k" = "[500, 200, 200]" ]

# matching: method, path prefix, header, body substring, with fall-through
httpd_script '[{"method": "DELETE", "path": "/contacts/", "status": 404},
  {"method": ["PUT", "PATCH"], "header": {"x-tenant": "a"}, "status": 409},
  {"body_contains": "poison", "status": 400, "body": {"error": "poison"}},
  {"header": {"authorization": false}, "status": 401}]'
got=$(req -X DELETE "$U/contacts/1"; req -X DELETE -H 'Authorization: x' "$U/other"
      req -X PATCH -H 'x-tenant: a' -H 'Authorization: x' "$U/contacts/1"
      req -X PATCH -H 'x-tenant: b' -H 'Authorization: x' "$U/contacts/1"
      req -H 'Authorization: x' -d '{"v":"poison"}' "$U/x"; req "$U/x")
got=$(tr '\n' ' ' <<<"$got")
check matching "$got" [ "$got" = "404 - 200 - 409 - 200 - 400 - 401 - " ]

# reset (RST: curl 56) and close (EOF: curl 52), both after reading the request
httpd_script '[{"path": "/reset", "reset": true}, {"path": "/close", "close": true}]'
curl -s --max-time 5 -d x "$U/reset" >/dev/null; rc=$?
check reset-connection "curl exit $rc" [ "$rc" = 56 ]
curl -s --max-time 5 -d x "$U/close" >/dev/null; rc=$?
check close-connection "curl exit $rc" [ "$rc" = 52 ]

# delay: a slow answer, and a stall past the client's timeout
httpd_script '[{"path": "/slow", "delay_ms": 400}, {"path": "/stall", "delay_ms": 1500}]'
t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 5 "$U/slow")
check delay "$t s" python3 -c 'import sys; sys.exit(not 0.4 <= float(sys.argv[1]) < 1.4)' "$t"
curl -s --max-time 0.3 "$U/stall" >/dev/null; rc=$?
check stall-times-out "curl exit $rc" [ "$rc" = 28 ]

# pipelined requests of one connection are answered in order, a slow first one included
got=$(python3 - "${U##*:}" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /fast/2 HTTP/1.1\r\nHost: x\r\n"
          b"Connection: close\r\n\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
print(" ".join(p.split(b'"id": ')[1].split(b",")[0].decode() for p in data.split(b"HTTP/1.1 ")[1:]))
PY
)
set -- $got
check pipelined-in-order "answers for ids $got" [ $# = 2 ] && [ "$2" = $(($1 + 1)) ]

# concurrency: 20 requests at once on 20 connections
httpd_ctl POST reset >/dev/null
httpd_script '[{"delay_ms": 300}]'
args=(); for i in $(seq 20); do args+=(-o /dev/null "$U/par/$i"); done
curl -s --parallel --parallel-max 20 --parallel-immediate --max-time 5 "${args[@]}" 2>/dev/null
s=$(httpd_ctl GET stats)
m=$(json_get - max_in_flight <<<"$s"); c=$(json_get - connections <<<"$s")
check concurrent "max_in_flight $m over $c connections" [ "$m" = 20 ] && [ "$c" = 20 ]

# bodies: chunked and binary, and what the log says
httpd_ctl POST reset >/dev/null
httpd_script '[]'
curl -s -o /dev/null --max-time 5 -X PUT -H 'Transfer-Encoding: chunked' -H 'Idempotency-Key: ch' \
    --data-binary '{"chunked":true}' "$U/chunked?x=1"
printf '\377\000\376' | curl -s -o /dev/null --max-time 5 -X PATCH --data-binary @- "$U/bin"
httpd_ctl GET stats >/dev/null
res=$(python3 - "$HTTPD_LOG" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
bad = [e["path"] for e in log if e["path"].startswith("/_control")]
ch = [e for e in log if e["path"] == "/chunked"][0]
bi = [e for e in log if e["path"] == "/bin"][0]
want = {"id", "conn", "conn_seq", "t", "mono", "method", "path", "query", "http", "headers",
        "body", "body_bytes", "rule", "status", "action", "t_done", "mono_done"}
miss = want - set(ch)
print("control logged" if bad else "missing " + " ".join(miss) if miss else
      "chunked " + repr(ch) if (ch["method"], ch["body"], ch["query"], ch["status"],
      ch["headers"].get("transfer-encoding"), ch["headers"].get("idempotency-key")) !=
      ("PUT", '{"chunked":true}', "x=1", 200, "chunked", "ch") else
      "binary " + repr(bi) if (bi["body"], bi.get("body_encoding"), bi["body_bytes"]) !=
      ("/wD+", "base64", 3) else
      "times" if not (ch["t"] <= ch["t_done"] and ch["mono"] <= ch["mono_done"]) else
      "upper-case header" if any(k != k.lower() for e in log for k in e["headers"]) else "ok")
PY
)
check request-log "$res" [ "$res" = ok ]

# stats after a known mix, and reset clears them
httpd_ctl POST reset >/dev/null
httpd_script '[{"status": 429, "times": 2}, {"path": "/gone", "reset": true}]'
for i in 1 2 3; do curl -s -o /dev/null --max-time 5 -H "Idempotency-Key: s$i" -d x "$U/s"; done
curl -s -o /dev/null --max-time 5 "$U/gone"
curl -s -o /dev/null --max-time 5 -H "Idempotency-Key: s1" -d x "$U/s"
s=$(httpd_ctl GET stats)
got=$(python3 -c 'import json, sys; s = json.loads(sys.argv[1])
print(s["requests"], s["by_status"], s["by_method"], s["idempotency_keys"],
      s["idempotency_keys_repeated"], s["without_key"], s["in_flight"], sum(s["per_second"]),
      s["requests_per_second"] > 0)' "$s")
want="5 {'429': 2, '200': 2, 'reset': 1} {'POST': 4, 'GET': 1} 3 1 1 0 5 True"
check stats "$got" [ "$got" = "$want" ]
httpd_ctl POST reset >/dev/null
got=$(httpd_ctl GET stats | json_get - requests)$(httpd_ctl GET script)
check control-reset "$got" [ "$got" = "0[]" ]
code=$(curl -s -o /dev/null -w '%{http_code}' -d '[{"stauts": 500}]' "$U/_control/script")
check bad-rule-400 "$code" [ "$code" = 400 ]

httpd_stop; rc=$?
check sigterm-exit-0 "exit $rc: $(tail -3 "$T/plain.err")" [ "$rc" = 0 ]

# TLS with a throwaway CA
if test_ca "$T/ca"; then ok test-ca; else fail test-ca "$(tail -3 "$T/ca/openssl.log")"; fi
if httpd_start tls --tls "$T/ca/server.pem" "$T/ca/server.key"; then
    HTTPD_CACERT=$T/ca/ca.pem
    got=$(curl -s -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' --max-time 5 \
          --cacert "$HTTPD_CACERT" "$HTTPD_URL/x" "${HTTPD_URL/127.0.0.1/localhost}/y" |
          tr '\n' ' ')
    check tls-test-ca "$got" [ "$got" = "200 1 200 1 " ]
    curl -s -o /dev/null --max-time 5 "$HTTPD_URL/x"; rc=$?
    check tls-unknown-ca-refused "curl exit $rc" [ "$rc" = 60 ]
    httpd_script '[{"status": 503, "retry_after": 1}]'
    r=$(req "$HTTPD_URL/z")
    check tls-scripted "$r" [ "$r" = "503 1" ]
    httpd_stop
    HTTPD_CACERT=
else
    fail tls-starts "$(cat "$T/tls.err")"
fi

# HTTP/2 through nghttpx: over TLS (ALPN h2) and cleartext (prior knowledge)
if command -v nghttpx >/dev/null || [ -x /usr/sbin/nghttpx ]; then
    if httpd_start h2 --tls "$T/ca/server.pem" "$T/ca/server.key" --h2 tls; then
        HTTPD_CACERT=$T/ca/ca.pem
        got=$(curl -s -o /dev/null -o /dev/null -w '%{http_version} ' --max-time 5 --http2 \
              --cacert "$HTTPD_CACERT" -H 'Idempotency-Key: h' -d '{"a":1}' \
              "$HTTPD_URL/h2" "$HTTPD_URL/h2b")
        check h2-tls-client "$got" [ "$got" = "2 2 " ]
        got=$(tail -n 2 "$HTTPD_LOG" | python3 -c 'import json, sys
es = [json.loads(l) for l in sys.stdin]
print(" ".join(e["front"]["http"] + ":" + e["headers"]["via"] + ":" + e["body"] for e in es),
      len({e["front"]["conn"] for e in es}))')
        check h2-tls-arrives-as-h2 "$got" [ "$got" = '2:2 nghttpx:{"a":1} 2:2 nghttpx:{"a":1} 1' ]
        httpd_script '[{"status": 429, "retry_after": 2}]'
        r=$(req --http2 "$HTTPD_URL/t")
        check h2-tls-scripted "$r" [ "$r" = "429 2" ]
        f=$(httpd_ctl GET stats | json_get - front.by_http)
        check h2-tls-stats "$f" [ "$f" = '{"2": 3}' ]
        proxy=$(pgrep -P "$HTTPD_PID" -x nghttpx)
        httpd_stop; rc=$?
        check h2-tls-stops "exit $rc, nghttpx ${proxy:-not found}" \
            [ "$rc" = 0 ] && [ -n "$proxy" ] && proxy_gone "$proxy"
        HTTPD_CACERT=
    else
        fail h2-tls-starts "$(cat "$T/h2.err")"
    fi
    if httpd_start h2c --h2 h2c; then
        got=$(curl -s -o /dev/null -w '%{http_version}' --max-time 5 --http2-prior-knowledge \
              "$HTTPD_URL/c")
        v=$(tail -n 1 "$HTTPD_LOG" | json_get - front.http)
        check h2c-prior-knowledge "client $got, server saw $v" [ "$got $v" = "2 2" ]
        # killed without a word, the server takes nghttpx with it
        proxy=$(pgrep -P "$HTTPD_PID" -x nghttpx)
        kill -9 "$HTTPD_PID"; wait "$HTTPD_PID" 2>/dev/null
        wait_for 5 proxy_gone "${proxy:-0}"
        check h2c-proxy-dies-with-server "nghttpx ${proxy:-not found}" \
            [ -n "$proxy" ] && proxy_gone "$proxy"
    else
        fail h2c-starts "$(cat "$T/h2c.err")"
    fi
else
    echo "ok - $SCRIPT/h2-through-nghttpx # SKIP nghttpx not installed (Debian nghttp2-proxy)"
fi

# nothing left behind (nghttpx included)
left=$(pgrep -f "$T/" || true)
check nothing-left "$(ps -o pid,args -p "${left:-0}" 2>/dev/null | tail -n +2)" [ -z "$left" ]
