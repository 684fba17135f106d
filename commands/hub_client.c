/*
 * A group-less look at one hub. See hub_client.h.
 */
#include "hub_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "datetime.h"
#include "kafka.h"
#include "log.h"

/* How long one Admin API request may take. */
#define HF_HUB_ADMIN_TIMEOUT_MS 30000

/* librdkafka's errors: those waiting cannot fix are kept (the first wins); the others are
   remembered for a timeout's message, as librdkafka retries them. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    hf_hub_client_t *hc = opaque;
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)err;
    if (e == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        e = rd_kafka_fatal_error(rk, why, sizeof(why));
        reason = why;
        if (!hc->failed) {
            hc->failed = e ? e : RD_KAFKA_RESP_ERR__FATAL;
            snprintf(hc->failed_reason, sizeof(hc->failed_reason), "%s", reason);
        }
        return;
    }
    if (hf_kafka_error_is_permanent(e)) {
        if (!hc->failed) {
            hc->failed = e;
            snprintf(hc->failed_reason, sizeof(hc->failed_reason), "%s", reason);
        }
        return;
    }
    hc->last = e;
    snprintf(hc->last_reason, sizeof(hc->last_reason), "%s", reason);
}

/* librdkafka's own log lines only matter when debugging. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    hf_log(level <= 3 ? HF_LOG_DEBUG : HF_LOG_TRACE, "librdkafka %s: %s", fac, buf);
}

const char *hf_hub_client_describe(const hf_hub_client_t *hc, rd_kafka_resp_err_t err,
                                   const char *reason, char *buf, size_t bufsz)
{
    hf_kafka_target_t target = {hc->conn, hc->hub, hc->group, 0};
    return hf_kafka_describe(err, reason, &target, buf, bufsz);
}

/* Say why a request failed: an error waiting cannot fix if one was seen, else err. -1. */
static int fail(hf_hub_client_t *hc, rd_kafka_resp_err_t err, const char *reason,
                char *buf, size_t bufsz)
{
    hc->error = hc->failed ? hc->failed : err;
    if (hc->failed)
        hf_hub_client_describe(hc, hc->failed, hc->failed_reason, buf, bufsz);
    else
        hf_hub_client_describe(hc, err, reason, buf, bufsz);
    return -1;
}

int hf_hub_client_open(hf_hub_client_t *hc, const hf_conn_t *conn, const hf_host_cfg_t *user,
                       const char *hub, char *err, size_t errsz)
{
    char errstr[512];
    memset(hc, 0, sizeof(*hc));
    hc->conn = conn;
    hc->hub = hub;
    hf_conn_describe(conn, hc->desc, sizeof(hc->desc));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    hf_kafka_conf_t kc = {conf, errstr, sizeof(errstr), NULL};
    /* No group.id: nothing here can join a group or commit by accident. */
    if (hf_kafka_conf_common(&kc, conn) ||
        hf_kafka_conf_set(&kc, "enable.auto.commit", "false") ||
        hf_kafka_conf_set(&kc, "enable.auto.offset.store", "false") ||
        hf_kafka_conf_set(&kc, "enable.partition.eof", "true") ||
        hf_kafka_conf_set(&kc, "auto.offset.reset", "earliest") ||
        hf_kafka_conf_set(&kc, "fetch.wait.max.ms", "100") ||
        /* what the simple consumer prefetches per partition: a capture that follows
           every partition of a 32-partition hub holds at most 128 MB */
        hf_kafka_conf_set(&kc, "queued.min.messages", "10000") ||
        hf_kafka_conf_set(&kc, "queued.max.messages.kbytes", "4096") ||
        (user && hf_kafka_conf_user(&kc, user))) {
        snprintf(err, errsz, "%s", errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_opaque(conf, hc);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    hc->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!hc->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errsz, "cannot create a client for %s: %s", hc->desc, errstr);
        return -1;
    }
    return 0;
}

void hf_hub_client_close(hf_hub_client_t *hc)
{
    if (hc->rk)
        rd_kafka_destroy(hc->rk);
    hc->rk = NULL;
}

