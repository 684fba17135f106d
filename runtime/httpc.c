/*
 * HTTP requests through libcurl, on the libev loop or blocking on a worker. See httpc.h.
 */
#define _GNU_SOURCE
#include "httpc.h"

#include <ctype.h>
#include <curl/curl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc.h"
#include "datetime.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One transfer and what it collects. On the loop an easy handle and its buffers serve one
   request after another (the client keeps the idle ones); on a worker each request has its
   own. */
typedef struct xfer {
    CURL *easy;
    char *ca_file;               /* the CURLOPT_CAINFO the handle was made with, or NULL */
    int owned;                   /* res is handed over (a worker's): its headers get a block
                                    of their own; else they point into hbuf */
    struct curl_slist *hdrs;     /* the request's header lines: nodes in hdr_nodes, text in
                                    hdr_text (libcurl only reads them) */
    struct curl_slist *hdr_nodes;
    size_t hdr_nodes_cap;
    hf_buf_t hdr_text;
    hf_buf_t body;               /* the request body (a copy) */
    hf_buf_t hbuf;               /* response headers as they come: "name\0value\0"... */
    size_t hn;                   /* how many there are */
    size_t harr_cap;             /* the capacity of res.headers when not owned */
    size_t keep;
    char why[CURL_ERROR_SIZE];   /* libcurl's own words on a failure */
    hf_httpc_res_t res;
    hf_httpc_done_fn done;
    void *ud;
    struct xfer *prev, *next;    /* the client's transfers, or its idle ones */
} xfer_t;

/* ---------------------------------------------------------------------------------- */
/* Responses                                                                           */

const char *hf_httpc_res_header(const hf_httpc_res_t *res, const char *name)
{
    for (size_t i = res->headers_n; i-- > 0;)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}

void hf_httpc_res_free(hf_httpc_res_t *res)
{
    hf_buf_free(&res->body);
    free(res->headers);          /* one block: the array, then the names and values */
    res->headers = NULL;
    res->headers_n = 0;
}

double hf_httpc_retry_after(const char *v, int64_t now_ms)
{
    if (!v)
        return -1;
    while (isspace((unsigned char)*v))
        v++;
    if (isdigit((unsigned char)*v)) {
        char *end;
        double s = strtod(v, &end);
        while (isspace((unsigned char)*end))
            end++;
        return *end ? -1 : s;
    }
    /* an HTTP date: "Wed, 21 Oct 2015 07:28:00 GMT" */
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end)
        return -1;
    int64_t at_ms = (int64_t)timegm(&tm) * 1000;
    double s = (double)(at_ms - now_ms) / 1000.0;
    return s > 0 ? s : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Transfers                                                                           */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    xfer_t *x = ud;
    size_t len = size * n;
    if (x->res.body.len < x->keep) {
        size_t take = x->keep - x->res.body.len;
        hf_buf_append(&x->res.body, p, len < take ? len : take);
    }
    return len;
}

/* A response header line: kept in hbuf (one buffer, reused on the loop) until the
   transfer ends, when xfer_finish makes res.headers of them. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    xfer_t *x = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        x->hbuf.len = 0;         /* a new response (after 100 Continue, say) */
        x->hn = 0;
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return len;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t at = x->hbuf.len;
    hf_buf_append(&x->hbuf, p, nl);
    for (char *c = x->hbuf.data + at; c < x->hbuf.data + at + nl; c++)
        *c = (char)tolower((unsigned char)*c);
    hf_buf_append(&x->hbuf, "", 1);
    size_t vat = x->hbuf.len;
    hf_buf_append(&x->hbuf, v, (size_t)(end - v));
    /* a NUL of the server's would end a string early (NULs separate them here) */
    if (memchr(p, 0, len))
        for (char *c = x->hbuf.data + at; c < x->hbuf.data + x->hbuf.len; c++)
            if (!*c && c != x->hbuf.data + vat - 1)
                *c = ' ';
    hf_buf_append(&x->hbuf, "", 1);
    x->hn++;
    return len;
}

/* res.headers from hbuf: a block of its own when res is handed over, else an array of
   the transfer's pointing into hbuf. */
