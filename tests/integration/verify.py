#!/usr/bin/env python3
"""Count what a test run's handlers recorded.

usage: verify.py N REC_FILE [REC_FILE...]
Each REC_FILE holds "partition offset id" lines, one per event a handler saw, in the order it
saw them (one file per host run). Prints one line of key=value figures:
  seen unique missing dups disorder
where disorder counts, within each file, events of a partition seen after a higher offset of
the same partition (per-partition order violations).
"""
import sys


def main():
    n = int(sys.argv[1])
    seen = 0
    counts = {}
    disorder = 0
    for path in sys.argv[2:]:
        last = {}
        try:
            lines = open(path).read().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            parts = line.split()
            if len(parts) != 3:
                continue
            p, off, ident = int(parts[0]), int(parts[1]), parts[2]
            seen += 1
            counts[ident] = counts.get(ident, 0) + 1
            if p in last and off <= last[p]:
                disorder += 1
            last[p] = off
    expected = {str(i) for i in range(1, n + 1)}
    missing = len(expected - set(counts))
    dups = sum(c - 1 for c in counts.values())
    print(f"seen={seen} unique={len(counts)} missing={missing} dups={dups} disorder={disorder}")


main()
