#include "kafka.h"

#include <stdio.h>
#include <string.h>

int hf_kafka_conf_set(hf_kafka_conf_t *kc, const char *key, const char *value)
{
    char why[512];
    if (rd_kafka_conf_set(kc->conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        size_t n = strlen(why);
        while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
            why[--n] = 0;
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

int hf_kafka_conf_producer(hf_kafka_conf_t *kc, const hf_conn_t *conn, int max_message_bytes)
{
    char max_bytes[24];
    snprintf(max_bytes, sizeof(max_bytes), "%d", max_message_bytes);
    if (hf_kafka_conf_common(kc, conn) || hf_kafka_conf_set(kc, "enable.idempotence", "true") ||
        hf_kafka_conf_set(kc, "acks", "all") || hf_kafka_conf_set(kc, "linger.ms", "5") ||
        hf_kafka_conf_set(kc, "message.max.bytes", max_bytes) ||
        hf_kafka_conf_set(kc, "request.timeout.ms", "60000") ||
        hf_kafka_conf_set(kc, "message.timeout.ms", "300000") ||
        hf_kafka_conf_set(kc, "queue.buffering.max.kbytes", "65536"))
        return -1;
    return 0;
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
    for (size_t i = 0; i < cfg->kafka.n; i++)
        if (hf_kafka_conf_set(kc, cfg->kafka.keys[i], cfg->kafka.values[i]) != 0)
            return -1;
    kc->origin = saved;
    return 0;
}

int hf_kafka_check_props(const hf_strings_t *props, const char **bad, char *why, size_t whysz)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = 0;
    for (size_t i = 0; i < props->n && rc == 0; i++) {
        if (rd_kafka_conf_set(conf, props->keys[i], props->values[i], why, whysz) !=
            RD_KAFKA_CONF_OK) {
            size_t n = strlen(why);
            while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
                why[--n] = 0;
            *bad = props->keys[i];
            rc = -1;
        }
    }
    rd_kafka_conf_destroy(conf);
    return rc;
}

int hf_kafka_error_is_permanent(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        return 1;
    default:
        return 0;
    }
}

const char *hf_kafka_describe(rd_kafka_resp_err_t err, const char *reason,
                              const hf_kafka_target_t *t, char *buf, size_t bufsz)
{
    static const hf_kafka_target_t none = {0};
    if (!t)
        t = &none;
    const hf_conn_t *conn = t->conn;
    char desc[256], where[300], setting[300];
    hf_conn_describe(conn, desc, sizeof(desc));
    /* Event Hubs names its namespace and policy; plain Kafka only has an address. */
    const char *policy = conn && conn->key_name ? conn->key_name : NULL;
    if (conn && conn->namespace_)
        snprintf(where, sizeof(where), "Event Hubs namespace %s", conn->namespace_);
    else
        snprintf(where, sizeof(where), "%s", desc);
    if (conn && conn->setting && *conn->setting)
        snprintf(setting, sizeof(setting), " (setting %s)", conn->setting);
    else
        setting[0] = 0;
    const char *hub = t->hub ? t->hub : "?";
    switch (err) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        if (conn && conn->namespace_) {
            char in[300];
            if (conn->setting && *conn->setting)
                snprintf(in, sizeof(in), "in setting %s", conn->setting);
            else
                snprintf(in, sizeof(in), "in the connection string");
            snprintf(buf, bufsz, "%s refused policy %s: authentication failed (check "
                     "SharedAccessKeyName and SharedAccessKey %s)", where,
                     policy ? policy : "?", in);
        } else {
            snprintf(buf, bufsz, "authentication failed with %s%s: %s", desc, setting,
                     reason ? reason : rd_kafka_err2str(err));
        }
        break;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        if (policy || (conn && conn->namespace_))
            snprintf(buf, bufsz, "policy %s may not %s hub %s in %s: it needs %s rights on "
                     "that hub%s", policy ? policy : "(none)", t->sends ? "send to" : "read",
                     hub, where, t->sends ? "Send" : "Listen", setting);
        else
            snprintf(buf, bufsz, "%s refused to let this client %s %s (%s): it needs %s "
                     "rights on that topic%s", desc, t->sends ? "write to" : "read", hub,
                     rd_kafka_err2name(err), t->sends ? "Write" : "Read", setting);
        break;
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        snprintf(buf, bufsz, "policy %s may not use consumer group %s in %s: it needs Listen "
                 "rights%s", policy ? policy : "(none)", t->group ? t->group : "?", where,
                 setting);
        break;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        snprintf(buf, bufsz, "hub %s does not exist in %s (check the name, or create the hub)",
                 hub, where);
        break;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        snprintf(buf, bufsz, "the event is larger than hub %s accepts (1 MB on Event Hubs)",
                 hub);
        break;
    default:
        snprintf(buf, bufsz, "%s: %s", desc, reason ? reason : rd_kafka_err2str(err));
    }
    return buf;
}