static void publish_headers(xfer_t *x)
{
    hf_httpc_res_t *r = &x->res;
    const char *s = x->hbuf.data;
    hf_header_t *h;
    if (x->owned && !x->hn) {
        h = NULL;
    } else if (x->owned) {
        char *block = hf_malloc(x->hn * sizeof(*h) + x->hbuf.len + 1);
        h = (hf_header_t *)(void *)block;
        char *text = block + x->hn * sizeof(*h);
        if (x->hbuf.len)
            memcpy(text, s, x->hbuf.len);
        s = text;
    } else {
        if (x->harr_cap < x->hn) {
            x->harr_cap = x->hn + 8;
            r->headers = hf_realloc(r->headers, x->harr_cap * sizeof(*h));
        }
        h = r->headers;
    }
    for (size_t i = 0; i < x->hn; i++) {
        size_t nl = strlen(s);
        h[i].name = (char *)s;
        h[i].value = (char *)s + nl + 1;
        h[i].value_len = strlen(h[i].value);
        s = h[i].value + h[i].value_len + 1;
    }
    r->headers = h;
    r->headers_n = x->hn;
}

/* The options every request of the handle shares. */
static xfer_t *xfer_alloc(const char *ca_file, int owned)
{
    pthread_once(&curl_once, curl_init_once);
    xfer_t *x = hf_calloc(1, sizeof(*x));
    x->owned = owned;
    x->easy = curl_easy_init();
    if (!x->easy)
        hf_oom_at(0, __FILE__, __LINE__);
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->why);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "hubfn/" HF_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (ca_file) {
        x->ca_file = hf_strdup(ca_file);
        curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    return x;
}

/* Room for one more request header line of n bytes (its NUL included). */
static void header_line(xfer_t *x, size_t *nodes, const char *a, size_t an, const char *b,
                        size_t bn)
{
    if (*nodes == x->hdr_nodes_cap) {
        x->hdr_nodes_cap = x->hdr_nodes_cap ? 2 * x->hdr_nodes_cap : 8;
        x->hdr_nodes = hf_realloc(x->hdr_nodes, x->hdr_nodes_cap * sizeof(*x->hdr_nodes));
    }
    /* the text's offset for now: hdr_text may move while it grows */
    x->hdr_nodes[*nodes].data = (char *)(uintptr_t)x->hdr_text.len;
    (*nodes)++;
    hf_buf_append(&x->hdr_text, a, an);
    if (b) {
        hf_buf_append(&x->hdr_text, ": ", 2);
        hf_buf_append(&x->hdr_text, b, bn);
    }
    hf_buf_append(&x->hdr_text, "", 1);
}

/* Set the handle up for req. fresh: the handle has served no request yet. */
static void xfer_prepare(xfer_t *x, const hf_httpc_req_t *req, int fresh)
{
    CURL *e = x->easy;
    x->keep = req->keep_body;
    x->why[0] = 0;
    x->hn = 0;
    x->hbuf.len = 0;
    x->res.status = x->res.transport = x->res.retryable = 0;
    x->res.error[0] = 0;
    x->res.seconds = 0;
    x->res.headers_n = 0;
    x->res.body.len = 0;
    if (x->res.body.data)
        x->res.body.data[0] = 0;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : 30000;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout < 10000 ? timeout : 10000L);
    if (!fresh) {
        /* back to a GET without a body, as a new handle starts */
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    const char *method = req->method ? req->method : req->body ? "POST" : "GET";
    if (req->body) {
        x->body.len = 0;
        hf_buf_append(&x->body, req->body, req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body.data ? x->body.data : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (strcmp(method, "GET") == 0 && !req->body)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "POST") != 0 || !req->body)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    /* The header lines, in nodes and text of the transfer's own (no allocation once they
       are big enough). No "Expect: 100-continue": it would hold a body for a second on a
       server that does not answer it (libcurl asks for it only for a body over 1 KB, 1 MB
       in recent versions, so a smaller body needs no line to prevent it). A body goes as it is: without a
       Content-Type of the caller's, none (libcurl would label it
       application/x-www-form-urlencoded). */
    size_t n = 0;
    x->hdr_text.len = 0;
    if (req->body && req->body_len > 1024)
        header_line(x, &n, "Expect:", 7, NULL, 0);
    int typed = 0;
    for (size_t i = 0; i < req->headers_n; i++)
        typed |= strcasecmp(req->headers[i].name, "Content-Type") == 0;
    if (req->body && !typed)
        header_line(x, &n, "Content-Type:", 13, NULL, 0);
    for (size_t i = 0; i < req->headers_n; i++) {
        const hf_header_t *h = &req->headers[i];
        const char *v = h->value ? h->value : "";
        /* a line ends at a NUL, as libcurl reads it */
        size_t vn = h->value ? strnlen(v, h->value_len) : 0;
        header_line(x, &n, h->name, strlen(h->name), v, vn);
    }
    for (size_t i = 0; i < n; i++) {
        x->hdr_nodes[i].data = x->hdr_text.data + (uintptr_t)x->hdr_nodes[i].data;
        x->hdr_nodes[i].next = i + 1 < n ? &x->hdr_nodes[i + 1] : NULL;
    }
    x->hdrs = x->hdr_nodes;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
}

