/*
 * The embedded broker of `hubfn start --embedded`: librdkafka's mock cluster run in-process,
 * a Kafka-protocol broker on loopback with every hub the app names created. A host service
 * (a binding type with no function.json name), started before the types that reach hubs:
 * it points every embedded connection at itself and tells a person how to feed and read
 * its hubs.
 *
 * The mock cluster listens on a port of its own choosing, so clients reach it through a
 * relay listening on a fixed port (HF_EMBEDDED_DEFAULT_PORT, --embedded-port,
 * HUBFN_EMBEDDED_PORT): each connection accepted there is joined to a connection to the
 * mock's port. hubfn's own clients connect to the mock's port directly (they are closed
 * with blocking calls on the loop thread, which serves the relay).
 *
 * The relay reads the Kafka frames it passes and changes some in place, so that a client
 * reaching the broker through it stays on the relay and cannot create a hub:
 *   - a Metadata request's AllowAutoTopicCreation is cleared: a hub that does not exist is
 *     refused with UNKNOWN_TOPIC_OR_PART, as Event Hubs refuses it, whatever the client
 *     asked (kcat and other producers ask to create hubs unless told not to); the mock
 *     answers Metadata v4 only, the first version with that field;
 *   - Metadata and FindCoordinator responses name the relay's port where they named the
 *     mock's, so the client's next connections come through the relay too.
 * Other frames pass as they are, streamed through a bounded buffer.
 *
 * Thread: created, served and destroyed on the loop thread; the mock cluster runs its own.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "cmdline.h"
#include "embedded.h"
#include "eventhub.h"
#include "log.h"

/* Kafka's request types (ApiKey) the broker adjusts. */
#define KAFKA_METADATA 3
#define KAFKA_FIND_COORDINATOR 10
/* The largest Metadata or FindCoordinator frame the relay holds whole to change it (a
   larger request closes the connection; a larger response passes unchanged). */
#define RELAY_FRAME_MAX (1024 * 1024)
/* Metadata and FindCoordinator requests a connection may have waiting for their answer. */
#define RELAY_ASKED 16

/* A pipe's buffer: what is read from one side and not yet written to the other. */
#define RELAY_CHUNK (64 * 1024)

typedef struct relay_conn relay_conn_t;

struct hf_embedded {
    rd_kafka_t *rk;              /* the handle the mock cluster hangs off */
    rd_kafka_mock_cluster_t *mc;
    char mock_addr[64];          /* the mock's own listener: hubfn's clients connect here */
    int mock_port;
    char bootstrap[64];          /* the relay: what everyone else is told */
    int port;
    struct ev_loop *loop;
    int listen_fd;
    ev_io accept_w;
    relay_conn_t *conns;         /* the relay's open connections */
    char **hubs;
    size_t hubs_n;
};

/* ---- the relay ---- */

enum { SIDE_CLIENT, SIDE_BROKER };

/* Bytes read from one side, on their way to the other. */
typedef struct relay_pipe {
    unsigned char *buf;
    size_t cap, len;             /* buf holds len bytes */
    size_t ready;                /* the first `ready` may be written to the other side */
    size_t pass;                 /* bytes of the frame at `ready` that pass unexamined */
    size_t hold;                 /* the size of the frame at `ready` held whole, or 0 */
    int hold_key, hold_ver;      /* its request's ApiKey and ApiVersion */
} relay_pipe_t;

/* A request whose answer the relay changes. */
typedef struct relay_asked {
    int32_t corr;                /* CorrelationId */
    int key, ver;                /* ApiKey (0: a free slot), ApiVersion */
} relay_asked_t;

struct relay_conn {
    hf_embedded_t *emb;
    relay_conn_t *prev, *next;
    int fd[2];                   /* SIDE_CLIENT: accepted; SIDE_BROKER: to the mock */
    ev_io rd[2], wr[2];
    relay_pipe_t pipe[2];        /* pipe[i]: read from fd[i], written to fd[!i] */
    int eof[2];                  /* fd[i] said all it will say */
    int connecting;              /* the connection to the mock is not established yet */
    relay_asked_t asked[RELAY_ASKED];
    unsigned asked_next;
};

