#!/usr/bin/env bash
# Installs kafkajs and undici for the benchmark peer forward.js outside the repository: copies
# package.json and package-lock.json into a cache directory and runs `npm ci` there.
# Idempotent: does nothing when the cached package-lock.json equals ours and both packages
# are there. Progress goes to stderr; the last line on stdout is the NODE_PATH to run
# forward.js with:
#   NODE_PATH=$(tests/bench/http-node/install.sh | tail -n 1) node tests/bench/http-node/forward.js ...
# Cache directory: ${HF_HTTP_NODE_CACHE:-~/.cache/hubfn/bench-http-node}.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${HF_HTTP_NODE_CACHE:-${HOME:-/root}/.cache/hubfn/bench-http-node}
if ! cmp -s "$here/package-lock.json" "$cache/package-lock.json" ||
    [ ! -f "$cache/node_modules/kafkajs/package.json" ] ||
    [ ! -f "$cache/node_modules/undici/package.json" ]; then
    if ! command -v npm >/dev/null && command -v apt-get >/dev/null; then
        echo "install.sh: installing Debian's nodejs and npm" >&2
        sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get update -qq >&2 &&
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >&2
    fi
    command -v npm >/dev/null || { echo "install.sh: npm not found (install Node.js)" >&2; exit 1; }
    mkdir -p "$cache"
    cp "$here/package.json" "$here/package-lock.json" "$cache/"
    (cd "$cache" && npm ci --no-audit --no-fund) >&2
fi
echo "$cache/node_modules"