static xfer_t *xfer_new(const hf_httpc_req_t *req)
{
    xfer_t *x = xfer_alloc(req->ca_file, 1);
    xfer_prepare(x, req, 1);
    return x;
}

/* Transport failures that may pass when tried again. */
static int retryable(CURLcode code)
{
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
        return 1;
    default:
        return 0;
    }
}

/* Fill in the outcome once the transfer ended with `code`. */
static void xfer_finish(xfer_t *x, CURLcode code)
{
    long status = 0;
    double secs = 0;
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &secs);
    x->res.seconds = secs;
    publish_headers(x);
    if (code == CURLE_OK) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        x->res.status = (int)status;
        return;
    }
    x->res.status = 0;
    x->res.transport = (int)code;
    x->res.retryable = retryable(code);
    /* "SSL certificate problem: unable to get local issuer certificate" says more than the
       code's "SSL peer certificate or SSH remote key was not OK" */
    snprintf(x->res.error, sizeof(x->res.error), "%s", x->why[0] ? x->why
                                                                  : curl_easy_strerror(code));
    if (code == CURLE_OPERATION_TIMEDOUT)
        snprintf(x->res.error, sizeof(x->res.error), "timed out after %.1f s", secs);
}

static void xfer_free(xfer_t *x)
{
    curl_easy_cleanup(x->easy);
    free(x->ca_file);
    free(x->hdr_nodes);
    hf_buf_free(&x->hdr_text);
    hf_buf_free(&x->body);
    hf_buf_free(&x->hbuf);
    if (x->owned) {
        hf_httpc_res_free(&x->res);
    } else {
        hf_buf_free(&x->res.body);
        free(x->res.headers);    /* pointers into hbuf */
    }
    free(x);
}

/* ---------------------------------------------------------------------------------- */
/* On the loop                                                                         */

/* Idle easy handles kept for the next requests (each keeps its buffers). */
#define IDLE_MAX 64

typedef struct sock {
    ev_io io;
    hf_httpc_t *c;
    curl_socket_t fd;
    int what;                    /* CURL_POLL_IN / OUT */
    struct sock *prev, *next;
} sock_t;

struct hf_httpc {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer;
    ev_prepare start;            /* starts the requests a loop iteration added, at its end */
    int64_t timer_due_us;        /* libcurl's timeout, monotonic; -1 none, 0 at once */
    size_t in_flight;
    size_t added;                /* requests added and not started by libcurl yet */
    xfer_t *xfers;
    xfer_t *idle;
    size_t idle_n;
    sock_t *socks;
    sock_t *spare;               /* freed sock_t kept for the next socket */
    int serving;                 /* inside check_done: no recursion */
};

static void check_done(hf_httpc_t *c)
{
    CURLMsg *msg;
    int left;
    if (c->serving)
        return;
    c->serving = 1;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        xfer_t *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode code = msg->data.result;
        curl_multi_remove_handle(c->multi, x->easy);
        if (x->prev)
            x->prev->next = x->next;
        else
            c->xfers = x->next;
        if (x->next)
            x->next->prev = x->prev;
        c->in_flight--;
        xfer_finish(x, code);
        x->done(x->ud, &x->res);
        if (c->idle_n < IDLE_MAX) {
            x->prev = NULL;
            x->next = c->idle;
            c->idle = x;
            c->idle_n++;
        } else {
            xfer_free(x);
        }
    }
    c->serving = 0;
}

