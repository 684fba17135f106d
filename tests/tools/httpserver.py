#!/usr/bin/env python3
"""A scriptable HTTP/1.1 server on loopback for the tests of HTTP clients.

It answers every request (any method, any path) by a script of rules that a test can
change while the server runs, records every request as one JSON line, and counts what it
saw. Python standard library only.

Start and stop
  tests/tools/httpserver.py [--port N] [--tls CERT KEY] [--log FILE] [--script FILE]
  prints "listening http://127.0.0.1:PORT" (https:// with --tls) on stdout once it
  accepts connections, then serves until SIGTERM or SIGINT, and exits 0.

Requests
  HTTP/1.1 with persistent connections (one thread per connection, requests of a
  connection answered in order), HTTP/1.0, bodies by Content-Length or chunked transfer
  coding, "Expect: 100-continue". Every answer has a Content-Length.

Log (--log FILE): one JSON object a line, appended and flushed when the answer is done:
  id            request number, from 1
  conn          connection number, from 1; conn_seq: the request's place on it, from 1
  t, mono       arrival (request line read): epoch seconds, and CLOCK_MONOTONIC seconds
                (time.monotonic(): the clock other processes read with clock_gettime)
  t_done, mono_done   when the answer was written (or the connection reset or closed)
  method, path, query, http (the request's version), headers (names lower-cased,
  repeated fields joined with ", "), body (text when UTF-8; else base64 with
  "body_encoding": "base64"), body_bytes
  rule          index of the rule that answered (null: the default answer); rule_name
  status        the status answered (null when reset or closed); action: "answer",
  "reset" or "close"; error: set when the answer could not be written (client gone)
  front         with --h2: {"http": "2" or "1.1", "conn": a token per client connection}

Control, on the same port under /_control/ (never logged or counted as requests)
  POST /_control/script   body: a JSON list of rules (or {"rules": [...]}); replaces
                          the script and starts its clock -> {"rules": N}
  GET  /_control/script   the rules with "used" (times applied) and "active" now
  POST /_control/reset    clears the script, the stats and the keys -> {"reset": true}
  GET  /_control/stats    counts, see below
  GET  /_control/keys     {KEY: {"requests": N, "statuses": [...]}} per Idempotency-Key,
                          statuses in the order answered ("reset", "close" for those)
  GET  /_control/wait?requests=N&timeout=S
                          waits until N requests were answered (status, reset or close);
                          200 with the stats, or 408 with the stats after S seconds
                          (default 10)
  Errors: 400 {"error": "why"} (a bad rule names its index and field), 404 unknown.

Rules, tried in order; the first that matches and is live answers. Unmatched: 200 with
{"id": ID, "status": 200}.
  match (all given must hold)
    method          "POST" or ["PUT", "PATCH"] (case-insensitive)
    path            a prefix of the path (the query excluded)
    header          {"name": "value"}: equal value; true: present; false: absent
    body_contains   a substring of the body
  lifetime
    times           applies N times, then falls through to later rules
    after_seconds   live only from S seconds after the script was set
    for_seconds     live for S seconds (from the script, or from after_seconds)
    per_key         applies to the first N requests of each Idempotency-Key (requests
                    without one fall through); key_header names another header
  answer
    status          default 200
    body            a string as it is; any other JSON value as JSON
                    (Content-Type application/json); default {"id": ID, "status": S}
    echo            true: the body is JSON {method, path, query, headers, body}
    headers         {"Name": "value"} added to the answer ("Connection: close" closes
                    the connection after it)
    retry_after     seconds: "Retry-After: N"
    retry_after_date  true: Retry-After as an HTTP-date, now + retry_after rounded up
    delay_ms        wait this long after reading the request, then answer (or reset or
                    close): slow responses, and stalls past a client's timeout
    reset           true: read the request, answer nothing, reset the connection (RST)
    close           true: read the request, answer nothing, close the connection (FIN)
  name              a label, copied to the log as rule_name

  Examples:
    [{"status": 429, "retry_after": 2, "times": 3}]        429 thrice, then 200
    [{"status": 503, "for_seconds": 2}]                    503 for 2 s, then 200
    [{"per_key": 1, "status": 500}]                        each key fails once
    [{"method": "DELETE", "path": "/contacts/", "status": 404},
     {"path": "/slow", "delay_ms": 3000}, {"reset": true, "times": 1}]

Stats (GET /_control/stats), since start or the last reset (a request that arrived before
a reset is logged but not counted)
  requests, answered, by_status ({"200": N, "reset": N, "close": N}), by_method, errors
  (answers not written: client gone), connections (those that carried a request),
  connections_accepted (all, with those of control requests only), connections_open
  (now, all), in_flight,
  max_in_flight, idempotency_keys (distinct), idempotency_keys_repeated (keys seen more
  than once), without_key, first_request, last_request (epoch), duration (seconds between
  them), requests_per_second ((requests - 1) / duration), per_second (requests arrived in
  each second from the first), front (with --h2: connections, by_http).

HTTP/2 (--h2 tls|h2c): starts nghttpx (Debian's nghttp2-proxy) in front of the server,
  on the printed port: "tls" offers h2 and http/1.1 by ALPN and needs --tls CERT KEY; "h2c"
  speaks cleartext HTTP/2 (prior knowledge or Upgrade) and HTTP/1.1. The server behind it
  listens on another loopback port (named on stderr) and sees nghttpx's HTTP/1.1
  requests, with "via: 2 nghttpx" (or "1.1 nghttpx") and "forwarded: for=_TOKEN;proto=..."
  where the token is new for each client connection: the log's "front" and the stats'
  "front" come from them. "connections" then counts nghttpx's connections to the server,
  and reset and close reach the client as a 502 from nghttpx.
"""

