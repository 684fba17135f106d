/*
 * mockbroker: librdkafka's mock cluster as a standalone Kafka-protocol broker on loopback,
 * driven from standard input, for fault-injection tests and benchmarks.
 *
 *   mockbroker [--brokers N] [--topic NAME:PARTITIONS]...
 *
 * Prints "bootstrap HOST:PORT,..." on stdout once ready, then reads one command a line:
 *   topic NAME PARTITIONS          create a topic
 *   error API COUNT ERROR          the next COUNT requests of API (Produce, Fetch,
 *                                  OffsetCommit, OffsetFetch, Metadata, JoinGroup,
 *                                  Heartbeat, SyncGroup, FindCoordinator, InitProducerId,
 *                                  ListOffsets, or a number) fail with ERROR (a Kafka error
 *                                  name such as NOT_LEADER_FOR_PARTITION, or a number)
 *   down BROKER | up BROKER        take a broker down (connections refused) or up again
 *   rtt BROKER MS                  add latency to a broker's responses
 * and answers each with "ok" or "error: why". Exits at end of input or on SIGTERM.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct { const char *name; int key; } apis[] = {
    {"Produce", 0},       {"Fetch", 1},       {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},  {"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},    {"LeaveGroup", 13}, {"SyncGroup", 14},       {"InitProducerId", 22},
};

static int api_key(const char *s)
{
    for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++)
        if (strcasecmp(apis[i].name, s) == 0)
            return apis[i].key;
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end ? (int)v : -1;
}

/* A Kafka error by name (as rd_kafka_err2name gives it) or number. */
static int error_code(const char *s, rd_kafka_resp_err_t *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end) {
        *out = (rd_kafka_resp_err_t)v;
        return 0;
    }
    const struct rd_kafka_err_desc *descs;
    size_t n;
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++) {
        if (descs[i].name && strcasecmp(descs[i].name, s) == 0) {
            *out = descs[i].code;
            return 0;
        }
    }
    return -1;
}

static int add_topic(rd_kafka_mock_cluster_t *mc, const char *spec)
{
    char name[256];
    int parts = 1;
    if (sscanf(spec, "%255[^:]:%d", name, &parts) < 1)
        return -1;
    return rd_kafka_mock_topic_create(mc, name, parts, 1) ? -1 : 0;
}

int main(int argc, char **argv)
{
    char err[512], line[1024];
    int brokers = 1;
    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
            brokers = atoi(argv[++i]);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "mockbroker: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "mockbroker: cannot start the mock cluster\n");
        return 1;
    }
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc && add_topic(mc, argv[++i]) != 0)
            fprintf(stderr, "mockbroker: bad --topic %s\n", argv[i]);
    printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
        char cmd[32], a[256], b[64], c[64];
        int n = sscanf(line, "%31s %255s %63s %63s", cmd, a, b, c);
        rd_kafka_resp_err_t e = 0;
        const char *why = NULL;
        if (n < 1) {
            continue;
        } else if (strcmp(cmd, "topic") == 0 && n == 3) {
            if (rd_kafka_mock_topic_create(mc, a, atoi(b), 1))
                why = "cannot create the topic";
        } else if (strcmp(cmd, "error") == 0 && n == 4) {
            int key = api_key(a), cnt = atoi(b);
            if (key < 0 || cnt <= 0 || error_code(c, &e) != 0) {
                why = "usage: error API COUNT ERROR";
            } else {
                rd_kafka_resp_err_t *errs = calloc((size_t)cnt, sizeof(*errs));
                for (int i = 0; i < cnt; i++)
                    errs[i] = e;
                rd_kafka_mock_push_request_errors_array(mc, (int16_t)key, (size_t)cnt, errs);
                free(errs);
            }
        } else if ((strcmp(cmd, "down") == 0 || strcmp(cmd, "up") == 0) && n == 2) {
            e = strcmp(cmd, "down") == 0 ? rd_kafka_mock_broker_set_down(mc, atoi(a))
                                         : rd_kafka_mock_broker_set_up(mc, atoi(a));
            if (e)
                why = rd_kafka_err2str(e);
        } else if (strcmp(cmd, "rtt") == 0 && n == 3) {
            if (rd_kafka_mock_broker_set_rtt(mc, atoi(a), atoi(b)))
                why = "cannot set the latency";
        } else {
            why = "unknown command";
        }
        if (why)
            printf("error: %s\n", why);
        else
            printf("ok\n");
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