static void relay_close(relay_conn_t *c)
{
    hf_embedded_t *emb = c->emb;
    for (int i = 0; i < 2; i++) {
        ev_io_stop(emb->loop, &c->rd[i]);
        ev_io_stop(emb->loop, &c->wr[i]);
        if (c->fd[i] >= 0)
            close(c->fd[i]);
        free(c->pipe[i].buf);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        emb->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

/* A frame being read: its bytes, its size, the read position; `bad` once a read would go
   past its end (nothing is changed then). */
typedef struct frame {
    unsigned char *f;
    size_t n, o;
    int bad;
} frame_t;

static int32_t be32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static int be16(const unsigned char *p)
{
    return (int16_t)((uint16_t)(p[0] << 8 | p[1]));
}

static void frame_skip(frame_t *r, size_t k)
{
    if (r->bad || k > r->n - r->o)
        r->bad = 1;
    else
        r->o += k;
}

static int32_t frame_i32(frame_t *r)
{
    if (r->bad || r->n - r->o < 4) {
        r->bad = 1;
        return 0;
    }
    r->o += 4;
    return be32(r->f + r->o - 4);
}

/* A STRING or NULLABLE_STRING: INT16 length (-1: null), then the bytes. */
static void frame_skip_string(frame_t *r)
{
    if (r->bad || r->n - r->o < 2) {
        r->bad = 1;
        return;
    }
    int len = be16(r->f + r->o);
    r->o += 2;
    if (len > 0)
        frame_skip(r, (size_t)len);
}

/* A broker's INT32 Port: the mock's becomes the relay's. */
static void frame_port(frame_t *r, const hf_embedded_t *emb)
{
    unsigned char *at = r->f + r->o;
    if (frame_i32(r) != emb->mock_port || r->bad)
        return;
    at[0] = (unsigned char)(emb->port >> 24);
    at[1] = (unsigned char)(emb->port >> 16);
    at[2] = (unsigned char)(emb->port >> 8);
    at[3] = (unsigned char)emb->port;
}

/* MetadataRequest v4-v8: Size, ApiKey, ApiVersion, CorrelationId, ClientId, Topics
   (INT32 count, -1: all; each a STRING), AllowAutoTopicCreation (BOOLEAN), then v8's two
   booleans. The client may not create a hub. */
static void relay_metadata_request(frame_t *r)
{
    frame_skip(r, 12);
    frame_skip_string(r);
    int32_t topics = frame_i32(r);
    for (int32_t t = 0; t < topics && !r->bad; t++)
        frame_skip_string(r);
    if (!r->bad && r->o < r->n)
        r->f[r->o] = 0;
}

/* MetadataResponse v0-v8: Size, CorrelationId, ThrottleTimeMs (v3+), Brokers (INT32 count;
   each NodeId, Host, Port, Rack (v1+)), ... */
static void relay_metadata_response(frame_t *r, int ver, const hf_embedded_t *emb)
{
    frame_skip(r, 8);
    if (ver >= 3)
        frame_skip(r, 4);
    int32_t brokers = frame_i32(r);
    for (int32_t b = 0; b < brokers && !r->bad; b++) {
        frame_skip(r, 4);
        frame_skip_string(r);
        frame_port(r, emb);
        if (ver >= 1)
            frame_skip_string(r);
    }
}

/* FindCoordinatorResponse v0-v2: Size, CorrelationId, ThrottleTimeMs (v1+), ErrorCode,
   ErrorMessage (v1+), NodeId, Host, Port. */
static void relay_coordinator_response(frame_t *r, int ver, const hf_embedded_t *emb)
{
    frame_skip(r, 8);
    if (ver >= 1)
        frame_skip(r, 4);
    frame_skip(r, 2);
    if (ver >= 1)
        frame_skip_string(r);
    frame_skip(r, 4);
    frame_skip_string(r);
    frame_port(r, emb);
}

/* A request starts at f (12 bytes at hand): remember the Metadata and FindCoordinator
   requests, whose answers the relay changes. 1 when the request itself is to be changed
   (a Metadata request that can allow creating hubs). */
static int relay_request(relay_conn_t *c, const unsigned char *f, int *key, int *ver)
{
    *key = be16(f + 4);
    *ver = be16(f + 6);
    if (*key != KAFKA_METADATA && *key != KAFKA_FIND_COORDINATOR)
        return 0;
    relay_asked_t *a = &c->asked[c->asked_next++ % RELAY_ASKED];
    a->corr = be32(f + 8);
    a->key = *key;
    a->ver = *ver;
    return *key == KAFKA_METADATA && *ver >= 4 && *ver <= 8;
}

/* A response starts at f (8 bytes at hand): 1 when it answers a request whose answer the
   relay changes (a version it reads: the flexible ones come later than the mock speaks). */
static int relay_response(relay_conn_t *c, const unsigned char *f, int *key, int *ver)
{
    int32_t corr = be32(f + 4);
    for (size_t k = 0; k < RELAY_ASKED; k++) {
        relay_asked_t *a = &c->asked[k];
        if (a->key == 0 || a->corr != corr)
            continue;
        *key = a->key;
        *ver = a->ver;
        a->key = 0;
        return (*key == KAFKA_METADATA && *ver <= 8) ||
               (*key == KAFKA_FIND_COORDINATOR && *ver <= 2);
    }
    return 0;
}

/* Change a held frame (whole at f) of side i. */
static void relay_change(relay_conn_t *c, int i, unsigned char *f, size_t n, int key, int ver)
{
    frame_t r = {f, n, 0, 0};
    if (i == SIDE_CLIENT)
        relay_metadata_request(&r);
    else if (key == KAFKA_METADATA)
        relay_metadata_response(&r, ver, c->emb);
    else
        relay_coordinator_response(&r, ver, c->emb);
}

/* Examine what was read from side i: pass whole frames and the parts of frames that need
   no change on to the other side, hold a frame to change until it is whole. -1 when the
   bytes are not the Kafka protocol, or a request to change is too large. */
static int relay_examine(relay_conn_t *c, int i)
{
    relay_pipe_t *p = &c->pipe[i];
    while (p->ready < p->len) {
        unsigned char *f = p->buf + p->ready;
        size_t avail = p->len - p->ready;
        if (p->pass) {
            size_t n = avail < p->pass ? avail : p->pass;
            p->ready += n;
            p->pass -= n;
            continue;
        }
        if (p->hold) {
            if (avail < p->hold)
                break;
            relay_change(c, i, f, p->hold, p->hold_key, p->hold_ver);
            p->ready += p->hold;
            p->hold = 0;
            continue;
        }
        /* A frame starts: INT32 Size, then a request's ApiKey, ApiVersion and
           CorrelationId, or a response's CorrelationId. */
        size_t head = i == SIDE_CLIENT ? 12 : 8;
        if (avail < head)
            break;
        int32_t size = be32(f);
        if (size < (int32_t)head - 4)
            return -1;
        size_t total = 4 + (size_t)size;
        int key = 0, ver = 0;
        int change = i == SIDE_CLIENT ? relay_request(c, f, &key, &ver)
                                      : relay_response(c, f, &key, &ver);
        if (change && total > RELAY_FRAME_MAX) {
            if (i == SIDE_CLIENT) {
                hf_log_warn("embedded broker: a Metadata request of %zu bytes is too large; "
                            "closing the connection", total);
                return -1;
            }
            change = 0;
        }
        if (!change) {
            p->pass = total;
            continue;
        }
        p->hold = total;
        p->hold_key = key;
        p->hold_ver = ver;
        if (p->ready + total > p->cap) {
            p->cap = p->ready + total;
            p->buf = hf_realloc(p->buf, p->cap);
        }
    }
    return 0;
}

static void relay_watch(hf_embedded_t *emb, ev_io *w, int on)
{
    if (on && !ev_is_active(w))
        ev_io_start(emb->loop, w);
    else if (!on && ev_is_active(w))
        ev_io_stop(emb->loop, w);
}

/* Watch what can move now: read while there is room, write while there is something
   ready. Closes c (returns -1) once a side that ended has had everything it sent passed
   on. */
static int relay_update(relay_conn_t *c)
{
    for (int i = 0; i < 2; i++)
        if (c->eof[i] && c->pipe[i].ready == 0) {
            relay_close(c);
            return -1;
        }
    for (int i = 0; i < 2; i++) {
        int connecting = i == SIDE_BROKER && c->connecting;
        relay_watch(c->emb, &c->rd[i],
                    !c->eof[i] && !connecting && c->pipe[i].len < c->pipe[i].cap);
        relay_watch(c->emb, &c->wr[i], connecting || c->pipe[!i].ready > 0);
    }
    return 0;
}

static void relay_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    relay_conn_t *c = w->data;
    int i = w == &c->rd[SIDE_CLIENT] ? SIDE_CLIENT : SIDE_BROKER;
    relay_pipe_t *p = &c->pipe[i];
    ssize_t n = read(c->fd[i], p->buf + p->len, p->cap - p->len);
    if (n > 0) {
        p->len += (size_t)n;
        if (relay_examine(c, i) != 0) {
            relay_close(c);
            return;
        }
    } else if (n == 0) {
        c->eof[i] = 1;
    } else if (errno != EAGAIN && errno != EINTR) {
        relay_close(c);
        return;
    }
    relay_update(c);
}

static void relay_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    relay_conn_t *c = w->data;
    int j = w == &c->wr[SIDE_CLIENT] ? SIDE_CLIENT : SIDE_BROKER;
    relay_pipe_t *p = &c->pipe[!j];
    if (j == SIDE_BROKER && c->connecting) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(c->fd[j], SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
            hf_log_debug("embedded broker: the relay cannot reach the mock cluster at %s: %s",
                         c->emb->mock_addr, strerror(soerr ? soerr : errno));
            relay_close(c);
            return;
        }
        c->connecting = 0;
    }
    if (p->ready > 0) {
        ssize_t n = send(c->fd[j], p->buf, p->ready, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            relay_close(c);
            return;
        }
        if (n > 0) {
            memmove(p->buf, p->buf + n, p->len - (size_t)n);
            p->len -= (size_t)n;
            p->ready -= (size_t)n;
            if (p->len == 0 && p->cap > RELAY_CHUNK) {   /* a held frame grew it */
                p->cap = RELAY_CHUNK;
                p->buf = hf_realloc(p->buf, p->cap);
            }
        }
    }
    relay_update(c);
}