import argparse
import base64
import ctypes
import email.utils
import http.server
import json
import math
import os
import shutil
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

CONTROL = "/_control/"
MAX_BODY = 64 << 20
KEY_HEADER = "idempotency-key"

MATCH_FIELDS = {"method", "path", "header", "body_contains"}
LIFE_FIELDS = {"times", "after_seconds", "for_seconds", "per_key", "key_header"}
ANSWER_FIELDS = {"status", "body", "echo", "headers", "retry_after", "retry_after_date",
                 "delay_ms", "reset", "close", "name"}
RULE_FIELDS = MATCH_FIELDS | LIFE_FIELDS | ANSWER_FIELDS


class RuleError(ValueError):
    pass


def _number(rule, i, name, integer=False, minimum=0):
    v = rule.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and v != int(v)):
        raise RuleError(f"rule {i}: {name} must be a{'n integer' if integer else ' number'}")
    if v < minimum:
        raise RuleError(f"rule {i}: {name} must be at least {minimum}")
    return int(v) if integer else float(v)


class Rule:
    """One rule of a script: what it matches, how long it lives, what it answers."""

    def __init__(self, spec, i):
        if not isinstance(spec, dict):
            raise RuleError(f"rule {i}: not a JSON object")
        unknown = sorted(set(spec) - RULE_FIELDS)
        if unknown:
            raise RuleError(f"rule {i}: unknown field {unknown[0]!r}")
        self.index, self.spec = i, spec
        m = spec.get("method")
        if m is not None:
            ms = [m] if isinstance(m, str) else m
            if not isinstance(ms, list) or not all(isinstance(x, str) for x in ms):
                raise RuleError(f"rule {i}: method must be a string or a list of strings")
            m = {x.upper() for x in ms}
        self.methods = m
        self.path = spec.get("path")
        if self.path is not None and not isinstance(self.path, str):
            raise RuleError(f"rule {i}: path must be a string")
        h = spec.get("header") or {}
        if not isinstance(h, dict) or not all(isinstance(v, (str, bool)) for v in h.values()):
            raise RuleError(f"rule {i}: header must map names to a string, true or false")
        self.header = {k.lower(): v for k, v in h.items()}
        b = spec.get("body_contains")
        if b is not None and not isinstance(b, str):
            raise RuleError(f"rule {i}: body_contains must be a string")
        self.body_contains = b.encode() if b is not None else None
        self.times = _number(spec, i, "times", integer=True)
        self.after = _number(spec, i, "after_seconds") or 0.0
        self.for_seconds = _number(spec, i, "for_seconds")
        self.per_key = _number(spec, i, "per_key", integer=True, minimum=1)
        kh = spec.get("key_header", KEY_HEADER)
        if not isinstance(kh, str):
            raise RuleError(f"rule {i}: key_header must be a string")
        self.key_header = kh.lower()
        self.status = _number(spec, i, "status", integer=True, minimum=100)
        if self.status is not None and self.status > 999:
            raise RuleError(f"rule {i}: status must be below 1000")
        self.status = self.status or 200
        hs = spec.get("headers") or {}
        if not isinstance(hs, dict) or not all(isinstance(v, (str, int, float)) and
                                               not isinstance(v, bool) for v in hs.values()):
            raise RuleError(f"rule {i}: headers must map names to strings")
        self.headers = {k: str(v) for k, v in hs.items()}
        self.retry_after = _number(spec, i, "retry_after")
        self.retry_after_date = bool(spec.get("retry_after_date"))
        if self.retry_after_date and self.retry_after is None:
            raise RuleError(f"rule {i}: retry_after_date needs retry_after (seconds from now)")
        self.delay = (_number(spec, i, "delay_ms") or 0.0) / 1000.0
        self.reset = bool(spec.get("reset"))
        self.close = bool(spec.get("close"))
        if self.reset and self.close:
            raise RuleError(f"rule {i}: reset and close exclude each other")
        self.echo = bool(spec.get("echo"))
        if self.echo and "body" in spec:
            raise RuleError(f"rule {i}: echo and body exclude each other")
        self.name = spec.get("name")
        self.used = 0
        self.keys = {}

    def matches(self, req):
        if self.methods is not None and req.method not in self.methods:
            return False
        if self.path is not None and not req.path.startswith(self.path):
            return False
        for k, want in self.header.items():
            have = req.headers.get(k)
            if want is True and have is None or want is False and have is not None:
                return False
            if isinstance(want, str) and have != want:
                return False
        if self.body_contains is not None and self.body_contains not in req.body:
            return False
        return True

    def live(self, since_set):
        if self.times is not None and self.used >= self.times:
            return False
        if since_set < self.after:
            return False
        if self.for_seconds is not None and since_set >= self.after + self.for_seconds:
            return False
        return True

    def describe(self, since_set):
        d = dict(self.spec)
        d["used"] = self.used
        d["active"] = self.live(since_set)
        return d


