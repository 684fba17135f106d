/*
 * produce_raw BOOTSTRAP TOPIC < SPEC: produce events exactly as SPEC says, one per line:
 *
 *   PARTITION TIMESTAMP_MS KEY VALUE [NAME=VALUE ...]
 *
 * KEY, VALUE and each header value are "-" (null) or "x" followed by the bytes in hex ("x"
 * alone: empty). TIMESTAMP_MS 0 means now. Lines go out in order through an idempotent
 * producer, so each partition gets them at consecutive offsets. The tests of capture
 * records use it for bytes, headers and timestamps kcat cannot set.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        fprintf(stderr, "produce_raw: delivery failed: %s\n", rd_kafka_err2str(m->err));
        failures++;
    }
}

/* Decode a "-" / "xHEX" token into a new buffer (*null for "-"). */
static char *decode(const char *tok, size_t *len, int *null)
{
    *null = strcmp(tok, "-") == 0;
    *len = 0;
    if (*null)
        return NULL;
    if (tok[0] != 'x') {
        fprintf(stderr, "produce_raw: bad token %s\n", tok);
        exit(2);
    }
    size_t n = strlen(tok + 1) / 2;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(tok + 1 + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    *len = n;
    return out;
}

int main(int argc, char **argv)
{
    char err[512], line[1 << 16];
    if (argc != 3) {
        fprintf(stderr, "usage: produce_raw BOOTSTRAP TOPIC < SPEC\n");
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    while (fgets(line, sizeof(line), stdin)) {
        char *save = NULL, *tok[64];
        int n = 0;
        for (char *t = strtok_r(line, " \t\n", &save); t && n < 64; t = strtok_r(NULL, " \t\n", &save))
            tok[n++] = t;
        if (n == 0)
            continue;
        if (n < 4) {
            fprintf(stderr, "produce_raw: a line needs PARTITION TIMESTAMP KEY VALUE\n");
            return 2;
        }
        size_t klen, vlen;
        int knull, vnull;
        char *key = decode(tok[2], &klen, &knull);
        char *val = decode(tok[3], &vlen, &vnull);
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
        for (int i = 4; i < n; i++) {
            char *eq = strchr(tok[i], '=');
            size_t hl;
            int hnull;
            if (!eq) {
                fprintf(stderr, "produce_raw: bad header %s\n", tok[i]);
                return 2;
            }
            *eq = 0;
            char *hv = decode(eq + 1, &hl, &hnull);
            rd_kafka_header_add(hdrs, tok[i], -1, hnull ? NULL : hv, hnull ? 0 : (ssize_t)hl);
            free(hv);
        }
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]),
                                      RD_KAFKA_V_PARTITION(atoi(tok[0])),
                                      RD_KAFKA_V_TIMESTAMP(atoll(tok[1])),
                                      RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE(val, vlen),
                                      RD_KAFKA_V_HEADERS(hdrs),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 50);
        if (e) {
            fprintf(stderr, "produce_raw: %s\n", rd_kafka_err2str(e));
            rd_kafka_headers_destroy(hdrs);
            failures++;
        }
        free(key);
        free(val);
    }
    rd_kafka_flush(rk, 30000);
    if (rd_kafka_outq_len(rk) > 0) {
        fprintf(stderr, "produce_raw: %d events not delivered in 30 s\n", rd_kafka_outq_len(rk));
        failures++;
    }
    rd_kafka_destroy(rk);
    return failures ? 1 : 0;
}
