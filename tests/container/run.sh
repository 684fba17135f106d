#!/usr/bin/env bash
# make test-container: proves ./Dockerfile without a container engine. It builds both of
# its stages (tests/container/image.py) into a Debian root filesystem made with
# `debootstrap --variant=minbase` (the stand-in for debian:SUITE-slim), then runs the image
# in a chroot the way `docker run` would: its USER, WORKDIR, ENV, ENTRYPOINT and CMD, a
# read-only root with a tmpfs /tmp, the host's network. Everything it checks comes from the
# Dockerfile (packages, user, command, health check): nothing is written down twice.
#
# Checks: the build stage compiles hubfn; the runtime stage holds its packages and no
# compiler; every library hubfn links resolves in it; the app is in /home/site/wwwroot,
# without local.settings.json, owned by root; hubfn runs as the numeric non-root user and
# as PID 1 of its own PID namespace, takes its whole configuration from the environment
# (app settings, AzureFunctionsJobHost__ overrides), runs `hubfn run` on sample events,
# hosts the bundled app on its embedded broker (the host's kcat feeds the input hubs and
# reads the output hubs), answers the HEALTHCHECK, drains and exits 0 on SIGTERM; and
# examples/deploy/*.yaml agree with the image, the app and docs/operations.md, and hold
# what a deployment on Event Hubs needs (tests/container/manifests.py).
#
# Cache: ${HF_CONTAINER_CACHE:-~/.cache/hubfn}/rootfs-SUITE (the debootstrapped base, made
# once: about a minute with a near mirror) and layers/ (each stage's package layer, made
# again when the instructions before the stage's first COPY change). Later runs take about
# 20 s. Needs root (chroot, mounts), debootstrap (installed when missing), kcat, python3.
# Prints "ok - container/NAME" / "not ok - container/NAME: why", then "N passed, N failed".
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$TOP/tests/container
IMAGE_PY=$HERE/image.py
CACHE=${HF_CONTAINER_CACHE:-${HOME:-/root}/.cache/hubfn}
passed=0 failed=0 skipped=0

ok() { echo "ok - container/$1"; passed=$((passed + 1)); }
fail() { echo "not ok - container/$1: $2"; failed=$((failed + 1)); }
skip() { echo "ok - container/$1 # SKIP $2"; skipped=$((skipped + 1)); }
check() {  # check NAME WHY CMD...: ok when CMD succeeds
    local name=$1 why=$2; shift 2
    if "$@"; then ok "$name"; else fail "$name" "$why"; fi
}
finish() {
    echo "$passed passed, $failed failed, $skipped skipped"
    [ "$failed" = 0 ]
    exit $?
}