class Request:
    __slots__ = ("id", "gen", "conn", "conn_seq", "t", "mono", "method", "target", "path", "query",
                 "version", "headers", "body", "key", "front")


class State:
    """The script, the counters and the log, shared by every connection's thread."""

    def __init__(self, log_path, h2):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.log = open(log_path, "a", encoding="utf-8") if log_path else None
        self.h2 = h2
        self.next_request = 0
        self.next_conn = 0
        self.open = 0
        self.rules = []
        self.script_set = time.monotonic()
        self.gen = 0
        self.clear_stats()

    def clear_stats(self):
        self.gen += 1
        self.requests = 0
        self.answered = 0
        self.by_status = {}
        self.by_method = {}
        self.errors = 0
        self.accepted = 0
        self.conns_used = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.keys = {}
        self.without_key = 0
        self.first = None
        self.last = None
        self.per_second = []
        self.front_conns = set()
        self.front_http = {}

    def set_script(self, specs):
        rules = [Rule(s, i) for i, s in enumerate(specs)]
        with self.lock:
            self.rules = rules
            self.script_set = time.monotonic()
        return len(rules)

    def reset(self):
        with self.lock:
            self.rules = []
            self.script_set = time.monotonic()
            self.clear_stats()

    def connection_opened(self):
        with self.lock:
            self.next_conn += 1
            self.accepted += 1
            self.open += 1
            return self.next_conn

    def connection_closed(self):
        with self.lock:
            self.open -= 1

    def arrived(self, req):
        """Counts a request and picks the rule that answers it (None: the default)."""
        with self.lock:
            self.next_request += 1
            req.id = self.next_request
            req.gen = self.gen
            self.requests += 1
            self.conns_used.add(req.conn)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.by_method[req.method] = self.by_method.get(req.method, 0) + 1
            if self.first is None:
                self.first = (req.t, req.mono)
            self.last = (req.t, req.mono)
            sec = int(req.mono - self.first[1])
            while len(self.per_second) <= sec:
                self.per_second.append(0)
            self.per_second[sec] += 1
            key = req.headers.get(KEY_HEADER)
            if key is None:
                self.without_key += 1
            else:
                k = self.keys.setdefault(key, {"requests": 0, "statuses": []})
                k["requests"] += 1
            if req.front:
                self.front_conns.add(req.front["conn"])
                h = req.front["http"]
                self.front_http[h] = self.front_http.get(h, 0) + 1
            since = req.mono - self.script_set
            for rule in self.rules:
                if not rule.live(since) or not rule.matches(req):
                    continue
                if rule.per_key is not None:
                    k = req.headers.get(rule.key_header)
                    if k is None or rule.keys.get(k, 0) >= rule.per_key:
                        continue
                    rule.keys[k] = rule.keys.get(k, 0) + 1
                rule.used += 1
                return rule
            return None

    def done(self, req, rule, status, action, error, body_text, body_b64):
        t_done, mono_done = time.time(), time.monotonic()
        with self.cond:
            if req.gen == self.gen:  # else it arrived before a reset: log it, count nothing
                self.in_flight -= 1
                self.answered += 1
                label = str(status) if action == "answer" else action
                self.by_status[label] = self.by_status.get(label, 0) + 1
                if error:
                    self.errors += 1
                key = req.headers.get(KEY_HEADER)
                if key is not None:
                    self.keys[key]["statuses"].append(label if action != "answer" else status)
                self.cond.notify_all()
            if self.log is None:
                return
            entry = {
                "id": req.id, "conn": req.conn, "conn_seq": req.conn_seq,
                "t": req.t, "mono": req.mono,
                "method": req.method, "path": req.path, "query": req.query,
                "http": req.version, "headers": req.headers,
                "body": body_text if body_b64 is None else body_b64,
                "body_bytes": len(req.body),
                "rule": rule.index if rule else None,
                "status": status if action == "answer" else None,
                "action": action,
                "t_done": t_done, "mono_done": mono_done,
            }
            if body_b64 is not None:
                entry["body_encoding"] = "base64"
            if rule and rule.name is not None:
                entry["rule_name"] = rule.name
            if error:
                entry["error"] = error
            if req.front:
                entry["front"] = req.front
            self.log.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self.log.flush()

    def stats(self):
        with self.lock:
            return self._stats()

    def _stats(self):
        dur = (self.last[1] - self.first[1]) if self.first else 0.0
        s = {
            "requests": self.requests,
            "answered": self.answered,
            "by_status": dict(self.by_status),
            "by_method": dict(self.by_method),
            "errors": self.errors,
            "connections": len(self.conns_used),
            "connections_accepted": self.accepted,
            "connections_open": self.open,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "idempotency_keys": len(self.keys),
            "idempotency_keys_repeated": sum(1 for v in self.keys.values()
                                             if v["requests"] > 1),
            "without_key": self.without_key,
            "first_request": self.first[0] if self.first else None,
            "last_request": self.last[0] if self.last else None,
            "duration": dur,
            "requests_per_second": (self.requests - 1) / dur if dur > 0 else 0.0,
            "per_second": list(self.per_second),
        }
        if self.h2:
            s["front"] = {"connections": len(self.front_conns),
                          "by_http": dict(self.front_http)}
        return s

    def script(self):
        with self.lock:
            since = time.monotonic() - self.script_set
            return [r.describe(since) for r in self.rules]

    def key_report(self):
        with self.lock:
            return {k: {"requests": v["requests"], "statuses": list(v["statuses"])}
                    for k, v in self.keys.items()}

    def wait(self, n, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while self.answered < n:
                left = end - time.monotonic()
                if left <= 0:
                    return False, self._stats()
                self.cond.wait(left)
            return True, self._stats()


def _front(headers):
    """The client side of a request that nghttpx forwarded: its HTTP version and a token
    for its connection (from Via and Forwarded)."""
    via, fwd = headers.get("via"), headers.get("forwarded")
    if not via or "nghttpx" not in via or not fwd:
        return None
    http_version = via.split(",")[-1].strip().split(" ")[0]
    conn = None
    for part in fwd.split(",")[-1].split(";"):
        k, _, v = part.strip().partition("=")
        if k.lower() == "for":
            conn = v.strip('"')
    return {"http": http_version, "conn": conn} if conn else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubfn-test-httpd"
    sys_version = ""

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.state = self.server.state
        self.conn_id = self.state.connection_opened()
        self.conn_seq = 0

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        self.state.connection_closed()

    def handle(self):
        self.close_connection = True
        try:
            self.handle_one_request()
            while not self.close_connection:
                self.handle_one_request()
        except (OSError, ssl.SSLError, ValueError) as e:
            if not isinstance(e, (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError)):
                self.server.note(f"connection {self.conn_id}: {e}")
            self.close_connection = True

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("httpserver: " + (fmt % args) + "\n")

    def handle_one_request(self):
        self.raw_requestline = self.rfile.readline(65537)
        t, mono = time.time(), time.monotonic()
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        target = urllib.parse.urlsplit(self.path)
        path = target.path or "/"
        if path.startswith(CONTROL):
            body = self.read_body()
            if body is not None:
                self.control(self.command, path, target.query, body)
            return
        self.conn_seq += 1
        req = Request()
        req.conn, req.conn_seq, req.t, req.mono = self.conn_id, self.conn_seq, t, mono
        req.method, req.target, req.path, req.query = self.command, self.path, path, target.query
        req.version = self.request_version
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        req.headers = headers
        req.front = _front(headers) if self.server.state.h2 else None
        body = self.read_body()
        if body is None:
            return
        req.body = body
        self.answer(req)

    def read_body(self):
        """The request body (bytes), or None after answering an unreadable one."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionResetError("end of input in a chunked body")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self.send_error(400, "bad chunk size")
                    return None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > MAX_BODY:
                    self.send_error(413)
                    self.close_connection = True
                    return None
                parts.append(self._read_exact(size))
                self.rfile.readline(65537)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
            if n < 0:
                raise ValueError
        except ValueError:
            self.send_error(400, "bad Content-Length")
            return None
        if n > MAX_BODY:
            self.send_error(413)
            self.close_connection = True
            return None
        return self._read_exact(n)

    def _read_exact(self, n):
        data = self.rfile.read(n)
        if len(data) != n:
            raise ConnectionResetError("end of input in a body")
        return data

    def send_json(self, status, obj, extra=None):
        body = json.dumps(obj).encode()
        self.write_answer(status, body, {"Content-Type": "application/json", **(extra or {})})

    def write_answer(self, status, body, headers):
        reason = self.responses.get(status, ("",))[0] or "Status"
        lines = [f"{self.protocol_version} {status} {reason}",
                 f"Server: {self.server_version}",
                 f"Date: {self.date_time_string()}"]
        close = self.close_connection
        for k, v in headers.items():
            if k.lower() == "content-length":
                continue
            if k.lower() == "connection" and v.lower() == "close":
                close = True
                continue
            lines.append(f"{k}: {v}")
        lines.append(f"Content-Length: {len(body)}")
        if close:
            lines.append("Connection: close")
            self.close_connection = True
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))

    def answer(self, req):
        st = self.state
        rule = st.arrived(req)
        try:
            text, b64 = req.body.decode("utf-8"), None
        except UnicodeDecodeError:
            text, b64 = None, base64.b64encode(req.body).decode("ascii")
        action, status, error = "answer", None, None
        try:
            if rule is not None and rule.delay > 0:
                self.server.stopping.wait(rule.delay)
            if rule is not None and rule.reset:
                action = "reset"
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                os.close(self.connection.detach())
            elif rule is not None and rule.close:
                action = "close"
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                status = rule.status if rule else 200
                headers = dict(rule.headers) if rule else {}
                if rule is not None and rule.retry_after is not None:
                    if rule.retry_after_date:
                        when = math.ceil(time.time() + rule.retry_after)
                        headers["Retry-After"] = email.utils.formatdate(when, usegmt=True)
                    else:
                        ra = rule.retry_after
                        headers["Retry-After"] = str(int(ra)) if ra == int(ra) else str(ra)
                if rule is not None and rule.echo:
                    body = json.dumps({"method": req.method, "path": req.path,
                                       "query": req.query, "headers": req.headers,
                                       "body": text if b64 is None else b64}).encode()
                    ctype = "application/json"
                elif rule is not None and "body" in rule.spec:
                    b = rule.spec["body"]
                    if isinstance(b, str):
                        body, ctype = b.encode(), "text/plain; charset=utf-8"
                    else:
                        body, ctype = json.dumps(b).encode(), "application/json"
                else:
                    body = json.dumps({"id": req.id, "status": status}).encode()
                    ctype = "application/json"
                if not any(k.lower() == "content-type" for k in headers):
                    headers["Content-Type"] = ctype
                self.write_answer(status, body, headers)
        except OSError as e:
            error = f"{type(e).__name__}: {e}"
            self.close_connection = True
        finally:
            st.done(req, rule, status, action, error, text, b64)
            if self.server.verbose:
                self.log_message('%s %s %s -> %s', req.id, req.method, req.target,
                                 status if action == "answer" else action)

    def control(self, method, path, query, body):
        st = self.state
        what = path[len(CONTROL):].rstrip("/")
        q = urllib.parse.parse_qs(query)
        try:
            if what == "stats" and method == "GET":
                self.send_json(200, st.stats())
            elif what == "script" and method == "GET":
                self.send_json(200, st.script())
            elif what == "script" and method in ("POST", "PUT"):
                try:
                    specs = json.loads(body or b"[]")
                except ValueError as e:
                    raise RuleError(f"the script is not JSON: {e}")
                if isinstance(specs, dict) and set(specs) == {"rules"}:
                    specs = specs["rules"]
                if not isinstance(specs, list):
                    raise RuleError("the script must be a JSON list of rules")
                self.send_json(200, {"rules": st.set_script(specs)})
            elif what == "reset" and method == "POST":
                st.reset()
                self.send_json(200, {"reset": True})
            elif what == "keys" and method == "GET":
                self.send_json(200, st.key_report())
            elif what == "wait" and method == "GET":
                try:
                    n = int(q.get("requests", ["1"])[0])
                    timeout = float(q.get("timeout", ["10"])[0])
                except ValueError:
                    raise RuleError("wait takes requests=N and timeout=SECONDS")
                reached, stats = st.wait(n, timeout)
                self.send_json(200 if reached else 408, stats)
            else:
                self.send_json(404, {"error": f"no control {method} {path}"})
        except RuleError as e:
            self.send_json(400, {"error": str(e)})


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    block_on_close = False

    def __init__(self, addr, state, tls_context, verbose):
        self.state = state
        self.verbose = verbose
        self.stopping = threading.Event()
        super().__init__(addr, Handler)
        if tls_context is not None:
            self.socket = tls_context.wrap_socket(self.socket, server_side=True,
                                                  do_handshake_on_connect=False)

    def note(self, msg):
        sys.stderr.write(f"httpserver: {msg}\n")

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        self.note(f"{client_address}: {type(e).__name__}: {e}")


def free_port(host):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent():
    """Runs in the proxy's child before exec: it gets SIGKILL when this server dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_proxy(args, backend_port, front_port):
    exe = args.nghttpx or shutil.which("nghttpx") or "/usr/sbin/nghttpx"
    if not os.path.exists(exe):
        raise SystemExit("httpserver: --h2 needs nghttpx (Debian package nghttp2-proxy)")
    front = f"{args.host},{front_port}"
    cmd = [exe, "--conf=/dev/null", "--single-process", "--workers=1",
           f"--backend={args.host},{backend_port}",
           "--add-forwarded=for,proto", "--forwarded-for=obfuscated",
           "--strip-incoming-forwarded", "--no-ocsp", "--no-server-push",
           f"--log-level={'INFO' if args.verbose else 'WARN'}"]
    if args.h2 == "h2c":
        cmd.append(f"--frontend={front};no-tls")
    else:
        cmd += [f"--frontend={front}", os.path.abspath(args.tls[1]),
                os.path.abspath(args.tls[0])]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno(),
                            preexec_fn=_die_with_parent)
    end = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"httpserver: nghttpx exited {proc.returncode}")
        try:
            socket.create_connection((args.host, front_port), timeout=1).close()
            return proc
        except OSError:
            if time.monotonic() > end:
                proc.kill()
                raise SystemExit("httpserver: nghttpx did not listen within 10 s")
            time.sleep(0.05)


