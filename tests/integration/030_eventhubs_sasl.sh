#!/usr/bin/env bash
# The Event Hubs connection-string path end to end: SASL_SSL, PLAIN, user $ConnectionString,
# TLS verified against the harness's CA. A wrong key fails with one line naming the
# namespace and the policy, and no key is ever printed.
. "$(dirname "$0")/lib.sh"
need_kafka

hub=sasl-$$
topic "$hub" 2
gen_events "$T/events" 200 8
produce "$HF_KAFKA_PLAIN" "$hub" "$T/events"

mkapp "$T/app" "$HF_EH_CONN" "$hub" many
timeout $((60 * SLOW)) "$HUBFN" start "$T/app" --exit-on-eof --log-format text 2>"$T/ok.log"
rc=$?
check connection-string-works "exit $rc: $(tail -2 "$T/ok.log")" [ "$rc" = 0 ]
stats=$(python3 "$TOP/tests/integration/verify.py" 200 "$T/app/rec.out")
check connection-string-consumes "$stats" [ "$stats" = "seen=200 unique=200 missing=0 dups=0 disorder=0" ]
check key-not-logged "the SharedAccessKey appears in the log" bash -c "! grep -qF -- '$HF_EH_KEY' '$T/ok.log'"

# Same app, wrong key.
wrong=${HF_EH_CONN/SharedAccessKey=$HF_EH_KEY/SharedAccessKey=WrongKey0123456789abcdef=}
mkapp "$T/bad" "$wrong" "$hub" many
timeout $((60 * SLOW)) "$HUBFN" start "$T/bad" --exit-on-eof --log-format text 2>"$T/bad.log"
rc=$?
check wrong-key-fails "exit $rc" [ "$rc" -ne 0 -a "$rc" -ne 124 ]
errors=$(grep -c ' error ' "$T/bad.log")
check wrong-key-one-line "$errors error lines: $(cat "$T/bad.log")" [ "$errors" = 1 ]
check wrong-key-names-namespace-and-policy "$(grep ' error ' "$T/bad.log")" \
    grep -q "namespace localhost refused policy RootManageSharedAccessKey" "$T/bad.log"
check wrong-key-not-logged "the wrong key appears in the log" \
    bash -c "! grep -q WrongKey0123456789abcdef '$T/bad.log'"
check wrong-key-processes-nothing "events were processed" [ "$(lines "$T/bad/rec.out")" = 0 ]
