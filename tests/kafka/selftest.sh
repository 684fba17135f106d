#!/usr/bin/env bash
# Checks tests/kafka/broker.sh end to end (by hand; tests/run.sh does not run it): start, topics,
# plaintext produce, SASL_SSL consume as the root policy and with only SSL_CERT_FILE, a listen-only
# policy (consumes, cannot produce), a wrong key, restart keeping data and policies, stop.
# It starts and stops the broker, so do not run it while a test suite uses the same HF_KAFKA_DIR.
# Prints "ok - ..." / "not ok - ..." lines; exit 1 if any check failed.
set -u
B=$(cd "$(dirname "$0")" && pwd)/broker.sh
failed=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; failed=1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
quiet() { "$@" >/dev/null; }

"$B" stop >/dev/null 2>&1
t0=$SECONDS
if ! "$B" start >/dev/null; then bad "start"; exit 1; fi
ok "start ($((SECONDS - t0))s)"
# shellcheck source=/dev/null
. "${HF_KAFKA_DIR:-/tmp/hubfn-kafka}/env"

check "topic st-hub 4, st-other 1" "$B" topic st-hub 4 st-other 1
check "st-hub has 4 partitions" bash -c "kcat -b $HF_KAFKA_PLAIN -L -t st-hub | grep -q 'with 4 partitions'"
for i in $(seq 1 40); do echo "k$i:{\"n\":$i}"; done | kcat -b "$HF_KAFKA_PLAIN" -P -t st-hub -K:
check "produce on plaintext" [ $? = 0 ]
# shellcheck disable=SC2086  # KCAT_SASL is a list of words
n=$(kcat -b "$HF_KAFKA_SASL" $KCAT_SASL -C -t st-hub -e -q | wc -l)
check "consume on SASL_SSL as RootManageSharedAccessKey ($n)" [ "$n" = 40 ]
sasl=(-X security.protocol=SASL_SSL -X sasl.mechanisms=PLAIN -X 'sasl.username=$ConnectionString')
n=$(kcat -b "$HF_KAFKA_SASL" "${sasl[@]}" -X "sasl.password=$HF_EH_CONN" -C -t st-hub -e -q | wc -l)
check "TLS verified through SSL_CERT_FILE alone ($n)" [ "$n" = 40 ]

conn=$("$B" policy st-listen 'St+key/1=' listen --topic st-hub)
check "policy st-listen (listen on st-hub)" [ -n "$conn" ]
L=("${sasl[@]}" -X "sasl.password=$conn")
n=$(kcat -b "$HF_KAFKA_SASL" "${L[@]}" -C -t st-hub -e -q | wc -l)
check "listen policy consumes ($n)" [ "$n" = 40 ]
n=$(timeout 30 kcat -b "$HF_KAFKA_SASL" "${L[@]}" -G st-group st-hub -X auto.offset.reset=earliest -e -q | wc -l)
check "listen policy consumes in a group ($n)" [ "$n" = 40 ]
err=$(echo x | kcat -b "$HF_KAFKA_SASL" "${L[@]}" -P -t st-hub 2>&1)
check "listen policy cannot produce" grep -q 'Topic authorization failed' <<<"$err"
err=$(kcat -b "$HF_KAFKA_SASL" "${L[@]}" -C -t st-other -e -q 2>&1)
check "listen policy cannot read another hub" grep -q 'authorization failed' <<<"$err"
err=$(kcat -b "$HF_KAFKA_SASL" "${sasl[@]}" -X "sasl.password=${HF_EH_CONN%=}Q=" -L -m 3 2>&1)
check "wrong key fails authentication" grep -q 'SASL authentication error' <<<"$err"
err=$(kcat -b "$HF_KAFKA_SASL" -X security.protocol=SASL_SSL -X sasl.mechanisms=PLAIN \
      -X sasl.username=admin -X "sasl.password=$HF_EH_CONN" -L -m 3 2>&1)
check "username other than \$ConnectionString fails" grep -q 'SASL authentication error' <<<"$err"

check "restart" quiet "$B" restart 1
n=$(kcat -b "$HF_KAFKA_SASL" "${L[@]}" -C -t st-hub -e -q | wc -l)
check "restart keeps data, policies and ACLs ($n)" [ "$n" = 40 ]
check "stop" "$B" stop
check "status says not running" bash -c "! '$B' status >/dev/null"
exit $failed
