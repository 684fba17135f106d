#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 and ASan/UBSan and runs each for SECONDS
# (default 30) on a copy of its seed corpus, so the committed corpus stays small.
#   decode  JSON decode + activation view + re-encode (tests/fuzz/fuzz_decode.c)
#   config  connection strings, host.json, function.json, local.settings.json
#           (tests/fuzz/fuzz_config.c)
#   capture capture records read, written and read back (tests/fuzz/fuzz_capture.c)
#   script  handler.lua top levels and handler bodies, under functionTimeout and the
#           memory cap: every load and invocation must return (tests/fuzz/fuzz_script.c)
#   keys    host.json and function.json key sets, known keys and misspellings of them:
#           one-line errors and warnings, the same outcome twice, a misspelt key that
#           shapes what the handler receives never loads (tests/fuzz/fuzz_keys.c)
# Exit status is non-zero when a target found a crash or a broken invariant; the input is
# saved under $OUT (default /tmp/hubfn-fuzz)/TARGET/artifacts.
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode config capture script keys)
out=${OUT:-/tmp/hubfn-fuzz}
cc=${FUZZ_CC:-clang-14}
if ! command -v "$cc" >/dev/null 2>&1 || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    echo "installing clang-14 and libclang-rt-14-dev"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null
fi
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iruntime
       -DHF_VERSION='"fuzz"')
pkgs="lua5.4 rdkafka libcjson libcurl"
lib_src=()
for f in runtime/*.c bindings/*.c commands/*.c; do
    [ "$f" = commands/main.c ] || lib_src+=("$f")
done
for t in "${targets[@]}"; do
    mkdir -p "$out/$t/corpus" "$out/$t/artifacts"
    cp -n tests/fuzz/corpus/"$t"/* "$out/$t/corpus/" 2>/dev/null || true
    case "$t" in
        decode)
            "$cc" "${flags[@]}" $(pkg-config --cflags lua5.4) tests/fuzz/fuzz_decode.c \
                runtime/json.c runtime/lua_lazy.c runtime/activation.c runtime/datetime.c \
                runtime/alloc.c \
                $(pkg-config --libs lua5.4) -lm -o "$out/$t/fuzz"
            extra=(-max_len=16384 -dict=tests/fuzz/json.dict) ;;
        config)
            # the loader reaches every binding type through the registry: the whole library
            "$cc" "${flags[@]}" -Ibindings -Icommands $(pkg-config --cflags $pkgs) \
                tests/fuzz/fuzz_config.c "${lib_src[@]}" $(pkg-config --libs $pkgs) -lev -lm \
                -lpthread -o "$out/$t/fuzz"
            extra=(-max_len=8192 -dict=tests/fuzz/json.dict) ;;
        capture)
            "$cc" "${flags[@]}" -Icommands $(pkg-config --cflags lua5.4) tests/fuzz/fuzz_capture.c \
                commands/capture_record.c runtime/jsonlex.c runtime/json.c runtime/lua_lazy.c \
                runtime/base64.c runtime/datetime.c runtime/alloc.c \
                $(pkg-config --libs lua5.4) -lm -o "$out/$t/fuzz"
            extra=(-max_len=4096 -dict=tests/fuzz/json.dict) ;;
        keys)
            "$cc" "${flags[@]}" -Ibindings -Icommands $(pkg-config --cflags $pkgs) \
                tests/fuzz/fuzz_keys.c "${lib_src[@]}" $(pkg-config --libs $pkgs) -lev -lm \
                -lpthread -o "$out/$t/fuzz"
            extra=(-max_len=512) ;;
        script)
            # the Lua host reaches the output binding types: the whole library too
            "$cc" "${flags[@]}" -Ibindings -Icommands $(pkg-config --cflags $pkgs) \
                tests/fuzz/fuzz_script.c "${lib_src[@]}" $(pkg-config --libs $pkgs) -lev -lm \
                -lpthread -o "$out/$t/fuzz"
            extra=(-max_len=4096 -dict=tests/fuzz/lua.dict) ;;
        *) echo "unknown fuzz target $t (decode, config, capture, script, keys)" >&2; exit 2 ;;
    esac
    echo "fuzzing $t for ${secs}s (corpus $out/$t/corpus)"
    "$out/$t/fuzz" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/$t/artifacts/" "${extra[@]}" \
        "$out/$t/corpus" 2>"$out/$t/log" || { tail -40 "$out/$t/log"; exit 1; }
    grep -E '^stat::number_of_executed_units' "$out/$t/log" | sed "s/^/$t: /"
done
