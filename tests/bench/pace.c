/*
 * pace: a paced Kafka producer (librdkafka) for the latency benchmarks.
 *
 *   pace BOOTSTRAP TOPIC RATE SECONDS FILE
 *   pace --warm-up BOOTSTRAP TOPIC RATE SECONDS FILE
 *
 * Reads FILE (JSON lines; empty lines are skipped) into memory, looks TOPIC up, then
 * produces RATE messages/s for SECONDS seconds, cycling through the lines: every 1 ms tick
 * (absolute CLOCK_MONOTONIC deadlines) it produces as many as needed so that sent ==
 * floor(RATE * elapsed), and serves delivery reports. Key: the decimal message number
 * (1, 2, ...), so the default partitioner spreads them; value: the line without its
 * newline; timestamp: the default (CreateTime, now). linger.ms=5 (the benchmark's hubs
 * stamp events with the broker's append time, so producer batching does not count, and
 * fewer requests leave more of the machine to the consumers), acks=all, no idempotence, no
 * compression.
 * At the end it flushes (30 s at most; what is left then is purged and counts as failed)
 * and prints
 *   produced N delivered D failed F seconds S
 * where S is the time the producing took (first to last message handed to librdkafka).
 * Exit 0 when F == 0, 1 otherwise, 2 on bad usage or an unreadable FILE.
 *
 * --warm-up produces the same way, with the key "warm-up" on every message, and prints
 *   warmed N
 * The Kafka test broker answers the first second or so of writes at such a rate into a new
 * topic late (produce requests take up to a second), so what is produced meanwhile reaches the
 * log as bursts, and a latency measurement would charge the consumer for them. The benchmarks
 * run a warm-up first and leave its events out of what they measure.
 *
 *   cc -std=gnu11 -O2 -Wall -Wextra -Werror tests/bench/pace.c -o build/bench/pace \
 *       $(pkg-config --cflags --libs rdkafka)
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_NS 1000000L
#define FLUSH_MS 30000

struct line {
    const char *p;
    size_t n;
};

struct pace {
    rd_kafka_t *rk;
    const char *topic;
    double rate, seconds;
    char *text;          /* FILE's contents, lines point into it */
    struct line *lines;
    size_t nlines;
    long produced, delivered, failed;
    int warm_up;         /* --warm-up: every key is "warm-up" */
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(long long ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, len = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            char *nb = realloc(buf, (cap *= 2) + 1);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* Splits st->text into its non-empty lines (without "\n" or "\r\n"). */
static int split_lines(struct pace *st)
{
    size_t cap = 1024;
    st->lines = malloc(cap * sizeof(*st->lines));
    for (char *p = st->text; st->lines && *p;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *next = nl ? nl + 1 : p + n;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > 0 && st->nlines == cap) {
            struct line *nb = realloc(st->lines, (cap *= 2) * sizeof(*st->lines));
            if (!nb)
                free(st->lines);
            st->lines = nb;
        }
        if (n > 0 && st->lines)
            st->lines[st->nlines++] = (struct line){p, n};
        p = next;
    }
    return st->lines && st->nlines > 0 ? 0 : -1;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct pace *st = opaque;
    if (msg->err)
        st->failed++;
    else
        st->delivered++;
}

static int set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) == RD_KAFKA_CONF_OK)
        return 0;
    fprintf(stderr, "pace: %s=%s: %s\n", name, value, err);
    return -1;
}

static rd_kafka_t *make_producer(struct pace *st, const char *bootstrap)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", bootstrap) || set(conf, "linger.ms", "5") ||
        set(conf, "acks", "all") || set(conf, "enable.idempotence", "false") ||
        set(conf, "compression.type", "none")) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "pace: %s\n", err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Produces message number st->produced + 1; the value is not copied (st->text outlives
 * the producer). A full local queue is waited out; other errors count as failed. */
