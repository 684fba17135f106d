/*
 * The embedded broker of `hubfn start --embedded`: librdkafka's mock cluster run in-process,
 * a Kafka-protocol broker on loopback with every hub the app names created. A host service
 * (a binding type with no function.json name), started before the types that reach hubs:
 * it points every embedded connection at itself and tells a person how to feed and read
 * its hubs.
 *
 * Thread: created and destroyed on the loop thread; the mock cluster runs its own thread.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "embedded.h"
#include "eventhub.h"
#include "log.h"

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
    emb->hubs = hf_realloc(emb->hubs, (emb->hubs_n + 1) * sizeof(*emb->hubs));
    emb->hubs[emb->hubs_n++] = hf_strdup(hub);
    return 0;
}

int hf_embedded_start(hf_embedded_t **out, hf_app_t *app, int partitions, char *err,
                      size_t errsz)
{
    char errstr[512];
    hf_embedded_t *emb = hf_calloc(1, sizeof(*emb));
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
        int rc = 0;
        for (size_t b = 0; rc == 0 && b <= fn->outputs_n; b++) {
            const hf_binding_t *bd = b == 0 ? &fn->trigger : &fn->outputs[b - 1];
            if (bd->type && bd->type->family == HF_FAMILY_EVENTHUB)
                rc = hf_embedded_create_hub(emb, hf_eventhub_cfg(bd)->hub, partitions);
        }
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
        conn->bootstrap = hf_strdup(emb->bootstrap);
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

/* ---- the host service ---- */

/* Tell a person how to feed and read the embedded broker's hubs. */
static void print_commands(const hf_app_t *app, const char *addr)
{
    for (size_t f = 0; f < app->functions_n; f++) {
        const hf_function_t *fn = &app->functions[f];
        if (fn->disabled || fn->trigger.type->family != HF_FAMILY_EVENTHUB)
            continue;
        const char *hub = hf_eventhub_cfg(&fn->trigger)->hub;
        hf_log_info("feed %s: hubfn send %s %s events.jsonl   (or: kcat -P -b %s -t %s -l "
                    "events.jsonl)", fn->name, addr, hub, addr, hub);
        for (size_t o = 0; o < fn->outputs_n; o++) {
            const hf_binding_t *b = &fn->outputs[o];
            if (b->type->family != HF_FAMILY_EVENTHUB)
                continue;
            hf_log_info("read %s: kcat -C -b %s -t %s -f '%%k %%s\\n'", hf_eventhub_cfg(b)->hub,
                        addr, hf_eventhub_cfg(b)->hub);
        }
    }
}

static int service_start(hf_core_t *core, void **state, char *err, size_t errsz)
{
    hf_app_t *app = hf_core_app(core);
    const hf_core_opts_t *opts = hf_core_opts(core);
    int wanted = opts->embedded;
    for (size_t c = 0; c < app->conns_n; c++)
        wanted |= app->conns[c]->kind == HF_CONN_EMBEDDED;
    *state = NULL;
    if (!wanted)
        return 0;
    hf_embedded_t *emb;
    if (hf_embedded_start(&emb, app, opts->partitions > 0 ? opts->partitions : 4, err,
                          errsz) != 0)
        return -1;
    *state = emb;
    hf_log_info("embedded broker listening at %s", emb->bootstrap);
    print_commands(app, emb->bootstrap);
    return 0;
}

static void service_close(void *state, int abandon)
{
    (void)abandon;
    hf_embedded_stop(state);
}

const hf_binding_type_t hf_embedded_service = {
    .name = NULL,
    .summary = "the in-process broker of hubfn start --embedded",
    .start = service_start,
    .close = service_close,
};