int hf_hub_client_poll(hf_hub_client_t *hc, int ms)
{
    rd_kafka_poll(hc->rk, ms);
    return hc->failed != RD_KAFKA_RESP_ERR_NO_ERROR;
}

int hf_hub_client_partitions(hf_hub_client_t *hc, int timeout_s, int *count, char *err,
                             size_t errsz)
{
    int64_t deadline = hf_mono_us() + (int64_t)timeout_s * 1000000;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(hc->rk, hc->hub, NULL);
    rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR__TIMED_OUT;
    int rc = -1;
    if (!rkt) {
        snprintf(err, errsz, "hub %s: %s", hc->hub, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t merr = rd_kafka_metadata(hc->rk, 0, rkt, &md, 1000);
        if (hf_hub_client_poll(hc, 0)) {
            if (md)
                rd_kafka_metadata_destroy(md);
            fail(hc, hc->failed, hc->failed_reason, err, errsz);
            break;
        }
        if (merr == RD_KAFKA_RESP_ERR_NO_ERROR && md) {
            rd_kafka_resp_err_t terr = md->topic_cnt == 1 ? md->topics[0].err
                                                          : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
            int cnt = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
            rd_kafka_metadata_destroy(md);
            if (terr == RD_KAFKA_RESP_ERR_NO_ERROR && cnt > 0) {
                *count = cnt;
                rc = 0;
                break;
            }
            if (hf_kafka_error_is_permanent(terr)) {
                fail(hc, terr, NULL, err, errsz);
                break;
            }
            last = terr ? terr : RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
        } else {
            if (md)
                rd_kafka_metadata_destroy(md);
            last = merr;
        }
        if (hf_mono_us() >= deadline) {
            snprintf(err, errsz, "could not reach hub %s on %s in %d s: %s", hc->hub, hc->desc,
                     timeout_s, hc->last ? hc->last_reason : rd_kafka_err2str(last));
            break;
        }
        if (merr == RD_KAFKA_RESP_ERR_NO_ERROR)
            hf_hub_client_poll(hc, 200);
    }
    rd_kafka_topic_destroy(rkt);
    return rc;
}

int hf_hub_client_watermarks(hf_hub_client_t *hc, int32_t p, int64_t *lo, int64_t *hi,
                             char *err, size_t errsz)
{
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(hc->rk, hc->hub, p, lo, hi, 15000);
    if (hf_hub_client_poll(hc, 0) || e)
        return fail(hc, e, NULL, err, errsz);
    return 0;
}

int hf_hub_client_offsets_for_time(hf_hub_client_t *hc, const int32_t *parts, int n,
                                   int64_t ms, int64_t *offsets, char *err, size_t errsz)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, hc->hub, parts[i])->offset = ms;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(hc->rk, list, 15000);
    for (int i = 0; !e && i < list->cnt; i++)
        e = list->elems[i].err;
    if (hf_hub_client_poll(hc, 0) || e) {
        rd_kafka_topic_partition_list_destroy(list);
        return fail(hc, e, NULL, err, errsz);
    }
    /* An offset of -1 (end): no event at or after that time yet. */
    for (int i = 0; i < n; i++)
        offsets[i] = list->elems[i].offset >= 0 ? list->elems[i].offset : -1;
    rd_kafka_topic_partition_list_destroy(list);
    return 0;
}

/* Wait for the result of an Admin request on q, serving callbacks meanwhile. The event,
   or NULL with err set. */
static rd_kafka_event_t *admin_wait(hf_hub_client_t *hc, rd_kafka_queue_t *q, char *err,
                                    size_t errsz)
{
    int64_t deadline = hf_mono_us() + (HF_HUB_ADMIN_TIMEOUT_MS + 5000) * 1000LL;
    for (;;) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 200);
        if (ev) {
            rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
            if (e) {
                fail(hc, e, rd_kafka_event_error_string(ev), err, errsz);
                rd_kafka_event_destroy(ev);
                return NULL;
            }
            return ev;
        }
        if (hf_hub_client_poll(hc, 0)) {
            fail(hc, hc->failed, hc->failed_reason, err, errsz);
            return NULL;
        }
        if (hf_mono_us() >= deadline) {
            fail(hc, RD_KAFKA_RESP_ERR__TIMED_OUT, NULL, err, errsz);
            return NULL;
        }
    }
}