# ------------------------------------------------------------------ outside the namespace
if [ -z "${HF_CONTAINER_NS:-}" ]; then
    start_all=$(date +%s)
    if [ "$(id -u)" != 0 ]; then
        fail prerequisites "needs root (chroot, mount, mknod)"
        finish
    fi
    for tool in python3 kcat unshare chroot; do
        command -v "$tool" >/dev/null || { fail prerequisites "$tool is missing (make deps)"; finish; }
    done
    if ! command -v debootstrap >/dev/null; then
        echo "# installing debootstrap"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } \
            >/dev/null 2>&1 || { fail prerequisites "cannot install debootstrap"; finish; }
    fi
    suite=$(python3 "$IMAGE_PY" base-suite "$TOP/Dockerfile") || { fail dockerfile "cannot read $TOP/Dockerfile"; finish; }
    mkdir -p "$CACHE"
    exec 9>"$CACHE/container.lock"
    flock 9    # one run at a time builds or uses the cache

    # The mirror this machine's apt uses (the first deb822 URIs or sources.list line for
    # SUITE), else Debian's; security updates likewise.
    mirror_for() {  # mirror_for SUITE DEFAULT
        local m
        m=$(awk -v s="$1" '
            /^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) { print u; exit } }
            /^deb / { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i+1) == s) { print $i; exit } } }
        ' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -1)
        echo "${m:-$2}"
    }
    base=$CACHE/rootfs-$suite
    recipe=r2    # bump when the base recipe below changes: older bases are made again
    if [ -d "$base" ] && ! grep -q -- "-$recipe-" "$base.id" 2>/dev/null; then
        echo "# $base was made by an older recipe: making it again"
        rm -rf --one-file-system "$base" "$CACHE/layers"
    fi
    if [ ! -d "$base" ]; then
        mirror=$(mirror_for "$suite" http://deb.debian.org/debian)
        security=$(mirror_for "$suite-security" http://deb.debian.org/debian-security)
        echo "# debootstrap --variant=minbase $suite from $mirror into $base (once; a few minutes)"
        t0=$(date +%s)
        tmp=$base.tmp
        rm -rf --one-file-system "$tmp"
        if ! debootstrap --variant=minbase "$suite" "$tmp" "$mirror" >"$CACHE/debootstrap.log" 2>&1; then
            fail base-rootfs "debootstrap failed: $(tail -3 "$CACHE/debootstrap.log" | tr '\n' ' ')"
            finish
        fi
        # Make it look like the debian:SUITE-slim image: deb822 sources with updates and
        # security, docs and man pages left out of later installs, apt's docker-clean (no
        # .deb or cache files kept), no package lists (so a Dockerfile that forgets
        # apt-get update fails here as it would under Docker).
        rm -f "$tmp/etc/apt/sources.list"
        cat >"$tmp/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        cat >"$tmp/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
        cat >"$tmp/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
        echo 'Acquire::Languages "none";' >"$tmp/etc/apt/apt.conf.d/docker-no-languages"
        rm -rf "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/cache/apt/*.bin
        : >"$tmp/etc/resolv.conf"
        echo "$suite-minbase-$recipe-$(date -u +%Y%m%dT%H%M%SZ)" >"$base.id"
        mv "$tmp" "$base"
        ok "base-rootfs # debootstrap minbase $suite: $(( $(date +%s) - t0 )) s"
    else
        ok "base-rootfs # cached: $base"
    fi
    HF_CONTAINER_NS=1 HF_CONTAINER_START=$start_all HF_CONTAINER_BASE=$base \
        HF_CONTAINER_PASSED=$passed HF_CONTAINER_FAILED=$failed \
        exec unshare --mount --propagation private "$0" "$@"
fi

# ------------------------------------------------- inside a private mount namespace
# Every mount below disappears with this namespace, whatever way the script ends.
passed=${HF_CONTAINER_PASSED:-0} failed=${HF_CONTAINER_FAILED:-0}
base=$HF_CONTAINER_BASE
T=$(mktemp -d /tmp/hubfn-container.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    # unmount before removing, so that nothing is removed through a mount
    awk -v t="$T" '$5 == t || index($5, t "/") == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m"; done
    if ! awk -v t="$T" 'index($5, t) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        rm -rf --one-file-system "$T"
    fi
}
trap cleanup EXIT

t0=$(date +%s)
if ! python3 "$IMAGE_PY" build --dockerfile "$TOP/Dockerfile" --context "$TOP" --base "$base" \
        --cache "$CACHE" --work "$T" >"$T/build.log" 2>&1; then
    fail image-builds "$(grep -v '^#' "$T/build.log" | tail -5 | tr '\n' ' ')"
    sed 's/^/    /' "$T/build.log" | tail -20
    finish
fi
build_s=$(( $(date +%s) - t0 ))
grep '^#' "$T/build.log"
IMG=$T/image.json
jq_() {  # jq_ KEY...: a field of image.json (lists joined by spaces)
    python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[int(k)] if isinstance(v, list) else v.get(k)
print(" ".join(v) if isinstance(v, list) else ("" if v is None else v))' "$IMG" "$@"
}
layers=$(python3 -c '
import json, sys
print(", ".join(l["stage"] + (" cached" if l["cached"] else " built in %s s" % l["seconds"])
                for l in json.load(open(sys.argv[1]))["layers"]))' "$IMG")
ok "image-builds # both stages in $build_s s (package layers: $layers)"
ROOT=$(jq_ root)
USER_SPEC=$(jq_ user)
# cexec [-e K=V]... [--raw|--healthcheck] -- ARGS...: `docker run [-e K=V] IMAGE ARGS`
# (image.py exec: the image's user, workdir and environment, its read-only root)
cexec() { python3 "$IMAGE_PY" exec "$IMG" "$@"; }

# --- what the runtime stage holds -----------------------------------------------------
pkgs=$(jq_ packages)
echo "# runtime packages (from the Dockerfile): $pkgs"
missing=""
for p in $pkgs; do
    chroot "$ROOT" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
check runtime-packages-installed "not installed:$missing" [ -n "$pkgs" -a -z "$missing" ]
build_only=$(chroot "$ROOT" dpkg-query -W -f='${Package}\n' 2>/dev/null |
    grep -E '^(gcc|gcc-[0-9]+|cpp|make|pkg-config|pkgconf|libc6-dev|binutils|.*-dev)$' | tr '\n' ' ')
check runtime-has-no-build-tools "installed: $build_only" [ -z "$build_only" ]
bin=$(chroot "$ROOT" sh -c 'command -v hubfn')
check hubfn-on-path "ENTRYPOINT $(jq_ entrypoint) not found on PATH" [ -n "$bin" ]
ldd_out=$(chroot "$ROOT" ldd "${bin:-/usr/local/bin/hubfn}" 2>&1)
echo "$ldd_out" | sed 's/^/#   /'
check libraries-resolve "$(echo "$ldd_out" | grep -i 'not found' | tr '\n' ' ')" \
    bash -c '[ -n "$1" ] && ! grep -qi "not found" <<<"$1"' _ "$ldd_out"

# --- user and app -----------------------------------------------------------------------
uid=$(cexec --raw -- id -u 2>&1)
check runs-as-non-root "USER $USER_SPEC runs as uid '$uid'" bash -c '[[ $1 =~ ^[0-9]+$ ]] && [ "$1" != 0 ]' _ "$uid"
check user-is-numeric "USER $USER_SPEC: Kubernetes' runAsNonRoot needs a numeric uid" \
    bash -c '[[ $1 =~ ^[0-9]+(:[0-9]+)?$ ]]' _ "$USER_SPEC"
check user-in-passwd "uid $uid has no /etc/passwd entry" \
    bash -c 'chroot "$1" getent passwd "$2" >/dev/null' _ "$ROOT" "$uid"
wwwroot=$(jq_ env AzureWebJobsScriptRoot)
check script-root "AzureWebJobsScriptRoot='$wwwroot', WORKDIR $(jq_ workdir)" \
    [ "$wwwroot" = /home/site/wwwroot -a -f "$ROOT$wwwroot/host.json" ]
check cmd-starts-script-root "CMD: $(jq_ cmd)" [ "$(jq_ cmd)" = "start $wwwroot" ]
check no-local-settings "$(cd "$ROOT$wwwroot" && find . -name local.settings.json)" \
    bash -c '[ -z "$(find "$1" -name local.settings.json)" ]' _ "$ROOT$wwwroot"
writable=$(find "$ROOT$wwwroot" \( ! -user 0 -o -perm /022 \) -printf '%P ')
check app-owned-by-root "owned by others or group/world-writable: $writable" [ -z "$writable" ]
port=$(jq_ env HUBFN_HTTP_PORT)
check http-port-exposed "ENV HUBFN_HTTP_PORT=$port, EXPOSE $(jq_ expose)" \
    bash -c '[ -n "$1" ] && [[ " $2 " == *" $1 "* || " $2 " == *" $1/tcp "* ]]' _ "$port" "$(jq_ expose)"
ver=$(cexec -- --version 2>&1)
check version "$ver" bash -c '[[ $1 == hubfn\ * ]]' _ "$ver"

# --- configuration from the environment only --------------------------------------------
# The bundled app names its hubs through app settings (%AEP_HUB%, %RUDDERSTACK_HUB%); the
# image has no local.settings.json, so without them it must refuse to start.
CMD=$(jq_ cmd)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=(-e HUBFN_HTTP_PORT="$(free_port)")   # not the image's 8080: this is the host's network
out=$(timeout 30 python3 "$IMAGE_PY" exec "$IMG" "${P[@]}" -- $CMD --embedded --exit-on-eof 2>&1)
rc=$?
check missing-setting-exits-2 "exit $rc: $out" bash -c '[ "$1" = 2 ] && grep -q "AEP_HUB" <<<"$2"' _ "$rc" "$out"
APPENV=("${P[@]}" -e AEP_HUB=aep-activations -e RUDDERSTACK_HUB=rudderstack-events -e HubConnection=embedded)
out=$(timeout 30 python3 "$IMAGE_PY" exec "$IMG" "${APPENV[@]}" \
    -e AzureFunctionsJobHost__extensions__eventHubs__maxEventBatchSize=ten -- $CMD --embedded --exit-on-eof 2>&1)
rc=$?
check bad-override-exits-2 "exit $rc: $out" \
    bash -c '[ "$1" = 2 ] && grep -qi "AzureFunctionsJobHost__extensions__eventHubs__maxEventBatchSize" <<<"$2"' _ "$rc" "$out"
out=$(timeout 60 python3 "$IMAGE_PY" exec "$IMG" "${APPENV[@]}" \
    -e AzureFunctionsJobHost__functions__0=aep-router -- $CMD --embedded --exit-on-eof 2>&1)
rc=$?
check override-applies "exit $rc: $(tail -3 <<<"$out")" \
    bash -c '[ "$1" = 0 ] && grep -q "hosting 1 function" <<<"$2" && ! grep -q "function rudderstack-fanout" <<<"$2"' _ "$rc" "$out"

# `docker run -i IMAGE run FUNCTION --events -`: one function on events from stdin, no broker
python3 "$IMAGE_PY" exec "$IMG" -e AEP_HUB=aep-activations -- run "$wwwroot/aep-router" --events - \
    <"$TOP/functions/samples/aep-router.jsonl" >"$T/run.out" 2>"$T/run.err"
rc=$?
same=$(python3 -c '
import json, sys
rows = lambda f: [json.loads(l) for l in open(f) if l.strip()]
print("same" if rows(sys.argv[1]) == rows(sys.argv[2]) else "differs")' "$T/run.out" "$TOP/functions/samples/aep-router.expected.jsonl" 2>&1)
check run-subcommand "exit $rc, output $same: $(tail -2 "$T/run.err")" [ "$rc" = 0 -a "$same" = same ]

# --- the image hosts the app: events in, outputs out, health, SIGTERM drain ------------------
hport=$(free_port)
wait_for() {  # wait_for SECONDS CMD...
    local i=0 limit=$(( $1 * 5 )); shift
    until "$@" 2>/dev/null; do i=$((i + 1)); [ $i -ge $limit ] && return 1; sleep 0.2; done
}
# Docker runs ENTRYPOINT + CMD as PID 1 of its own PID namespace (so SIGTERM reaches it only
# through a handler of its own); --embedded stands in for the Event Hubs namespace.
unshare --pid --fork --mount-proc="$ROOT/proc" \
    python3 "$IMAGE_PY" exec "$IMG" "${APPENV[@]}" -e HUBFN_HTTP_PORT="$hport" \
    -- $CMD --embedded --partitions 2 >"$T/host.out" 2>"$T/host.log" 9>&- &
upid=$!
PIDS+=("$upid")
wait_for 10 pgrep -P "$upid" >/dev/null
hpid=$(pgrep -P "$upid" | head -1)
PIDS+=("${hpid:-$upid}")
nspid=$(awk '/^NSpid:/ { print $NF }' "/proc/${hpid:-0}/status" 2>/dev/null)
check runs-as-pid-1 "NSpid $nspid" [ "$nspid" = 1 ]
wait_for 30 grep -q "embedded broker listening at" "$T/host.log"
addr=$(sed -n 's/.*embedded broker listening at \([0-9.:]*\).*/\1/p' "$T/host.log" | head -1)
check starts-with-cmd "$(tail -3 "$T/host.log")" [ -n "$addr" ]
wait_for 20 grep -q "hosting 2 functions" "$T/host.log"
check hosts-both-functions "$(tail -3 "$T/host.log")" grep -q "hosting 2 functions from $wwwroot" "$T/host.log"
S=$TOP/functions/samples
if [ -n "$addr" ]; then
    kcat -P -b "$addr" -t aep-activations -l "$S/aep-router.jsonl" 2>>"$T/kcat.err"
    kcat -P -b "$addr" -t rudderstack-events -l "$S/rudderstack-fanout.jsonl" 2>>"$T/kcat.err"
fi
# read_outputs: every output hub's messages as JSON lines {hub, key, body}
read_outputs() {
    : >"$T/got.jsonl"
    for hub in crm-updates rs-tracks rs-identities rs-other; do
        kcat -C -b "$addr" -t "$hub" -o beginning -e -q -f "$hub\t%k\t%s\n" 2>/dev/null >>"$T/got.jsonl"
    done
    [ "$(cat "$S"/*.expected.jsonl | wc -l)" -le "$(wc -l <"$T/got.jsonl")" ]
}
[ -n "$addr" ] && wait_for 30 read_outputs
cmp_out=$(python3 - "$T/got.jsonl" "$S"/aep-router.expected.jsonl "$S"/rudderstack-fanout.expected.jsonl <<'EOF'
import json, sys
got = []
for line in open(sys.argv[1]):
    hub, key, body = line.rstrip("\n").split("\t", 2)
    try:
        body = json.loads(body)
    except ValueError:
        pass            # a raw string body (the handler forwarded undecodable text)
    got.append((hub, key, json.dumps(body, sort_keys=True)))
want = []
for f in sys.argv[2:]:
    for line in open(f):
        r = json.loads(line)
        want.append((r["eventHubName"], r.get("partitionKey") or "", json.dumps(r["body"], sort_keys=True)))
if sorted(got) == sorted(want):
    print("same")
else:
    print(f"got {len(got)} messages, want {len(want)}; missing {len(set(want) - set(got))}, unexpected {len(set(got) - set(want))}")
EOF
)
check processes-events "$cmp_out" [ "$cmp_out" = same ]

# HEALTHCHECK, as Docker runs it: the image's command, user and environment.
if grep -qa '/healthz' "$ROOT${bin:-/usr/local/bin/hubfn}"; then
    hc_out=$(timeout 10 python3 "$IMAGE_PY" exec "$IMG" -e HUBFN_HTTP_PORT="$hport" --healthcheck -- 2>&1)
    rc=$?
    check healthcheck-healthy "exit $rc: $hc_out" [ "$rc" = 0 ]
else
    skip healthcheck-healthy "this hubfn has no /healthz yet"
fi

kill -TERM "${hpid:-$upid}" 2>/dev/null     # docker stop / Kubernetes: SIGTERM to PID 1
timeout 40 tail --pid="$upid" -f /dev/null || kill -9 "${hpid:-$upid}" 2>/dev/null
wait "$upid"    # unshare --fork exits with its child's status
rc=$?
check sigterm-drains-exits-0 "exit $rc: $(tail -3 "$T/host.log")" [ "$rc" = 0 ]
if grep -qa '/healthz' "$ROOT${bin:-/usr/local/bin/hubfn}"; then
    check healthcheck-unhealthy-when-down "the health check passed with nothing listening" \
        bash -c '! timeout 10 python3 "$1" exec "$2" -e HUBFN_HTTP_PORT="$3" --healthcheck -- 2>/dev/null' \
        _ "$IMAGE_PY" "$IMG" "$hport"
fi

# --- examples/deploy matches the image and its app ---------------------------------------
mout=$(python3 "$HERE/manifests.py" "$IMG" "$TOP/examples/deploy" "$ROOT$wwwroot" \
    "$TOP/docs/operations.md" 2>&1)
case $? in
    0) while read -r verdict name why; do
             case $verdict in
                 ok) ok "$name" ;;
                 fail) fail "${name%:}" "$why" ;;
             esac
         done <<<"$mout" ;;
    3) skip deploy-manifests "python3 has no yaml module" ;;
    *) fail deploy-manifests "$mout" ;;
esac
echo "# total $(( $(date +%s) - HF_CONTAINER_START )) s"
finish
