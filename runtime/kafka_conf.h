/*
 * librdkafka configuration shared by consumers and producers: the connection's security
 * settings, Event Hubs' recommended client settings, then host.json extensions.kafka.
 */
#ifndef HF_KAFKA_CONF_H
#define HF_KAFKA_CONF_H

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
/* host.json extensions.kafka, applied last so users can override anything. */
int hf_kafka_conf_user(hf_kafka_conf_t *kc, const hf_host_cfg_t *cfg);

#endif