static void relay_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Join an accepted connection to a new connection to the mock's port. */
static void relay_open(hf_embedded_t *emb, int client)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)emb->mock_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int broker = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (broker < 0) {
        hf_log_debug("embedded broker: relay: socket: %s", strerror(errno));
        close(client);
        return;
    }
    relay_nodelay(client);
    relay_nodelay(broker);
    int rc = connect(broker, (struct sockaddr *)&sin, sizeof(sin));
    if (rc != 0 && errno != EINPROGRESS) {
        hf_log_debug("embedded broker: the relay cannot reach the mock cluster at %s: %s",
                     emb->mock_addr, strerror(errno));
        close(client);
        close(broker);
        return;
    }
    relay_conn_t *c = hf_calloc(1, sizeof(*c));
    c->emb = emb;
    c->fd[SIDE_CLIENT] = client;
    c->fd[SIDE_BROKER] = broker;
    c->connecting = rc != 0;
    for (int i = 0; i < 2; i++) {
        c->pipe[i].cap = RELAY_CHUNK;
        c->pipe[i].buf = hf_malloc(RELAY_CHUNK);
        ev_io_init(&c->rd[i], relay_on_read, c->fd[i], EV_READ);
        ev_io_init(&c->wr[i], relay_on_write, c->fd[i], EV_WRITE);
        c->rd[i].data = c->wr[i].data = c;
    }
    c->next = emb->conns;
    if (emb->conns)
        emb->conns->prev = c;
    emb->conns = c;
    relay_update(c);
}

