#include "kafka_conf.h"

#include <stdio.h>
#include <string.h>

int hf_kafka_conf_set(hf_kafka_conf_t *kc, const char *key, const char *value)
{
    char why[512];
    if (rd_kafka_conf_set(kc->conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(kc->err, kc->errsz, "%s%s%s: %s", kc->origin ? kc->origin : "",
                 kc->origin ? "." : "", key, why);
        return -1;
    }
    return 0;
}

static int conf_set_cb(void *ud, const char *k, const char *v)
{
    return hf_kafka_conf_set(ud, k, v);
}

int hf_kafka_conf_common(hf_kafka_conf_t *kc, const hf_conn_t *conn)
{
    /* Azure closes idle connections after 240 s; these keep clients under that. */
    if (hf_kafka_conf_set(kc, "client.id", "hubfn") ||
        hf_kafka_conf_set(kc, "socket.keepalive.enable", "true") ||
        hf_kafka_conf_set(kc, "metadata.max.age.ms", "180000") ||
        hf_kafka_conf_set(kc, "reconnect.backoff.max.ms", "2000"))
        return -1;
    if (conn && hf_conn_apply(conn, conf_set_cb, kc) != 0)
        return -1;
    return 0;
}

int hf_kafka_conf_user(hf_kafka_conf_t *kc, const hf_host_cfg_t *cfg)
{
    const char *saved = kc->origin;
    kc->origin = "host.json: extensions.kafka";
    for (size_t i = 0; i < cfg->kafka_n; i++)
        if (hf_kafka_conf_set(kc, cfg->kafka[i].key, cfg->kafka[i].value) != 0)
            return -1;
    kc->origin = saved;
    return 0;
}