def main():
    p = argparse.ArgumentParser(
        prog="httpserver.py", description=__doc__.split("\n", 1)[0],
        epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=0,
                   help="port (default: a free one); with --h2, nghttpx's port")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS (PEM files)")
    p.add_argument("--log", metavar="FILE", help="append one JSON line per request")
    p.add_argument("--script", metavar="FILE", help="initial script: a JSON list of rules")
    p.add_argument("--h2", choices=("tls", "h2c"),
                   help="put nghttpx in front: HTTP/2 over TLS (needs --tls) or cleartext")
    p.add_argument("--nghttpx", metavar="PATH", help="the nghttpx binary (default: on PATH)")
    p.add_argument("-v", "--verbose", action="store_true", help="one stderr line per request")
    args = p.parse_args()
    if args.h2 == "tls" and not args.tls:
        p.error("--h2 tls needs --tls CERT KEY")

    state = State(args.log, args.h2 is not None)
    if args.script:
        try:
            with open(args.script, encoding="utf-8") as f:
                specs = json.load(f)
            if isinstance(specs, dict) and set(specs) == {"rules"}:
                specs = specs["rules"]
            if not isinstance(specs, list):
                raise RuleError("the script must be a JSON list of rules")
            state.set_script(specs)
        except (OSError, ValueError) as e:
            p.error(f"--script {args.script}: {e}")

    tls = None
    if args.tls and not args.h2:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls[0], args.tls[1])
        tls.set_alpn_protocols(["http/1.1"])

    proxy = None
    if args.h2:
        server = Server((args.host, 0), state, None, args.verbose)
        backend = server.server_address[1]
        port = args.port or free_port(args.host)
        proxy = start_proxy(args, backend, port)
        scheme = "https" if args.h2 == "tls" else "http"
        server.note(f"nghttpx ({args.h2}) on {args.host}:{port} "
                    f"in front of http://{args.host}:{backend}")
    else:
        server = Server((args.host, args.port), state, tls, args.verbose)
        port = server.server_address[1]
        scheme = "https" if tls else "http"

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    print(f"listening {scheme}://{args.host}:{port}", flush=True)
    stop.wait()
    server.stopping.set()
    server.shutdown()
    server.server_close()
    if proxy is not None:
        proxy.terminate()
        try:
            proxy.wait(3)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()
    if state.log:
        with state.lock:
            state.log.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
