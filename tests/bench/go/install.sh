#!/usr/bin/env bash
# Builds the Go benchmark peers (franzgo, gopherlua; see consume.sh) outside the repository:
# modules from the Go module proxy at the versions in go.mod/go.sum (verified against
# go.sum), binaries in ${HF_BENCH_GO_CACHE:-~/.cache/hubfn/bench-go}. go build is
# incremental, so a later run only relinks when something changed. Progress goes to stderr;
# the last line on stdout is the directory holding the binaries.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${HF_BENCH_GO_CACHE:-${HOME:-/root}/.cache/hubfn/bench-go}
command -v go >/dev/null || { echo "install.sh: go not found (install Go 1.26 or newer)" >&2; exit 1; }
mkdir -p "$cache"
cd "$here"
export GOFLAGS=-mod=mod
go mod download >&2
go build -trimpath -o "$cache/" ./franzgo ./gopherlua >&2
echo "$cache"
