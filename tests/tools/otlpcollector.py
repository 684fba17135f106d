#!/usr/bin/env python3
"""A stand-in for an OpenTelemetry collector's OTLP/HTTP receiver, JSON encoding, for the
tests of hubfn's span exporter. It checks every request as a collector would, decodes the
spans and records each as one JSON line. Python standard library only.

  tests/tools/otlpcollector.py [--port N] [--log FILE]
  prints "listening http://127.0.0.1:PORT" once it accepts connections; serves until
  SIGTERM or SIGINT.

Requests: POST /v1/traces with Content-Type application/json and an ExportTraceServiceRequest
({"resourceSpans": [{"resource": {"attributes": [...]}, "scopeSpans": [{"scope": {...},
"spans": [...]}]}]}). A request that breaks the OTLP/JSON rules (ids as lower-case hex of
the right length and not all zero, times as decimal strings with end >= start, attributes
as {key, value: {stringValue | intValue | boolValue | doubleValue}}, ...) is answered 400
and its reasons kept in the stats.

Log (--log FILE), one line per span, appended and flushed before the answer:
  traceId, spanId, parentSpanId (or null), traceState, name, kind, start, end (integers),
  attributes {key: value}, links [{traceId, spanId}], droppedLinksCount, status {code,
  message}, resource {key: value}, scope {name, version}, request (its number), headers
  (the request's headers, names lower-cased)

Control, under /_control/ (not recorded):
  POST /_control/mode    {"status": 503, "delay_ms": 0, "retry_after": null,
                          "rejected": 0} answers every later request with that status
                          (after delay_ms; with Retry-After when given; "rejected": N puts
                          partialSuccess.rejectedSpans N into a 200) -> the mode
  GET  /_control/stats   {"requests": N, "spans": N, "by_status": {"200": N}, "bad": [...]}
  GET  /_control/wait?spans=N&timeout=S   200 with the stats once N spans were recorded,
                          408 with them after S seconds (default 10)
"""
import argparse
import json
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HEX = re.compile(r"^[0-9a-f]+$")
lock = threading.Condition()
state = {"mode": {"status": 200, "delay_ms": 0, "retry_after": None, "rejected": 0},
         "requests": 0, "spans": 0, "by_status": {}, "bad": []}
log_file = None


def hex_id(v, n, what, problems, optional=False):
    if v is None or v == "":
        if not optional:
            problems.append("%s missing" % what)
        return None
    if not isinstance(v, str) or len(v) != n or not HEX.match(v) or set(v) == {"0"}:
        problems.append("%s %r is not %d lower-case hex digits (not all zero)" % (what, v, n))
        return None
    return v


def nanos(v, what, problems):
    if isinstance(v, str) and v.isdigit():
        return int(v)
    if isinstance(v, int) and v >= 0:
        return v
    problems.append("%s %r is not a decimal string" % (what, v))
    return 0


def attr_value(v, where, problems):
    if not isinstance(v, dict) or len(v) != 1:
        problems.append("%s: value %r is not one typed value" % (where, v))
        return None
    (kind, x), = v.items()
    if kind == "stringValue" and isinstance(x, str):
        return x
    if kind == "intValue" and (isinstance(x, int) or (isinstance(x, str) and re.match(r"^-?\d+$", x))):
        return int(x)
    if kind == "boolValue" and isinstance(x, bool):
        return x
    if kind == "doubleValue" and isinstance(x, (int, float)):
        return float(x)
    problems.append("%s: %s %r is not valid" % (where, kind, x))
    return None


def attributes(lst, where, problems):
    out = {}
    if lst is None:
        return out
    if not isinstance(lst, list):
        problems.append("%s: attributes is not a list" % where)
        return out
    for a in lst:
        if not isinstance(a, dict) or not isinstance(a.get("key"), str) or not a["key"]:
            problems.append("%s: attribute %r has no key" % (where, a))
            continue
        if a["key"] in out:
            problems.append("%s: attribute %s given twice" % (where, a["key"]))
        out[a["key"]] = attr_value(a.get("value"), "%s %s" % (where, a["key"]), problems)
    return out