static void relay_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    hf_embedded_t *emb = w->data;
    for (;;) {
        int fd = accept4(emb->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                hf_log_debug("embedded broker: relay: accept: %s", strerror(errno));
            return;
        }
        relay_open(emb, fd);
    }
}

/* Listen on 127.0.0.1:port. -1 with one line in err. */
static int relay_listen(hf_embedded_t *emb, int port, char *err, size_t errsz)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errsz, "the embedded broker cannot listen: socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        if (errno == EADDRINUSE)
            snprintf(err, errsz, "the embedded broker's port %d is in use (another hubfn start "
                     "--embedded?); pick another with --embedded-port", port);
        else
            snprintf(err, errsz, "the embedded broker cannot listen on 127.0.0.1:%d: %s", port,
                     strerror(errno));
        close(fd);
        return -1;
    }
    emb->listen_fd = fd;
    emb->port = ntohs(sin.sin_port);
    snprintf(emb->bootstrap, sizeof(emb->bootstrap), "127.0.0.1:%d", emb->port);
    ev_io_init(&emb->accept_w, relay_on_accept, fd, EV_READ);
    emb->accept_w.data = emb;
    ev_io_start(emb->loop, &emb->accept_w);
    return 0;
}

/* ---- the broker ---- */

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

int hf_embedded_start(hf_embedded_t **out, hf_app_t *app, struct ev_loop *loop,
                      const hf_embedded_opts_t *opts, char *err, size_t errsz)
{
    char errstr[512];
    hf_embedded_t *emb = hf_calloc(1, sizeof(*emb));
    emb->loop = loop;
    emb->listen_fd = -1;
    if (relay_listen(emb, opts->port, err, errsz) != 0) {
        free(emb);
        return -1;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
    emb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!emb->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errsz, "embedded broker: %s", errstr);
        hf_embedded_stop(emb);
        return -1;
    }
    emb->mc = rd_kafka_mock_cluster_new(emb->rk, 1);
    if (!emb->mc) {
        snprintf(err, errsz, "embedded broker: cannot start the mock cluster");
        hf_embedded_stop(emb);
        return -1;
    }
    /* A Metadata request names hubs; from version 4 on it also says whether a hub it names
       may be created (AllowAutoTopicCreation), and the mock creates one only when it may.
       Out of the box the mock answers versions 0-2 only, and creates every hub named: it
       answers version 4 only (clients settle on it through ApiVersions; one that cannot
       speak it is refused). */
    if (rd_kafka_mock_set_apiversion(emb->mc, KAFKA_METADATA, 4, 4) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errsz, "embedded broker: cannot set up the mock cluster's Metadata "
                 "versions");
        hf_embedded_stop(emb);
        return -1;
    }
    snprintf(emb->mock_addr, sizeof(emb->mock_addr), "%s",
             rd_kafka_mock_cluster_bootstraps(emb->mc));
    const char *colon = strrchr(emb->mock_addr, ':');
    emb->mock_port = colon ? atoi(colon + 1) : 0;
    /* The hubs of --hub first: they may say how many partitions an app's hub has. */
    for (int h = 0; h < opts->hubs_n; h++) {
        char name[300];
        const char *arg = opts->hubs[h], *sep = strchr(arg, ':');
        snprintf(name, sizeof(name), "%.*s", sep ? (int)(sep - arg) : (int)strlen(arg), arg);
        if (hf_embedded_create_hub(emb, name, sep ? atoi(sep + 1) : opts->partitions) != 0) {
            snprintf(err, errsz, "embedded broker: cannot create hub %s", name);
            hf_embedded_stop(emb);
            return -1;
        }
    }
    for (size_t f = 0; f < app->functions_n; f++) {
        hf_function_t *fn = &app->functions[f];
        int rc = 0;
        for (size_t b = 0; rc == 0 && b <= fn->outputs_n; b++) {
            const hf_binding_t *bd = b == 0 ? &fn->trigger : &fn->outputs[b - 1];
            if (bd->type && bd->type->family == HF_FAMILY_EVENTHUB)
                rc = hf_embedded_create_hub(emb, hf_eventhub_cfg(bd)->hub, opts->partitions);
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
        conn->bootstrap = hf_strdup(emb->mock_addr);
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
    while (emb->conns)
        relay_close(emb->conns);
    if (emb->listen_fd >= 0) {
        ev_io_stop(emb->loop, &emb->accept_w);
        close(emb->listen_fd);
    }
    if (emb->mc)
        rd_kafka_mock_cluster_destroy(emb->mc);
    if (emb->rk)
        rd_kafka_destroy(emb->rk);
    for (size_t i = 0; i < emb->hubs_n; i++)
        free(emb->hubs[i]);
    free(emb->hubs);
    free(emb);
}

int hf_embedded_port(int *port, char *err, size_t errsz)
{
    long n;
    const char *env = getenv("HUBFN_EMBEDDED_PORT");
    *port = HF_EMBEDDED_DEFAULT_PORT;
    if (!env || !*env)
        return 0;
    if (hf_cmdline_int(env, 0, 65535, &n) != 0) {
        snprintf(err, errsz, "HUBFN_EMBEDDED_PORT must be a port number (0-65535), not \"%s\"",
                 env);
        return -1;
    }
    *port = (int)n;
    return 0;
}

int hf_embedded_valid_hub_arg(const char *s)
{
    const char *sep = strchr(s, ':');
    size_t n = sep ? (size_t)(sep - s) : strlen(s);
    long partitions;
    if (n == 0 || n > 256)
        return 0;
    for (size_t k = 0; k < n; k++)
        if (!isalnum((unsigned char)s[k]) && s[k] != '.' && s[k] != '-' && s[k] != '_')
            return 0;
    return !sep || hf_cmdline_int(sep + 1, 1, 65535, &partitions) == 0;
}

/* ---- the host service ---- */

/* Tell a person how to feed and read the embedded broker's hubs. `hubfn send embedded`
   finds the default port on its own; another port is spelled out. */
static void print_commands(const hf_app_t *app, const hf_embedded_t *emb)
{
    const char *addr = emb->bootstrap;
    const char *conn = emb->port == HF_EMBEDDED_DEFAULT_PORT ? "embedded" : addr;
    for (size_t f = 0; f < app->functions_n; f++) {
        const hf_function_t *fn = &app->functions[f];
        if (fn->disabled || fn->trigger.type->family != HF_FAMILY_EVENTHUB)
            continue;
        const char *hub = hf_eventhub_cfg(&fn->trigger)->hub;
        hf_log_info("feed %s: hubfn send %s %s events.jsonl   (or: kcat -P -b %s -t %s -l "
                    "events.jsonl)", fn->name, conn, hub, addr, hub);
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
    hf_embedded_opts_t eopts = {
        .partitions = opts->partitions > 0 ? opts->partitions : 4,
        .port = opts->embedded_port,
        .hubs = opts->embedded_hubs,
        .hubs_n = opts->embedded_hubs_n,
    };
    if (hf_embedded_start(&emb, app, hf_core_loop(core), &eopts, err, errsz) != 0)
        return -1;
    *state = emb;
    hf_log_info("embedded broker listening at %s", emb->bootstrap);
    print_commands(app, emb);
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
