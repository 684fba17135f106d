#define _GNU_SOURCE
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

typedef struct hf_http_conn hf_http_conn_t;

struct hf_http_conn {
    hf_http_t *http;
    int fd;
    ev_io io;
    ev_timer timer;
    char in[HF_HTTP_MAX_REQUEST];
    size_t in_len;
    char *out;                   /* the whole response */
    size_t out_len, out_off;
    int lingering;               /* response sent; reading what is left until EOF */
    hf_http_conn_t *prev, *next;
};

struct hf_http {
    struct ev_loop *loop;
    int fd;
    int port;
    ev_io io;
    ev_timer retry;              /* listening again after running out of descriptors */
    hf_http_handler_fn handler;
    void *ud;
    hf_http_conn_t *conns;
    int conns_n;
};

static void conn_close(hf_http_conn_t *c)
{
    hf_http_t *http = c->http;
    ev_io_stop(http->loop, &c->io);
    ev_timer_stop(http->loop, &c->timer);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        http->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->out);
    free(c);
    http->conns_n--;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

void hf_http_text(hf_http_response_t *res, int status, const char *fmt, ...)
{
    va_list ap;
    char *body = NULL;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        body = hf_malloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(body, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    free(res->body);
    res->status = status;
    res->body = body;
    res->body_len = n >= 0 ? (size_t)n : 0;
}

/* Build the response (status line, headers, body unless HEAD) and start writing it. */
static void conn_respond(hf_http_conn_t *c, hf_http_response_t *res, int head_only)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
                     res->status, reason_phrase(res->status),
                     res->content_type ? res->content_type : "text/plain; charset=utf-8",
                     res->body_len, res->status == 405 ? "Allow: GET, HEAD\r\n" : "");
    size_t body_len = head_only ? 0 : res->body_len;
    c->out = hf_malloc((size_t)n + body_len);
    memcpy(c->out, head, (size_t)n);
    if (body_len)
        memcpy(c->out + n, res->body, body_len);
    c->out_len = (size_t)n + body_len;
    free(res->body);
    res->body = NULL;
    ev_io_stop(c->http->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(c->http->loop, &c->io);
}

/* The request head is complete (or too large): parse the request line and answer. */
static void conn_handle(hf_http_conn_t *c, int too_large)
{
    hf_http_response_t res = {200, NULL, NULL, 0};
    int head_only = 0;
    if (too_large) {
        hf_http_text(&res, 431, "request too large (at most %d bytes of request line and "
                     "headers)\n", HF_HTTP_MAX_REQUEST);
        conn_respond(c, &res, 0);
        return;
    }
    /* METHOD SP TARGET SP HTTP/1.x */
    char *line = c->in, *eol = memchr(c->in, '\n', c->in_len);
    *eol = 0;
    if (eol > line && eol[-1] == '\r')
        eol[-1] = 0;
    char *method = line, *target = strchr(method, ' ');
    char *version = target ? strchr(target + 1, ' ') : NULL;
    if (!target || !version || strchr(version + 1, ' ')) {
        hf_http_text(&res, 400, "bad request line\n");
    } else {
        *target++ = 0;
        *version++ = 0;
        head_only = strcmp(method, "HEAD") == 0;
        if (strcmp(version, "HTTP/1.0") != 0 && strcmp(version, "HTTP/1.1") != 0) {
            hf_http_text(&res, strncmp(version, "HTTP/", 5) == 0 ? 505 : 400,
                         "only HTTP/1.0 and HTTP/1.1\n");
        } else if (strcmp(method, "GET") != 0 && !head_only) {
            hf_http_text(&res, 405, "only GET and HEAD\n");
        } else if (target[0] != '/') {
            hf_http_text(&res, 400, "the request target must be a path\n");
        } else {
            target[strcspn(target, "?#")] = 0;
            c->http->handler(c->http->ud, target, &res);
        }
    }
    conn_respond(c, &res, head_only);
}

/* Read what the client sent; answer once the head is complete. */
static void conn_read(hf_http_conn_t *c)
{
    if (c->lingering) {
        /* Discard the rest, so closing does not reset a connection the client still
           reads the response from. */
        char sink[4096];
        ssize_t n;
        while ((n = read(c->fd, sink, sizeof(sink))) > 0)
            ;
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            conn_close(c);
        return;
    }
    for (;;) {
        if (c->in_len == sizeof(c->in)) {
            conn_handle(c, 1);
            return;
        }
        ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {            /* closed or failed before a whole request */
            conn_close(c);
            return;
        }
        size_t from = c->in_len >= 3 ? c->in_len - 3 : 0;
        c->in_len += (size_t)n;
        for (size_t i = from; i < c->in_len; i++) {
            /* The head ends with an empty line (CRLF CRLF, or bare LFs). */
            if (c->in[i] == '\n' && ((i >= 1 && c->in[i - 1] == '\n') ||
                                     (i >= 3 && memcmp(c->in + i - 3, "\r\n\r\n", 4) == 0))) {
                conn_handle(c, 0);
                return;
            }
        }
    }
}

