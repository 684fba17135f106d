#!/usr/bin/env bash
# hubfn start without APP hosts the folder $AzureWebJobsScriptRoot names (Azure's setting,
# set in the container image), else the current folder; an APP argument wins over both.
. "$(dirname "$0")/lib.sh"

app=$T/app
mkapp "$app" embedded orders many
mkdir -p "$T/elsewhere"

# start_in DIR LOG [VAR=VALUE...]: hubfn start --embedded --exit-on-eof without APP, run in
# DIR with the given environment (no AzureWebJobsScriptRoot unless given); sets rc
start_in() {
    local dir=$1 log=$2; shift 2
    (cd "$dir" && exec env -u AzureWebJobsScriptRoot "$@" timeout $((30 * SLOW)) \
        "$HUBFN" start --embedded --exit-on-eof --log-format text) >"$log.out" 2>"$log"
    rc=$?
}

# From another folder: the variable names the app; its local.settings.json names the hub.
start_in "$T/elsewhere" "$T/root.log" AzureWebJobsScriptRoot="$app"
check hosts-script-root "exit $rc: $(tail -3 "$T/root.log")" \
    grep -q "hosting 1 function from $app " "$T/root.log"
check reads-its-settings "$(grep -m1 'assigned partitions' "$T/root.log")" \
    grep -q "assigned partitions .* of hub orders" "$T/root.log"
check script-root-exits-0 "exit $rc: $(tail -3 "$T/root.log")" [ "$rc" = 0 ]

# APP wins over the variable.
(cd "$T/elsewhere" && AzureWebJobsScriptRoot=$T/missing timeout $((30 * SLOW)) \
    "$HUBFN" start "$app" --embedded --exit-on-eof --log-format text) >"$T/arg.log.out" 2>"$T/arg.log"
rc=$?
check app-argument-wins "exit $rc: $(tail -3 "$T/arg.log")" \
    bash -c '[ "$1" = 0 ] && grep -q "hosting 1 function from $2 " "$3"' _ "$rc" "$app" "$T/arg.log"

# Unset or empty: the current folder (logged as its absolute path).
here=$(cd "$app" && pwd -P)
start_in "$app" "$T/cwd.log"
check unset-hosts-current-folder "exit $rc: $(tail -3 "$T/cwd.log")" \
    bash -c '[ "$1" = 0 ] && grep -q "hosting 1 function from $2 " "$3"' _ "$rc" "$here" "$T/cwd.log"
start_in "$app" "$T/empty.log" AzureWebJobsScriptRoot=
check empty-hosts-current-folder "exit $rc: $(tail -3 "$T/empty.log")" \
    bash -c '[ "$1" = 0 ] && grep -q "hosting 1 function from $2 " "$3"' _ "$rc" "$here" "$T/empty.log"

# A variable naming no folder is a configuration error that names it.
start_in "$T/elsewhere" "$T/missing.log" AzureWebJobsScriptRoot="$T/missing"
check missing-script-root-exits-2 "exit $rc: $(tail -3 "$T/missing.log")" \
    bash -c '[ "$1" = 2 ] && grep -q "$2: no such folder" "$3"' _ "$rc" "$T/missing" "$T/missing.log"
