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

/* One transfer and what it collects. */
typedef struct xfer {
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;                  /* the request body (a copy) */
    size_t keep;
    char why[CURL_ERROR_SIZE];   /* libcurl's own words on a failure */
    hf_httpc_res_t res;
    hf_httpc_done_fn done;
    void *ud;
    struct xfer *prev, *next;    /* the client's transfers */
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
    for (size_t i = 0; i < res->headers_n; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    free(res->headers);
    res->headers = NULL;
    res->headers_n = 0;
}

static void res_clear_headers(hf_httpc_res_t *res)
{
    for (size_t i = 0; i < res->headers_n; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
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

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    xfer_t *x = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        res_clear_headers(&x->res);   /* a new response (after 100 Continue, say) */
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
    hf_httpc_res_t *r = &x->res;
    r->headers = hf_realloc(r->headers, (r->headers_n + 1) * sizeof(*r->headers));
    hf_header_t *h = &r->headers[r->headers_n++];
    h->name = hf_memdup(p, nl);
    for (char *c = h->name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    h->value = hf_memdup(v, (size_t)(end - v));
    h->value_len = (size_t)(end - v);
    return len;
}

/* curl_slist_append under the allocation policy (alloc.h): a request never goes out
   without one of its headers. */
static struct curl_slist *header_add(struct curl_slist *list, const char *line)
{
    struct curl_slist *grown = curl_slist_append(list, line);
    if (!grown)
        hf_oom_at(strlen(line), __FILE__, __LINE__);
    return grown;
}

static xfer_t *xfer_new(const hf_httpc_req_t *req)
{
    pthread_once(&curl_once, curl_init_once);
    xfer_t *x = hf_calloc(1, sizeof(*x));
    x->keep = req->keep_body;
    x->easy = curl_easy_init();
    if (!x->easy)
        hf_oom_at(0, __FILE__, __LINE__);
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->why);
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "hubfn/" HF_VERSION);
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : 30000;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout < 10000 ? timeout : 10000L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (req->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
    const char *method = req->method ? req->method : req->body ? "POST" : "GET";
    if (req->body) {
        x->body = hf_memdup(req->body, req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (strcmp(method, "GET") == 0 && !req->body)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "POST") != 0 || !req->body)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    /* No "Expect: 100-continue": it would hold every body of over 1 KB for a second on a
       server that does not answer it. */
    x->hdrs = header_add(NULL, "Expect:");
    /* A body goes as it is: without a Content-Type of the caller's, none (libcurl would
       label it application/x-www-form-urlencoded). */
    int typed = 0;
    for (size_t i = 0; i < req->headers_n; i++)
        typed |= strcasecmp(req->headers[i].name, "Content-Type") == 0;
    if (req->body && !typed)
        x->hdrs = header_add(x->hdrs, "Content-Type:");
    for (size_t i = 0; i < req->headers_n; i++) {
        const hf_header_t *h = &req->headers[i];
        size_t n = strlen(h->name) + h->value_len + 3;
        char *line = hf_malloc(n);
        snprintf(line, n, "%s: %.*s", h->name, (int)h->value_len, h->value ? h->value : "");
        x->hdrs = header_add(x->hdrs, line);
        free(line);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
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
    curl_slist_free_all(x->hdrs);
    free(x->body);
    hf_httpc_res_free(&x->res);
    free(x);
}

/* ---------------------------------------------------------------------------------- */
/* On the loop                                                                         */

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
    int64_t timer_due_us;        /* libcurl's timeout, monotonic; -1 none */
    size_t in_flight;
    xfer_t *xfers;
    sock_t *socks;
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
        xfer_free(x);
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

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    hf_httpc_t *c = w->data;
    int running;
    c->timer_due_us = -1;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
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
            free(k);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!k) {
        k = hf_calloc(1, sizeof(*k));
        k->c = c;
        k->fd = s;
        k->next = c->socks;
        if (c->socks)
            c->socks->prev = k;
        c->socks = k;
        curl_multi_assign(c->multi, s, k);
        ev_io_init(&k->io, on_sock, s, events);
        k->io.data = k;
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
        c->timer_due_us = hf_mono_us() + (int64_t)timeout_ms * 1000;
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
    return c;
}

void hf_httpc_send(hf_httpc_t *c, const hf_httpc_req_t *req, hf_httpc_done_fn done, void *ud)
{
    xfer_t *x = xfer_new(req);
    x->done = done;
    x->ud = ud;
    x->next = c->xfers;
    if (c->xfers)
        c->xfers->prev = x;
    c->xfers = x;
    c->in_flight++;
    curl_multi_add_handle(c->multi, x->easy);
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
        int64_t left = (c->timer_due_us - hf_mono_us()) / 1000;
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
    if (c->timer_due_us >= 0 && hf_mono_us() >= c->timer_due_us) {
        c->timer_due_us = -1;
        curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
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
    curl_multi_cleanup(c->multi);   /* removes its sockets through on_socket */
    while (c->socks) {
        sock_t *k = c->socks;
        c->socks = k->next;
        ev_io_stop(c->loop, &k->io);
        free(k);
    }
    ev_timer_stop(c->loop, &c->timer);
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
