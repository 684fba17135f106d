#include "embedded.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hf_embedded {
    rd_kafka_t *rk;              /* the handle the mock cluster hangs off */
    rd_kafka_mock_cluster_t *mc;
    char bootstrap[256];
    char **hubs;
    size_t hubs_n;
};

static int hub_known(hf_embedded_t *emb, const char *hub)
{
    for (size_t i = 0; i < emb->hubs_n; i++)
        if (strcmp(emb->hubs[i], hub) == 0)
            return 1;
    return 0;
}

int hf_embedded_create_hub(hf_embedded_t *emb, const char *hub, int partitions)
{
    if (!hub || !*hub || hub_known(emb, hub))
        return 0;
    if (rd_kafka_mock_topic_create(emb->mc, hub, partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    char **grown = realloc(emb->hubs, (emb->hubs_n + 1) * sizeof(*grown));
    if (!grown)
        return -1;
    emb->hubs = grown;
    emb->hubs[emb->hubs_n++] = strdup(hub);
    return 0;
}

int hf_embedded_start(hf_embedded_t **out, hf_app_t *app, int partitions, char *err,
                      size_t errsz)
{
    char errstr[512];
    hf_embedded_t *emb = calloc(1, sizeof(*emb));
    if (!emb) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
    emb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!emb->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errsz, "embedded broker: %s", errstr);
        free(emb);
        return -1;
    }
    emb->mc = rd_kafka_mock_cluster_new(emb->rk, 1);
    if (!emb->mc) {
        snprintf(err, errsz, "embedded broker: cannot start the mock cluster");
        rd_kafka_destroy(emb->rk);
        free(emb);
        return -1;
    }
    snprintf(emb->bootstrap, sizeof(emb->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(emb->mc));
    for (size_t f = 0; f < app->functions_n; f++) {
        hf_function_t *fn = &app->functions[f];
        int rc = hf_embedded_create_hub(emb, fn->trigger.hub, partitions);
        for (size_t o = 0; rc == 0 && o < fn->outputs_n; o++)
            rc = hf_embedded_create_hub(emb, fn->outputs[o].hub, partitions);
        if (rc != 0) {
            snprintf(err, errsz, "embedded broker: cannot create the hubs of function %s",
                     fn->name);
            hf_embedded_stop(emb);
            return -1;
        }
    }
    for (size_t c = 0; c < app->conns_n; c++) {
        hf_conn_t *conn = app->conns[c];
        if (conn->kind != HF_CONN_EMBEDDED)
            continue;
        free(conn->bootstrap);
        conn->bootstrap = strdup(emb->bootstrap);
    }
    *out = emb;
    return 0;
}

const char *hf_embedded_bootstrap(const hf_embedded_t *emb)
{
    return emb->bootstrap;
}

void hf_embedded_stop(hf_embedded_t *emb)
{
    if (!emb)
        return;
    rd_kafka_mock_cluster_destroy(emb->mc);
    rd_kafka_destroy(emb->rk);
    for (size_t i = 0; i < emb->hubs_n; i++)
        free(emb->hubs[i]);
    free(emb->hubs);
    free(emb);
}
