#!/usr/bin/env python3
"""Read a Prometheus text-format (0.0.4) scrape, as the tests need it.

  prom.py FILE check                 validate the format; print "ok" or the first problem
  prom.py FILE get NAME [L=V ...]    sum of the samples named NAME whose labels match
"""
import math
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse(path):
    """[(name, {label: value}, float)], {family: type}, problems."""
    samples, types, helps, problems = [], {}, set(), []
    for n, line in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        if not line:
            continue
        if line.startswith("# HELP "):
            helps.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, fam, typ = line.split(" ", 3)
            if fam in types:
                problems.append("line %d: TYPE of %s given twice" % (n, fam))
            types[fam] = typ
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append("line %d: not a sample: %r" % (n, line))
            continue
        labels, rest = {}, m.group(3) or ""
        while rest:
            lm = LABEL.match(rest)
            if not lm:
                problems.append("line %d: bad labels: %r" % (n, line))
                break
            labels[lm.group(1)] = re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), lm.group(2))
            rest = rest[lm.end():]
        try:
            value = float(m.group(4))
        except ValueError:
            problems.append("line %d: bad value %r" % (n, m.group(4)))
            continue
        samples.append((m.group(1), labels, value))
    return samples, types, helps, problems


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
            return name[: -len(suffix)]
    return name


def check(path):
    samples, types, helps, problems = parse(path)
    for name, labels, value in samples:
        fam = family_of(name, types)
        if fam not in types or fam not in helps:
            problems.append("%s has no TYPE or HELP" % name)
        if not fam.startswith(("hubfn_", "process_")):
            problems.append("%s lacks the hubfn_ (or process_) prefix" % name)
        if types.get(fam) == "counter" and not name.endswith("_total"):
            problems.append("counter %s does not end in _total" % name)
    # histograms: buckets cumulative, ending in +Inf equal to _count
    series = {}
    for name, labels, value in samples:
        fam = family_of(name, types)
        if types.get(fam) != "histogram":
            continue
        key = (fam, tuple(sorted((k, v) for k, v in labels.items() if k != "le")))
        h = series.setdefault(key, {"buckets": [], "count": None, "sum": None})
        if name.endswith("_bucket"):
            h["buckets"].append((float(labels["le"]), value))
        elif name.endswith("_count"):
            h["count"] = value
        else:
            h["sum"] = value
    for key, h in series.items():
        b = h["buckets"]
        if not b or b[-1][0] != math.inf:
            problems.append("%s: no +Inf bucket" % (key,))
            continue
        if any(b[i][0] >= b[i + 1][0] or b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            problems.append("%s: buckets not ascending and cumulative" % (key,))
        if h["count"] != b[-1][1] or h["sum"] is None:
            problems.append("%s: _count differs from the +Inf bucket, or no _sum" % (key,))
    print(problems[0] if problems else "ok")


def get(path, name, wanted):
    samples, _, _, _ = parse(path)
    want = dict(w.split("=", 1) for w in wanted)
    total = sum(v for n, labels, v in samples
                if n == name and all(labels.get(k) == x for k, x in want.items()))
    print(int(total) if total == int(total) else total)


if __name__ == "__main__":
    if sys.argv[2] == "check":
        check(sys.argv[1])
    else:
        get(sys.argv[1], sys.argv[3], sys.argv[4:])