def decode(doc, problems):
    """The spans of an ExportTraceServiceRequest, as records."""
    spans = []
    rss = doc.get("resourceSpans") if isinstance(doc, dict) else None
    if not isinstance(rss, list):
        problems.append("resourceSpans is not a list")
        return spans
    for rs in rss:
        resource = attributes((rs.get("resource") or {}).get("attributes"), "resource", problems)
        for ss in rs.get("scopeSpans") or []:
            scope = ss.get("scope") or {}
            for sp in ss.get("spans") or []:
                where = "span %s" % sp.get("spanId")
                rec = {
                    "traceId": hex_id(sp.get("traceId"), 32, where + " traceId", problems),
                    "spanId": hex_id(sp.get("spanId"), 16, where + " spanId", problems),
                    "parentSpanId": hex_id(sp.get("parentSpanId"), 16, where + " parentSpanId",
                                           problems, optional=True),
                    "traceState": sp.get("traceState"),
                    "name": sp.get("name"),
                    "kind": sp.get("kind"),
                    "start": nanos(sp.get("startTimeUnixNano"), where + " start", problems),
                    "end": nanos(sp.get("endTimeUnixNano"), where + " end", problems),
                    "attributes": attributes(sp.get("attributes"), where, problems),
                    "links": [],
                    "droppedLinksCount": sp.get("droppedLinksCount", 0),
                    "status": sp.get("status") or {},
                    "resource": resource,
                    "scope": {"name": scope.get("name"), "version": scope.get("version")},
                }
                if not isinstance(rec["name"], str) or not rec["name"]:
                    problems.append(where + ": no name")
                if not isinstance(rec["kind"], int) or not 0 <= rec["kind"] <= 5:
                    problems.append(where + ": kind %r" % rec["kind"])
                if rec["end"] < rec["start"]:
                    problems.append(where + ": ends before it starts")
                for ln in sp.get("links") or []:
                    rec["links"].append({
                        "traceId": hex_id(ln.get("traceId"), 32, where + " link traceId", problems),
                        "spanId": hex_id(ln.get("spanId"), 16, where + " link spanId", problems)})
                st = rec["status"]
                if st and st.get("code") not in (None, 0, 1, 2):
                    problems.append(where + ": status code %r" % st.get("code"))
                spans.append(rec)
    return spans


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def stats(self):
        return {k: state[k] for k in ("requests", "spans", "by_status", "bad")}

    def do_GET(self):
        u = urlparse(self.path)
        if u.path == "/_control/stats":
            with lock:
                return self.answer(200, self.stats())
        if u.path == "/_control/wait":
            q = parse_qs(u.query)
            want = int(q.get("spans", ["1"])[0])
            deadline = time.monotonic() + float(q.get("timeout", ["10"])[0])
            with lock:
                while state["spans"] < want and time.monotonic() < deadline:
                    lock.wait(deadline - time.monotonic())
                return self.answer(200 if state["spans"] >= want else 408, self.stats())
        self.answer(404, {"error": "not found"})

    def do_POST(self):
        u = urlparse(self.path)
        body = self.read_body()
        if u.path == "/_control/mode":
            with lock:
                state["mode"].update(json.loads(body or b"{}"))
                return self.answer(200, state["mode"])
        with lock:
            state["requests"] += 1
            req = state["requests"]
            mode = dict(state["mode"])
        if mode.get("delay_ms"):
            time.sleep(mode["delay_ms"] / 1000.0)
        problems = []
        if u.path != "/v1/traces":
            problems.append("path %s is not /v1/traces" % u.path)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/json":
            problems.append("Content-Type %r is not application/json" % ctype)
        spans = []
        try:
            spans = decode(json.loads(body), problems)
        except ValueError as e:
            problems.append("not JSON: %s" % e)
        status = 400 if problems else mode.get("status", 200)
        headers = {}
        if status != 200 and mode.get("retry_after") is not None and not problems:
            headers["Retry-After"] = str(mode["retry_after"])
        with lock:
            state["by_status"][str(status)] = state["by_status"].get(str(status), 0) + 1
            if problems:
                state["bad"].extend(problems[:20])
            elif status == 200:
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                for rec in spans:
                    rec["request"] = req
                    rec["headers"] = hdrs
                    if log_file:
                        log_file.write(json.dumps(rec) + "\n")
                if log_file:
                    log_file.flush()
                state["spans"] += len(spans)
            lock.notify_all()
        if status == 200:
            rejected = mode.get("rejected") or 0
            return self.answer(200, {"partialSuccess": {"rejectedSpans": str(rejected),
                                                        "errorMessage": "rejected by the test"}}
                               if rejected else {})
        self.answer(status, {"code": status, "message": "; ".join(problems) or "test mode"},
                    headers)


def main():
    global log_file
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log")
    args = ap.parse_args()
    if args.log:
        log_file = open(args.log, "a")
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    print("listening http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
