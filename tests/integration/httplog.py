#!/usr/bin/env python3
"""Check the request log of tests/tools/httpserver.py (one JSON object a line) for the http
binding's tests. Each subcommand prints one line of key=value figures (the tests grep
them and show them when a check fails) and exits 0 when the property holds, 1 when not.

Requests name their event by the body's "id" field (JSON bodies), or by the last path
segment when the body has none; `--prefix P` keeps only requests whose path starts with P.

  httplog.py delivered LOG N [--prefix P] [--ids FILE] [--others-allowed]
      every event id 1..N (or the ids of FILE, one a line) has a 2xx answer, and no other
      id has one (unless --others-allowed); prints requests, delivered (distinct ids of the
      set with a 2xx), missing, unexpected (other ids with a 2xx)
  httplog.py windows LOG [--slack S]
      no request arrived while a Retry-After was in force: for each 429/503 answered at
      mono_done with Retry-After R (the rule's retry_after, read from the log's rule_name
      "ra:R" or "ra-date:R"), no request arrived in (mono_done + S, end - S), where end is
      mono_done + R for seconds, and the HTTP date's instant (ceil(t + R), epoch) for dates
  httplog.py keys LOG [--prefix P]
      every request of one (path, body) carries the same Idempotency-Key, and distinct
      (path, body) pairs carry distinct keys; prints pairs, repeated (pairs requested more
      than once), and the first problem
  httplog.py rate LOG RATE [--tolerance F] [--low-tolerance L]
      requests arrived at RATE per second within F (0.1): the mean rate from the first
      arrival to the last, (requests - 1) / duration, is at most RATE * (1 + F) and at
      least RATE * (1 - L) (L defaults to F; a busy machine can only make it slower, so a
      test may allow more below than above), and no 2-second window (starting at any
      arrival) holds more than 2 * RATE * (1 + F)
"""
import json
import math
import sys


def load(path, prefix=None):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if prefix and not r["path"].startswith(prefix):
                continue
            out.append(r)
    return out


def event_id(r):
    try:
        b = json.loads(r.get("body") or "null")
        if isinstance(b, dict) and "id" in b:
            return b["id"]
    except ValueError:
        pass
    return r["path"].rstrip("/").rsplit("/", 1)[-1]


def opt(args, name, default=None):
    if name in args:
        i = args.index(name)
        v = args[i + 1]
        del args[i:i + 2]
        return v
    return default


def delivered(args):
    prefix = opt(args, "--prefix")
    ids_arg = opt(args, "--ids")
    others = "--others-allowed" in args
    args = [a for a in args if a != "--others-allowed"]
    log, n = args[0], int(args[1])
    if ids_arg:
        want = {int(x) for x in open(ids_arg).read().split()}
    else:
        want = set(range(1, n + 1))
    rs = load(log, prefix)
    ok = set()
    for r in rs:
        if r.get("status") is not None and 200 <= r["status"] < 300:
            ok.add(int(event_id(r)))
    missing = sorted(want - ok)
    extra = sorted(ok - want)
    print(f"requests={len(rs)} delivered={len(ok & want)} missing={len(missing)} "
          f"unexpected={len(extra)}" + (f" first_missing={missing[:5]}" if missing else ""))
    return not missing and (others or not extra)


def windows(args):
    slack = float(opt(args, "--slack", "0.05"))
    rs = load(args[0])
    blocks = []
    for r in rs:
        name = r.get("rule_name") or ""
        if r.get("status") not in (429, 503) or not name.startswith("ra"):
            continue
        kind, _, secs = name.partition(":")
        secs = float(secs)
        if kind == "ra-date":
            # the header said ceil(now + R) as an HTTP date, "now" being between the
            # request's arrival and its answer: the window ends no earlier than ceil(t + R)
            end = r["mono_done"] + (math.ceil(r["t"] + secs) - r["t_done"])
        else:
            end = r["mono_done"] + secs
        blocks.append((r["mono_done"], end, r["id"], name))
    bad = []
    for start, end, rid, name in blocks:
        for r in rs:
            if start + slack < r["mono"] < end - slack:
                bad.append(f"request {r['id']} arrived {r['mono'] - start:.3f} s after "
                           f"the {name} of request {rid} (window {end - start:.3f} s)")
    print(f"requests={len(rs)} windows={len(blocks)} inside={len(bad)}" +
          (f" first: {bad[0]}" if bad else ""))
    return not bad


def keys(args):
    prefix = opt(args, "--prefix")
    rs = load(args[0], prefix)
    by_req, by_key = {}, {}
    problem = None
    for r in rs:
        what = (r["path"], r.get("body"))
        key = r["headers"].get("idempotency-key")
        if key is None:
            problem = problem or f"request {r['id']} {r['path']} has no Idempotency-Key"
            continue
        by_req.setdefault(what, set()).add(key)
        by_key.setdefault(key, set()).add(what)
    counts = {}
    for r in rs:
        w = (r["path"], r.get("body"))
        counts[w] = counts.get(w, 0) + 1
    repeated = sum(1 for c in counts.values() if c > 1)
    for what, ks in by_req.items():
        if len(ks) > 1:
            problem = problem or f"{what[0]} was sent with {len(ks)} keys: {sorted(ks)[:3]}"
    for key, ws in by_key.items():
        if len(ws) > 1:
            problem = problem or f"key {key} was used for {len(ws)} requests: {sorted(ws)[:2]}"
    print(f"requests={len(rs)} pairs={len(by_req)} repeated={repeated}" +
          (f" problem: {problem}" if problem else ""))
    return problem is None


def rate(args):
    tol = float(opt(args, "--tolerance", "0.1"))
    low = float(opt(args, "--low-tolerance", str(tol)))
    rs = load(args[0])
    want = float(args[1])
    ts = sorted(r["mono"] for r in rs)
    if len(ts) < 2:
        print(f"requests={len(ts)}")
        return False
    mean = (len(ts) - 1) / (ts[-1] - ts[0])
    worst, j = 0, 0
    for i, t in enumerate(ts):
        while j < len(ts) and ts[j] < t + 2.0:
            j += 1
        worst = max(worst, j - i)
    cap = 2 * want * (1 + tol)
    ok = want * (1 - low) <= mean <= want * (1 + tol) and worst <= cap
    print(f"requests={len(ts)} duration={ts[-1] - ts[0]:.2f} mean={mean:.2f}/s "
          f"max_in_2s={worst} (cap {cap:g})")
    return ok


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"delivered": delivered, "windows": windows, "keys": keys, "rate": rate}.get(cmd)
    if not fn:
        sys.exit(__doc__)
    sys.exit(0 if fn(args) else 1)


if __name__ == "__main__":
    main()
