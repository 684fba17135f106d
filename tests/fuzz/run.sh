#!/usr/bin/env bash
# Builds the libFuzzer target (decode + activation view + re-encode) with clang-14 and
# ASan/UBSan, and runs it for SECONDS (default 30) on a copy of the seed corpus, so the
# committed corpus stays small. Exit status is libFuzzer's: non-zero when it found a crash
# or a broken invariant (the input is saved under $OUT, default /tmp/hubfn-fuzz).
#   tests/fuzz/run.sh [SECONDS]
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-30}
out=${OUT:-/tmp/hubfn-fuzz}
cc=${FUZZ_CC:-clang-14}
if ! command -v "$cc" >/dev/null 2>&1 || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    echo "installing clang-14 and libclang-rt-14-dev"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null
fi
mkdir -p "$out/corpus" "$out/artifacts"
cp -n tests/fuzz/corpus/decode/* "$out/corpus/" 2>/dev/null || true
"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Iruntime $(pkg-config --cflags lua5.4) \
    tests/fuzz/fuzz_decode.c runtime/json.c runtime/activation.c \
    $(pkg-config --libs lua5.4) -lm -o "$out/fuzz_decode"
echo "fuzzing decode + activation view for ${secs}s (corpus $out/corpus)"
exec "$out/fuzz_decode" -max_total_time="$secs" -max_len=16384 -timeout=10 \
    -rss_limit_mb=2048 -dict=tests/fuzz/json.dict -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/" "$out/corpus"
