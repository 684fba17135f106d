/*
 * What every Kafka client of hubfn shares (the trigger's consumer, the output producers,
 * `hubfn send`): the librdkafka configuration of a connection (its security settings, Event
 * Hubs' recommended client settings, then host.json extensions.kafka), and one way of saying
 * what a Kafka error means for the person who configured the connection.
 */
#ifndef HF_KAFKA_H
#define HF_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "app.h"

typedef struct hf_kafka_conf {
    rd_kafka_conf_t *conf;
    char *err;
    size_t errsz;
    const char *origin;          /* for messages: where the property came from, or NULL */
} hf_kafka_conf_t;

/* Set one property; -1 with "KEY: librdkafka's reason" in kc->err. */
int hf_kafka_conf_set(hf_kafka_conf_t *kc, const char *key, const char *value);
/* Connection (bootstrap, SASL/TLS) and Event Hubs' recommended settings. */
int hf_kafka_conf_common(hf_kafka_conf_t *kc, const hf_conn_t *conn);
/* What the host's producers (eventHub outputs, eventHubState) share, after the common
   settings: idempotent (an outage of seconds neither loses, reorders nor duplicates what was
   produced), acks=all, lingering 5 ms, messages up to MAX_MESSAGE_BYTES, retried for 5
   minutes. */
int hf_kafka_conf_producer(hf_kafka_conf_t *kc, const hf_conn_t *conn, int max_message_bytes);
/* host.json extensions.kafka, applied last so users can override anything. */
int hf_kafka_conf_user(hf_kafka_conf_t *kc, const hf_host_cfg_t *cfg);

/* Check host.json extensions.kafka as librdkafka would take it: the first property it
   refuses gives its name in *bad and librdkafka's reason in why; -1. 0 when all pass. */
int hf_kafka_check_props(const hf_strings_t *props, const char **bad, char *why, size_t whysz);

/* What a client was doing when an error came: which connection, hub and group, and whether
   it reads (Listen rights) or sends (Send rights). */
typedef struct hf_kafka_target {
    const hf_conn_t *conn;       /* NULL: unknown */
    const char *hub;             /* NULL: none in particular */
    const char *group;           /* the consumer group, or NULL */
    int sends;                   /* 1 producing (Send rights), 0 consuming (Listen rights) */
} hf_kafka_target_t;

/* One line saying what err means for the person who set the connection up: the namespace,
   the policy, the hub and the right it lacks, or the credentials to check, and the setting
   that holds the connection. `reason` is librdkafka's text, used when nothing more precise
   can be said. Never holds a secret. Returns buf. */
const char *hf_kafka_describe(rd_kafka_resp_err_t err, const char *reason,
                              const hf_kafka_target_t *t, char *buf, size_t bufsz);

/* Errors waiting cannot fix: credentials, rights, an unknown hub. */
int hf_kafka_error_is_permanent(rd_kafka_resp_err_t err);

#endif