static void conn_write(hf_http_conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    /* Sent: half-close and wait (briefly) for the client to close its side. */
    shutdown(c->fd, SHUT_WR);
    c->lingering = 1;
    ev_io_stop(c->http->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_READ);
    ev_io_start(c->http->loop, &c->io);
    ev_timer_stop(c->http->loop, &c->timer);
    ev_timer_set(&c->timer, 2.0, 0);
    ev_timer_start(c->http->loop, &c->timer);
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    hf_http_conn_t *c = w->data;
    if (revents & EV_WRITE)
        conn_write(c);
    else if (revents & EV_READ)
        conn_read(c);
}

static void on_conn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_close(w->data);
}

/* At the connection limit, make room for a new client by closing the oldest one that is
   not being answered (idle, slow, or lingering), so idle connections cannot lock probes
   out. 0 when every connection is being answered. */
static int evict_one(hf_http_t *http)
{
    hf_http_conn_t *victim = NULL;
    for (hf_http_conn_t *c = http->conns; c; c = c->next)   /* newest first */
        if (!c->out || c->lingering)
            victim = c;
    if (!victim)
        return 0;
    conn_close(victim);
    return 1;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    hf_http_t *http = w->data;
    for (;;) {
        int fd = accept4(http->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: pause for a second rather than spin on the loop. */
                hf_log_warn("http: cannot accept a connection: %s", strerror(errno));
                ev_io_stop(loop, &http->io);
                ev_timer_start(loop, &http->retry);
            }
            return;
        }
        hf_http_conn_t *c = NULL;
        if (http->conns_n < HF_HTTP_MAX_CONNS || evict_one(http))
            c = hf_calloc(1, sizeof(*c));
        if (!c) {                /* every connection is being answered */
            close(fd);
            continue;
        }
        c->http = http;
        c->fd = fd;
        c->next = http->conns;
        if (http->conns)
            http->conns->prev = c;
        http->conns = c;
        http->conns_n++;
        ev_io_init(&c->io, on_conn_io, fd, EV_READ);
        c->io.data = c;
        ev_io_start(loop, &c->io);
        ev_timer_init(&c->timer, on_conn_timeout, HF_HTTP_TIMEOUT_S, 0);
        c->timer.data = c;
        ev_timer_start(loop, &c->timer);
    }
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    hf_http_t *http = w->data;
    ev_io_start(loop, &http->io);
}

/* Fill sa from an IPv4 or IPv6 literal (brackets allowed); its length, or 0. */
static socklen_t parse_address(const char *address, int port, struct sockaddr_storage *sa)
{
    char host[64];
    size_t n = strlen(address);
    memset(sa, 0, sizeof(*sa));
    if (n >= 2 && address[0] == '[' && address[n - 1] == ']') {
        address++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(host))
        return 0;
    memcpy(host, address, n);
    host[n] = 0;
    struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return sizeof(*v4);
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        return sizeof(*v6);
    }
    return 0;
}

int hf_http_valid_address(const char *address)
{
    struct sockaddr_storage sa;
    return address && parse_address(address, 0, &sa) != 0;
}

int hf_http_start(hf_http_t **out, struct ev_loop *loop, const char *address, int port,
                  hf_http_handler_fn handler, void *ud, char *err, size_t errsz)
{
    struct sockaddr_storage sa;
    socklen_t salen = parse_address(address, port, &sa);
    *out = NULL;
    if (!salen) {
        snprintf(err, errsz, "HTTP address \"%s\" is not an IPv4 or IPv6 address", address);
        return -1;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, salen) != 0 || listen(fd, 64) != 0) {
        snprintf(err, errsz, "cannot serve HTTP on %s port %d: %s", address, port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t boundlen = sizeof(bound);
    if (getsockname(fd, (struct sockaddr *)&bound, &boundlen) == 0)
        port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                 : ((struct sockaddr_in *)&bound)->sin_port);
    hf_http_t *http = hf_calloc(1, sizeof(*http));
    http->loop = loop;
    http->fd = fd;
    http->port = port;
    http->handler = handler;
    http->ud = ud;
    ev_io_init(&http->io, on_accept, fd, EV_READ);
    http->io.data = http;
    ev_io_start(loop, &http->io);
    ev_timer_init(&http->retry, on_retry, 1.0, 0);
    http->retry.data = http;
    *out = http;
    return 0;
}

int hf_http_port(const hf_http_t *http)
{
    return http ? http->port : -1;
}

void hf_http_stop(hf_http_t *http)
{
    if (!http)
        return;
    while (http->conns)
        conn_close(http->conns);
    ev_io_stop(http->loop, &http->io);
    ev_timer_stop(http->loop, &http->retry);
    close(http->fd);
    free(http);
}
