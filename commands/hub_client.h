/*
 * A look at one hub from the command line, without joining any consumer group: its
 * partitions, their oldest and newest offsets, the offsets of a point in time, a consumer
 * group's checkpoints and members, and moving those checkpoints. `hubfn capture` reads
 * events through it and `hubfn checkpoints` inspects and moves checkpoints with it.
 *
 * One librdkafka consumer handle with no group.id: it fetches through the simple
 * consumer API (rd_kafka_consume_start_queue) and reaches groups through the Admin API
 * (ListConsumerGroupOffsets, DescribeConsumerGroups, AlterConsumerGroupOffsets), so
 * nothing it does commits an offset by accident.
 *
 * Errors are one line in the caller's buffer, worded by hf_kafka_describe (which policy
 * lacks which right on which hub); never a secret.
 */
#ifndef HF_HUB_CLIENT_H
#define HF_HUB_CLIENT_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "app.h"
#include "conn.h"

typedef struct hf_hub_client {
    rd_kafka_t *rk;
    const hf_conn_t *conn;
    const char *hub;
    char desc[256];              /* hf_conn_describe of conn */
    rd_kafka_resp_err_t failed;  /* an error waiting cannot fix (credentials, rights) */
    char failed_reason[512];
    rd_kafka_resp_err_t last;    /* the last passing error (a broker down), for timeouts */
    char last_reason[512];
    const char *group;           /* the group of the request under way, for messages */
    rd_kafka_resp_err_t error;   /* the error of the last request that failed */
} hf_hub_client_t;

/* Create the client for hub on conn; `user` (NULL for none) adds host.json's
   extensions.kafka. 0, or -1 with err. */
int hf_hub_client_open(hf_hub_client_t *hc, const hf_conn_t *conn, const hf_host_cfg_t *user,
                       const char *hub, char *err, size_t errsz);
void hf_hub_client_close(hf_hub_client_t *hc);

/* Serve librdkafka's callbacks (errors) for up to ms; 1 once an error waiting cannot fix
   was seen (hc->failed). */
int hf_hub_client_poll(hf_hub_client_t *hc, int ms);

/* Wait (up to timeout_s) until the hub's partitions are known: *count. 0, or -1 with err
   (no such hub, no rights, wrong credentials, unreachable). */
int hf_hub_client_partitions(hf_hub_client_t *hc, int timeout_s, int *count, char *err,
                             size_t errsz);

/* The oldest offset still in partition p (*lo) and the one the next event will get (*hi;
   lo == hi: empty). 0, or -1 with err. */
int hf_hub_client_watermarks(hf_hub_client_t *hc, int32_t p, int64_t *lo, int64_t *hi,
                             char *err, size_t errsz);

/* For each of the n partitions in parts, the offset of the first event enqueued at or after
   ms (Kafka's offsets-for-times lookup), or -1 when there is none yet. 0, or -1. */
int hf_hub_client_offsets_for_time(hf_hub_client_t *hc, const int32_t *parts, int n,
                                   int64_t ms, int64_t *offsets, char *err, size_t errsz);

/* The checkpoints (committed offsets) of group for partitions 0..n-1: offsets[p], or -1
   where the group has none. 0, or -1 with err. */
int hf_hub_client_committed(hf_hub_client_t *hc, const char *group, int n, int64_t *offsets,
                            char *err, size_t errsz);

/* The members of group, as "CLIENT_ID at HOST (MEMBER_ID)" joined by ", " in members; their
   number in *count (0 when the group is empty or unknown). *state: the group's state name
   ("Stable", "Empty", ...). 0, or -1 with err (e.g. a broker that does not describe
   groups). */
int hf_hub_client_members(hf_hub_client_t *hc, const char *group, int *count, char *members,
                          size_t membersz, char *state, size_t statesz, char *err,
                          size_t errsz);

/* Move group's checkpoints: offsets[i] for parts[i], n of them. The broker refuses while
   the group has members. 0, or -1 with err. */
int hf_hub_client_set_committed(hf_hub_client_t *hc, const char *group, const int32_t *parts,
                                const int64_t *offsets, int n, char *err, size_t errsz);

/* The enqueued time (epoch ms) of the event at offsets[i] in parts[i] (or of the first
   event after it, where offsets have gaps): times[i], or -1 when none was fetched within
   timeout_ms (an offset at the end of the partition has none). 0, or -1 with err. */
int hf_hub_client_enqueued_times(hf_hub_client_t *hc, const int32_t *parts,
                                 const int64_t *offsets, int n, int timeout_ms,
                                 int64_t *times, char *err, size_t errsz);

/* Describe err for the person at the keyboard, as hf_kafka_describe does for this hub
   (reading: Listen rights); returns buf. */
const char *hf_hub_client_describe(const hf_hub_client_t *hc, rd_kafka_resp_err_t err,
                                   const char *reason, char *buf, size_t bufsz);

#endif