/* Admin options with hubfn's request timeout. */
static rd_kafka_AdminOptions_t *admin_options(hf_hub_client_t *hc, rd_kafka_admin_op_t op)
{
    char why[256];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(hc->rk, op);
    rd_kafka_AdminOptions_set_request_timeout(o, HF_HUB_ADMIN_TIMEOUT_MS, why, sizeof(why));
    return o;
}

/* The partitions of a group result, after checking its errors; NULL with err set. */
static const rd_kafka_topic_partition_list_t *group_partitions(
    hf_hub_client_t *hc, const rd_kafka_group_result_t **groups, size_t n, char *err,
    size_t errsz)
{
    if (n != 1)
        return fail(hc, RD_KAFKA_RESP_ERR__BAD_MSG, "no result for the group", err, errsz),
               NULL;
    const rd_kafka_error_t *ge = rd_kafka_group_result_error(groups[0]);
    if (ge) {
        fail(hc, rd_kafka_error_code(ge), rd_kafka_error_string(ge), err, errsz);
        return NULL;
    }
    return rd_kafka_group_result_partitions(groups[0]);
}

int hf_hub_client_committed(hf_hub_client_t *hc, const char *group, int n, int64_t *offsets,
                            char *err, size_t errsz)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(list, hc->hub, i);
        offsets[i] = -1;
    }
    hc->group = group;
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, list);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_queue_t *q = rd_kafka_queue_new(hc->rk);
    rd_kafka_AdminOptions_t *o = admin_options(hc, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_ListConsumerGroupOffsets(hc->rk, &req, 1, o, q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(o);
    int rc = -1;
    rd_kafka_event_t *ev = admin_wait(hc, q, err, errsz);
    if (ev) {
        size_t gn = 0;
        const rd_kafka_group_result_t **groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
            rd_kafka_event_ListConsumerGroupOffsets_result(ev), &gn);
        const rd_kafka_topic_partition_list_t *parts = group_partitions(hc, groups, gn, err,
                                                                        errsz);
        if (parts) {
            rc = 0;
            for (int i = 0; i < parts->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &parts->elems[i];
                if (p->err) {
                    rc = fail(hc, p->err, NULL, err, errsz);
                    break;
                }
                if (p->partition >= 0 && p->partition < n)
                    offsets[p->partition] = p->offset >= 0 ? p->offset : -1;
            }
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return rc;
}

int hf_hub_client_members(hf_hub_client_t *hc, const char *group, int *count, char *members,
                          size_t membersz, char *state, size_t statesz, char *err,
                          size_t errsz)
{
    const char *groups[1] = {group};
    rd_kafka_queue_t *q = rd_kafka_queue_new(hc->rk);
    rd_kafka_AdminOptions_t *o = admin_options(hc, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    hc->group = group;
    *count = 0;
    members[0] = 0;
    state[0] = 0;
    rd_kafka_DescribeConsumerGroups(hc->rk, groups, 1, o, q);
    rd_kafka_AdminOptions_destroy(o);
    int rc = -1;
    rd_kafka_event_t *ev = admin_wait(hc, q, err, errsz);
    if (ev) {
        size_t gn = 0;
        const rd_kafka_ConsumerGroupDescription_t **descs =
            rd_kafka_DescribeConsumerGroups_result_groups(
                rd_kafka_event_DescribeConsumerGroups_result(ev), &gn);
        const rd_kafka_error_t *ge = gn == 1 ? rd_kafka_ConsumerGroupDescription_error(descs[0])
                                             : NULL;
        if (gn != 1) {
            fail(hc, RD_KAFKA_RESP_ERR__BAD_MSG, "no description of the group", err, errsz);
        } else if (ge && rd_kafka_error_code(ge) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
            fail(hc, rd_kafka_error_code(ge), rd_kafka_error_string(ge), err, errsz);
        } else {
            rc = 0;
            if (!ge) {
                size_t mn = rd_kafka_ConsumerGroupDescription_member_count(descs[0]);
                size_t len = 0;
                snprintf(state, statesz, "%s", rd_kafka_consumer_group_state_name(
                                                   rd_kafka_ConsumerGroupDescription_state(
                                                       descs[0])));
                for (size_t i = 0; i < mn; i++) {
                    const rd_kafka_MemberDescription_t *m =
                        rd_kafka_ConsumerGroupDescription_member(descs[0], i);
                    if (len + 1 < membersz)
                        len += (size_t)snprintf(members + len, membersz - len, "%s%s at %s (%s)",
                                                i ? ", " : "",
                                                rd_kafka_MemberDescription_client_id(m),
                                                rd_kafka_MemberDescription_host(m),
                                                rd_kafka_MemberDescription_consumer_id(m));
                }
                if (len >= membersz && membersz > 4)
                    memcpy(members + membersz - 4, "...", 4);
                *count = (int)mn;
            } else {
                snprintf(state, statesz, "Dead");
            }
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return rc;
}

int hf_hub_client_set_committed(hf_hub_client_t *hc, const char *group, const int32_t *parts,
                                const int64_t *offsets, int n, char *err, size_t errsz)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, hc->hub, parts[i])->offset = offsets[i];
    hc->group = group;
    rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group,
                                                                                      list);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_queue_t *q = rd_kafka_queue_new(hc->rk);
    rd_kafka_AdminOptions_t *o = admin_options(hc, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AlterConsumerGroupOffsets(hc->rk, &req, 1, o, q);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(o);
    int rc = -1;
    rd_kafka_event_t *ev = admin_wait(hc, q, err, errsz);
    if (ev) {
        size_t gn = 0;
        const rd_kafka_group_result_t **groups = rd_kafka_AlterConsumerGroupOffsets_result_groups(
            rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &gn);
        const rd_kafka_topic_partition_list_t *res = group_partitions(hc, groups, gn, err, errsz);
        if (res) {
            rc = 0;
            for (int i = 0; i < res->cnt && rc == 0; i++)
                if (res->elems[i].err)
                    rc = fail(hc, res->elems[i].err, NULL, err, errsz);
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return rc;
}

int hf_hub_client_enqueued_times(hf_hub_client_t *hc, const int32_t *parts,
                                 const int64_t *offsets, int n, int timeout_ms,
                                 int64_t *times, char *err, size_t errsz)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(hc->rk, hc->hub, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(hc->rk);
    unsigned char *started = hf_calloc((size_t)n + 1, 1);
    int pending = 0, rc = 0;
    for (int i = 0; i < n; i++) {
        times[i] = -1;
        if (offsets[i] < 0)
            continue;
        if (rd_kafka_consume_start_queue(rkt, parts[i], offsets[i], q) == 0) {
            started[i] = 1;
            pending++;
        }
    }
    int64_t deadline = hf_mono_us() + (int64_t)timeout_ms * 1000;
    while (pending > 0 && hf_mono_us() < deadline) {
        rd_kafka_message_t *msgs[64];
        ssize_t got = rd_kafka_consume_batch_queue(q, 100, msgs, 64);
        for (ssize_t k = 0; k < got; k++) {
            rd_kafka_message_t *m = msgs[k];
            for (int i = 0; i < n; i++) {
                if (!started[i] || started[i] == 2 || parts[i] != m->partition)
                    continue;
                if (!m->err) {
                    times[i] = rd_kafka_message_timestamp(m, NULL);
                } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                           hf_kafka_error_is_permanent(m->err)) {
                    rc = fail(hc, m->err, rd_kafka_message_errstr(m), err, errsz);
                    pending = 0;
                    break;
                }
                started[i] = 2;
                pending--;
            }
            rd_kafka_message_destroy(m);
        }
        if (hf_hub_client_poll(hc, 0)) {
            rc = fail(hc, hc->failed, hc->failed_reason, err, errsz);
            break;
        }
    }
    for (int i = 0; i < n; i++)
        if (started[i])
            rd_kafka_consume_stop(rkt, parts[i]);
    free(started);
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    return rc;
}