static void produce_one(struct pace *st)
{
    const struct line *l = &st->lines[(size_t)st->produced % st->nlines];
    char key[24];
    int klen = st->warm_up ? snprintf(key, sizeof(key), "warm-up")
                           : snprintf(key, sizeof(key), "%ld", st->produced + 1);
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(st->rk, RD_KAFKA_V_TOPIC(st->topic),
                                    RD_KAFKA_V_KEY(key, (size_t)klen),
                                    RD_KAFKA_V_VALUE((void *)l->p, l->n),
                                    RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(st->rk, 1);
    if (err) {
        fprintf(stderr, "pace: produce: %s\n", rd_kafka_err2str(err));
        st->failed++;
    }
    st->produced++;
}

/* Looks the topic up (its partitions and their leaders) before the clock starts: a producer
 * that learns them from its first message waits for a metadata refresh and sends what it
 * queued meanwhile, a few hundred milliseconds of it, as one burst. */
static int look_up(struct pace *st)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(st->rk, st->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rkt ? rd_kafka_metadata(st->rk, 0, rkt, &md, 10000)
                                  : rd_kafka_last_error();
    if (!err && md->topic_cnt == 1 && md->topics[0].err)
        err = md->topics[0].err;
    else if (!err && (md->topic_cnt != 1 || md->topics[0].partition_cnt < 1))
        err = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (err)
        fprintf(stderr, "pace: %s: %s\n", st->topic, rd_kafka_err2str(err));
    return err ? -1 : 0;
}

/* The paced loop; returns how long it took in seconds. */
static double run(struct pace *st)
{
    long total = (long)(st->rate * st->seconds); /* floor: both are positive */
    long long start = now_ns(), tick = start;
    while (st->produced < total) {
        tick += TICK_NS;
        sleep_until(tick);
        double elapsed = (double)(now_ns() - start) / 1e9;
        long due = (long)(st->rate * elapsed);
        while (st->produced < due && st->produced < total)
            produce_one(st);
        rd_kafka_poll(st->rk, 0);
    }
    return (double)(now_ns() - start) / 1e9;
}

/* Flushes; what is still undelivered after FLUSH_MS is purged (failed delivery reports). */
static void finish(struct pace *st)
{
    if (rd_kafka_flush(st->rk, FLUSH_MS) == RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    fprintf(stderr, "pace: flush timed out, %d messages left\n", rd_kafka_outq_len(st->rk));
    rd_kafka_purge(st->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(st->rk, 1000);
}

static int parse_positive(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return *s && !*end && !errno && *out > 0 && *out < 1e9 ? 0 : -1; /* not NaN or inf */
}

int main(int argc, char **argv)
{
    struct pace st = {0};
    st.warm_up = argc > 1 && strcmp(argv[1], "--warm-up") == 0;
    argc -= st.warm_up;
    argv += st.warm_up;
    if (argc != 6 || parse_positive(argv[3], &st.rate) || parse_positive(argv[4], &st.seconds)) {
        fprintf(stderr, "usage: pace [--warm-up] BOOTSTRAP TOPIC RATE SECONDS FILE\n");
        return 2;
    }
    st.topic = argv[2];
    if (!(st.text = read_file(argv[5])) || split_lines(&st) != 0) {
        fprintf(stderr, "pace: %s: unreadable or no lines\n", argv[5]);
        return 2;
    }
    if (!(st.rk = make_producer(&st, argv[1])))
        return 1;
    if (look_up(&st) != 0) {
        rd_kafka_destroy(st.rk);
        return 1;
    }
    double secs = run(&st);
    finish(&st);
    if (st.warm_up && st.failed == 0)
        printf("warmed %ld\n", st.delivered);
    else
        printf("produced %ld delivered %ld failed %ld seconds %.3f\n", st.produced, st.delivered,
               st.failed, secs);
    rd_kafka_destroy(st.rk);
    free(st.lines);
    free(st.text);
    return st.failed == 0 ? 0 : 1;
}
