/*
 * commit_offset BOOTSTRAP GROUP HUB PARTITION OFFSET: commit any offset for a consumer
 * group, as a checkpoint left over from an earlier life of a hub would be. Used by the
 * tests of checkpoints that point past the end of a hub.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    char err[512];
    if (argc != 6) {
        fprintf(stderr, "usage: commit_offset BOOTSTRAP GROUP HUB PARTITION OFFSET\n");
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "group.id", argv[2], err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, argv[3], atoi(argv[4]))->offset = atoll(argv[5]);
    rd_kafka_resp_err_t rerr = rd_kafka_commit(rk, list, 0);
    if (!rerr && list->elems[0].err)
        rerr = list->elems[0].err;
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
    if (rerr) {
        fprintf(stderr, "commit failed: %s\n", rd_kafka_err2str(rerr));
        return 1;
    }
    return 0;
}
