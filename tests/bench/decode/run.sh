#!/usr/bin/env bash
# Decode benchmark: generates N realistic AEP payloads (gen_aep.py), builds bench.c
# against runtime/json.c, runtime/lua_lazy.c, runtime/activation.c, runtime/datetime.c and
# runtime/alloc.c, and prints events/s on one core for
#   naive   cJSON tree -> Lua tables -> handler reading ev.body...status
#   hubfn   activation view from the text + lazy body -> handler reading ev.activation
#   eager   hf_json_decode body + view from the body -> the same handler
# with the ratios. Times are CPU time of the benchmark thread, best of ROUNDS rounds that
# alternate between the paths (robust on a shared machine).
#   tests/bench/decode/run.sh [N] [ROUNDS]          defaults: 20000 payloads, 8 rounds
set -eu
cd "$(dirname "$0")/../../.."
n=${1:-20000}
rounds=${2:-8}
tmp=${TMPDIR:-/tmp}/hubfn-bench-decode
mkdir -p "$tmp"
python3 tests/bench/decode/gen_aep.py "$n" > "$tmp/aep.jsonl"
${CC:-cc} -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -Iruntime \
    $(pkg-config --cflags lua5.4 libcjson) tests/bench/decode/bench.c runtime/json.c \
    runtime/lua_lazy.c runtime/activation.c runtime/datetime.c runtime/alloc.c \
    $(pkg-config --libs lua5.4 libcjson) -lm \
    -o "$tmp/bench"
"$tmp/bench" "$tmp/aep.jsonl" "$rounds" 100 all