static void on_sock(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    sock_t *k = w->data;
    hf_httpc_t *c = k->c;
    int running;
    int action = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
                 (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(c->multi, k->fd, action, &running);
    check_done(c);
}

/* libcurl's timeouts, and the start of requests added (a timeout of 0). */
static void run_timeouts(hf_httpc_t *c)
{
    int running;
    c->timer_due_us = -1;
    c->added = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    run_timeouts(w->data);
}

/* After the loop iteration's callbacks, before it waits again: the requests they added
   start together, and the wait that follows is not cut short by libcurl's zero timeout
   (an extra iteration, one more epoll_wait per batch of answers). */
static void on_start(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    hf_httpc_t *c = w->data;
    ev_prepare_stop(loop, w);
    if (c->added)
        run_timeouts(c);
}

/* CURLMOPT_SOCKETFUNCTION: watch (or stop watching) a socket. */
static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    hf_httpc_t *c = userp;
    sock_t *k = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (k) {
            ev_io_stop(c->loop, &k->io);
            if (k->prev)
                k->prev->next = k->next;
            else
                c->socks = k->next;
            if (k->next)
                k->next->prev = k->prev;
            k->next = c->spare;
            c->spare = k;
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!k) {
        if (c->spare) {
            k = c->spare;
            c->spare = k->next;
            memset(k, 0, sizeof(*k));
        } else {
            k = hf_calloc(1, sizeof(*k));
        }
        k->c = c;
        k->fd = s;
        k->next = c->socks;
        if (c->socks)
            c->socks->prev = k;
        c->socks = k;
        curl_multi_assign(c->multi, s, k);
        ev_io_init(&k->io, on_sock, s, events);
        k->io.data = k;
    } else if (k->what == what && ev_is_active(&k->io)) {
        return 0;
    } else {
        ev_io_stop(c->loop, &k->io);
        ev_io_set(&k->io, s, events);
    }
    k->what = what;
    ev_io_start(c->loop, &k->io);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: libcurl wants to be called back after timeout_ms (-1: never). */
static int on_timer_set(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    hf_httpc_t *c = userp;
    ev_timer_stop(c->loop, &c->timer);
    c->timer_due_us = -1;
    if (timeout_ms >= 0) {
        ev_timer_set(&c->timer, (double)timeout_ms / 1000.0, 0);
        ev_timer_start(c->loop, &c->timer);
        c->timer_due_us = timeout_ms ? hf_mono_us() + (int64_t)timeout_ms * 1000 : 0;
    }
    return 0;
}

hf_httpc_t *hf_httpc_new(struct ev_loop *loop)
{
    pthread_once(&curl_once, curl_init_once);
    hf_httpc_t *c = hf_calloc(1, sizeof(*c));
    c->loop = loop;
    c->timer_due_us = -1;
    c->multi = curl_multi_init();
    if (!c->multi)
        hf_oom_at(0, __FILE__, __LINE__);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    ev_init(&c->timer, on_timer);
    c->timer.data = c;
    ev_prepare_init(&c->start, on_start);
    c->start.data = c;
    return c;
}

/* An idle handle made with the same CA file, or a new one. */
static xfer_t *take_idle(hf_httpc_t *c, const char *ca_file, int *fresh)
{
    for (xfer_t **pp = &c->idle; *pp; pp = &(*pp)->next) {
        xfer_t *x = *pp;
        if (x->ca_file == ca_file || (x->ca_file && ca_file && !strcmp(x->ca_file, ca_file))) {
            *pp = x->next;
            c->idle_n--;
            *fresh = 0;
            return x;
        }
    }
    *fresh = 1;
    return xfer_alloc(ca_file, 0);
}

void hf_httpc_send(hf_httpc_t *c, const hf_httpc_req_t *req, hf_httpc_done_fn done, void *ud)
{
    int fresh;
    xfer_t *x = take_idle(c, req->ca_file, &fresh);
    xfer_prepare(x, req, fresh);
    x->done = done;
    x->ud = ud;
    x->prev = NULL;
    x->next = c->xfers;
    if (c->xfers)
        c->xfers->prev = x;
    c->xfers = x;
    c->in_flight++;
    c->added++;
    curl_multi_add_handle(c->multi, x->easy);
    if (!ev_is_active(&c->start))
        ev_prepare_start(c->loop, &c->start);
}

size_t hf_httpc_in_flight(const hf_httpc_t *c)
{
    return c ? c->in_flight : 0;
}

void hf_httpc_poll(hf_httpc_t *c, int timeout_ms)
{
    struct pollfd fds[64];
    sock_t *ks[64];
    int n = 0;
    for (sock_t *k = c->socks; k && n < 64; k = k->next) {
        fds[n].fd = k->fd;
        fds[n].events = (short)((k->what & CURL_POLL_IN ? POLLIN : 0) |
                                (k->what & CURL_POLL_OUT ? POLLOUT : 0));
        fds[n].revents = 0;
        ks[n++] = k;
    }
    if (c->timer_due_us >= 0) {
        int64_t left = c->timer_due_us ? (c->timer_due_us - hf_mono_us()) / 1000 : 0;
        if (left < timeout_ms)
            timeout_ms = left > 0 ? (int)left : 0;
    }
    int ready = poll(fds, (nfds_t)n, timeout_ms);
    int running;
    for (int i = 0; ready > 0 && i < n; i++) {
        if (!fds[i].revents)
            continue;
        int action = (fds[i].revents & (POLLIN | POLLHUP | POLLERR) ? CURL_CSELECT_IN : 0) |
                     (fds[i].revents & POLLOUT ? CURL_CSELECT_OUT : 0);
        curl_multi_socket_action(c->multi, ks[i]->fd, action, &running);
        break;                   /* the socket list may have changed */
    }
    if (c->timer_due_us >= 0 && (c->timer_due_us == 0 || hf_mono_us() >= c->timer_due_us))
        run_timeouts(c);
    check_done(c);
}

void hf_httpc_free(hf_httpc_t *c)
{
    if (!c)
        return;
    while (c->xfers) {
        xfer_t *x = c->xfers;
        c->xfers = x->next;
        curl_multi_remove_handle(c->multi, x->easy);
        xfer_free(x);
    }
    while (c->idle) {
        xfer_t *x = c->idle;
        c->idle = x->next;
        xfer_free(x);
    }
    curl_multi_cleanup(c->multi);   /* removes its sockets through on_socket */
    while (c->socks) {
        sock_t *k = c->socks;
        c->socks = k->next;
        ev_io_stop(c->loop, &k->io);
        free(k);
    }
    while (c->spare) {
        sock_t *k = c->spare;
        c->spare = k->next;
        free(k);
    }
    ev_timer_stop(c->loop, &c->timer);
    ev_prepare_stop(c->loop, &c->start);
    free(c);
}

/* ---------------------------------------------------------------------------------- */
/* On a worker                                                                         */

/* A set of requests started together; it is done when every one is answered or its
   deadline passes. */
struct hf_httpc_group {
    hf_httpc_sync_t *s;
    xfer_t **xs;
    hf_httpc_res_t *res;         /* the caller's */
    size_t n, left;
    int64_t deadline_us;
    void *ud;
    int done;
    struct hf_httpc_group *prev, *next;   /* in s->running or s->finished */
};

struct hf_httpc_sync {
    CURLM *multi;
    hf_httpc_group_t *running;   /* groups with requests in flight */
    hf_httpc_group_t *finished, *finished_tail;   /* done, not taken yet */
    size_t groups;               /* started and not taken */
};

hf_httpc_sync_t *hf_httpc_sync_new(void)
{
    pthread_once(&curl_once, curl_init_once);
    hf_httpc_sync_t *s = hf_calloc(1, sizeof(*s));
    s->multi = curl_multi_init();
    if (!s->multi)
        hf_oom_at(0, __FILE__, __LINE__);
    curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    return s;
}

static void group_unlink(hf_httpc_group_t **head, hf_httpc_group_t *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else
        *head = g->next;
    if (g->next)
        g->next->prev = g->prev;
    g->prev = g->next = NULL;
}

/* Every request of g is answered or cut: hand the results over, free the transfers and
   move g to the finished list. */
static void group_finish(hf_httpc_group_t *g)
{
    hf_httpc_sync_t *s = g->s;
    for (size_t i = 0; i < g->n; i++) {
        xfer_t *x = g->xs[i];
        if (!x->res.status && !x->res.transport && !x->res.error[0]) {
            /* still running at the deadline */
            curl_multi_remove_handle(s->multi, x->easy);
            x->res.transport = CURLE_OPERATION_TIMEDOUT;
            snprintf(x->res.error, sizeof(x->res.error), "timed out (the invocation's "
                     "deadline came first)");
        }
        g->res[i] = x->res;
        memset(&x->res, 0, sizeof(x->res));
        xfer_free(x);
    }
    free(g->xs);
    g->xs = NULL;
    g->done = 1;
    group_unlink(&s->running, g);
    g->prev = s->finished_tail;
    if (s->finished_tail)
        s->finished_tail->next = g;
    else
        s->finished = g;
    s->finished_tail = g;
}

hf_httpc_group_t *hf_httpc_sync_start(hf_httpc_sync_t *s, const hf_httpc_req_t *reqs,
                                      hf_httpc_res_t *res, size_t n, int64_t deadline_us,
                                      void *ud)
{
    hf_httpc_group_t *g = hf_calloc(1, sizeof(*g));
    g->s = s;
    g->res = res;
    g->n = g->left = n;
    g->deadline_us = deadline_us;
    g->ud = ud;
    g->xs = hf_calloc(n ? n : 1, sizeof(*g->xs));
    g->next = s->running;
    if (s->running)
        s->running->prev = g;
    s->running = g;
    s->groups++;
    for (size_t i = 0; i < n; i++) {
        g->xs[i] = xfer_new(&reqs[i]);
        g->xs[i]->ud = g;
        curl_multi_add_handle(s->multi, g->xs[i]->easy);
    }
    if (n == 0)
        group_finish(g);
    return g;
}

/* Collect what libcurl finished, and cut groups past their deadline. */
static void sync_progress(hf_httpc_sync_t *s)
{
    int running = 0;
    curl_multi_perform(s->multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        xfer_t *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        xfer_finish(x, msg->data.result);
        curl_multi_remove_handle(s->multi, x->easy);
        hf_httpc_group_t *g = x->ud;
        if (--g->left == 0)
            group_finish(g);
    }
    int64_t now = 0;
    for (hf_httpc_group_t *g = s->running, *next; g; g = next) {
        next = g->next;
        if (!g->deadline_us)
            continue;
        if (!now)
            now = hf_mono_us();
        if (now >= g->deadline_us)
            group_finish(g);
    }
}

void hf_httpc_sync_wait(hf_httpc_sync_t *s, int timeout_ms)
{
    sync_progress(s);
    if (s->finished || !s->running) {
        if (!s->finished && timeout_ms > 0)
            curl_multi_poll(s->multi, NULL, 0, timeout_ms, NULL);   /* only a wakeup ends it */
        return;
    }
    int wait_ms = timeout_ms;
    int64_t now = hf_mono_us();
    for (hf_httpc_group_t *g = s->running; g; g = g->next) {
        if (!g->deadline_us)
            continue;
        int64_t left_ms = (g->deadline_us - now) / 1000 + 1;
        if (left_ms < wait_ms)
            wait_ms = left_ms > 0 ? (int)left_ms : 0;
    }
    curl_multi_poll(s->multi, NULL, 0, wait_ms, NULL);
    sync_progress(s);
}

void *hf_httpc_sync_take(hf_httpc_sync_t *s)
{
    hf_httpc_group_t *g = s->finished;
    if (!g)
        return NULL;
    s->finished = g->next;
    if (!s->finished)
        s->finished_tail = NULL;
    else
        s->finished->prev = NULL;
    void *ud = g->ud;
    s->groups--;
    free(g);
    return ud;
}

size_t hf_httpc_sync_groups(const hf_httpc_sync_t *s)
{
    return s->groups;
}

void hf_httpc_sync_wakeup(hf_httpc_sync_t *s)
{
    curl_multi_wakeup(s->multi);
}

void hf_httpc_sync_cancel(hf_httpc_group_t *g)
{
    hf_httpc_sync_t *s = g->s;
    if (!g->done) {
        for (size_t i = 0; i < g->n; i++) {
            curl_multi_remove_handle(s->multi, g->xs[i]->easy);
            xfer_free(g->xs[i]);
        }
        free(g->xs);
        group_unlink(&s->running, g);
    } else {
        group_unlink(&s->finished, g);
        if (s->finished_tail == g || !s->finished)
            for (s->finished_tail = s->finished; s->finished_tail && s->finished_tail->next;)
                s->finished_tail = s->finished_tail->next;
        for (size_t i = 0; i < g->n; i++)
            hf_httpc_res_free(&g->res[i]);
    }
    s->groups--;
    free(g);
}

void hf_httpc_sync_run(hf_httpc_sync_t *s, const hf_httpc_req_t *reqs, hf_httpc_res_t *res,
                       size_t n, int64_t deadline_us)
{
    /* Others' groups may finish meanwhile: they stay on the finished list for their
       owner; this one is taken out when it is done. */
    hf_httpc_group_t *g = hf_httpc_sync_start(s, reqs, res, n, deadline_us, NULL);
    while (!g->done)
        hf_httpc_sync_wait(s, 1000);
    group_unlink(&s->finished, g);
    if (s->finished_tail == g || !s->finished)
        for (s->finished_tail = s->finished; s->finished_tail && s->finished_tail->next;)
            s->finished_tail = s->finished_tail->next;
    s->groups--;
    free(g);
}

void hf_httpc_sync_free(hf_httpc_sync_t *s)
{
    if (!s)
        return;
    while (s->running)
        hf_httpc_sync_cancel(s->running);
    while (s->finished)
        hf_httpc_sync_cancel(s->finished);
    curl_multi_cleanup(s->multi);
    free(s);
}
