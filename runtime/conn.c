/*
 * Connections and secrets: parse a "connection" setting (Event Hubs connection string,
 * emulator string, Kafka bootstrap list or "embedded") into the librdkafka properties
 * that reach it, and mask every secret hubfn has seen out of the lines it prints.
 */
#include "conn.h"

#include "alloc.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------------------------- */
/* Secrets                                                                             */

/* Secrets shorter than this are not registered: masking them would mangle ordinary text
   (the SharedAccessKey=... pattern still masks them in connection strings). */
#define HF_SECRET_MIN 4
/* At most this many distinct secrets are kept (a real app has a handful). */
#define HF_SECRET_MAX 4096

static pthread_mutex_t secrets_mu = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;          /* sorted longest first, so a whole string masks as one */
static size_t secrets_n, secrets_cap;

/* Register a secret for hf_secret_mask(); duplicates and short strings are ignored. */
void hf_secret_add(const char *secret)
{
    size_t len, pos;
    char *copy;
    if (!secret)
        return;
    len = strlen(secret);
    if (len < HF_SECRET_MIN)
        return;
    pthread_mutex_lock(&secrets_mu);
    for (pos = 0; pos < secrets_n; pos++)
        if (strcmp(secrets[pos], secret) == 0)
            goto out;
    if (secrets_n >= HF_SECRET_MAX)
        goto out;
    if (secrets_n == secrets_cap) {
        secrets_cap = secrets_cap ? secrets_cap * 2 : 8;
        secrets = hf_realloc(secrets, secrets_cap * sizeof(*secrets));
    }
    copy = hf_strdup(secret);
    for (pos = 0; pos < secrets_n && strlen(secrets[pos]) >= len; pos++)
        ;
    memmove(secrets + pos + 1, secrets + pos, (secrets_n - pos) * sizeof(*secrets));
    secrets[pos] = copy;
    secrets_n++;
out:
    pthread_mutex_unlock(&secrets_mu);
}

/* Forget every registered secret (tests and fuzzers). */
void hf_secret_reset(void)
{
    pthread_mutex_lock(&secrets_mu);
    for (size_t k = 0; k < secrets_n; k++)
        free(secrets[k]);
    free(secrets);
    secrets = NULL;
    secrets_n = secrets_cap = 0;
    pthread_mutex_unlock(&secrets_mu);
}

/* Does `in` at `i` start `word` (case-insensitive)? */
static int starts_ci(const char *in, size_t i, const char *word)
{
    return strncasecmp(in + i, word, strlen(word)) == 0;
}

/* Masked assignments: the name, and the characters that end its value when unquoted
   (a SAS token holds spaces; a connection string given as sasl.password holds ';'). */
static const struct {
    const char *name;
    const char *stop;
} masked[] = {
    { "SharedAccessKey", "; \t\r\n\"'),", },
    { "SharedAccessSignature", ";\r\n\"'" },
    { "sasl.password", " \t\r\n\"'" },
};

/* A placeholder rather than a secret: "...", or capitals and '_' only ("KEY",
   "SAS_KEY_VALUE", the emulator's documented value). Real keys are base64. */
static int placeholder(const char *v, const char *stop)
{
    size_t n = 0;
    int dots = 1, caps = 1;
    for (; v[n] && !strchr(stop, v[n]); n++) {
        if (v[n] != '.')
            dots = 0;
        if (!((v[n] >= 'A' && v[n] <= 'Z') || v[n] == '_'))
            caps = 0;
    }
    return n > 0 && (dots || caps);
}

/* If a "NAME=value" assignment of a masked name starts at in[i] (also "NAME": "value"
   when the name is quoted, as in JSON), return the offset of its value and set *stop to
   the characters that end it; else 0. */
static size_t assignment_at(const char *in, size_t i, const char **stop, char *quotebuf)
{
    for (size_t k = 0; k < sizeof(masked) / sizeof(masked[0]); k++) {
        size_t j;
        int quoted = 0;
        if (!starts_ci(in, i, masked[k].name))
            continue;
        j = i + strlen(masked[k].name);
        if (in[j] == '"' || in[j] == '\'') {
            quoted = 1;
            j++;
        }
        while (in[j] == ' ' || in[j] == '\t')
            j++;
        if (in[j] != '=' && !(quoted && in[j] == ':'))
            continue;
        j++;
        while (in[j] == ' ' || in[j] == '\t')
            j++;
        *stop = masked[k].stop;
        if (in[j] == '"' || in[j] == '\'') {
            quotebuf[0] = in[j++];
            quotebuf[1] = '\0';
            *stop = quotebuf;
        }
        if (placeholder(in + j, *stop))
            continue;
        return j;
    }
    return 0;
}

/* Copy with every secret replaced by "***"; see conn.h. */
void hf_secret_mask(const char *in, char *out, size_t outsz)
{
    size_t i = 0, o = 0;
    if (!out || outsz == 0)
        return;
    if (!in) {
        out[0] = '\0';
        return;
    }
#define PUT(ch)                                                                         \
    do {                                                                                \
        char ch_ = (ch);                                                                \
        if (o + 1 < outsz)                                                              \
            out[o++] = ch_;                                                             \
    } while (0)
    pthread_mutex_lock(&secrets_mu);
    while (in[i] && o + 1 < outsz) {
        const char *stop;
        char quotebuf[2];
        size_t v = assignment_at(in, i, &stop, quotebuf);
        int hit = 0;
        if (v) {
            while (i < v)
                PUT(in[i++]);
            { PUT('*'); PUT('*'); PUT('*'); }
            while (in[i] && !strchr(stop, in[i]))
                i++;
            continue;
        }
        for (size_t k = 0; k < secrets_n; k++) {
            size_t l = strlen(secrets[k]);
            if (strncmp(in + i, secrets[k], l) == 0) {
                { PUT('*'); PUT('*'); PUT('*'); }
                i += l;
                hit = 1;
                break;
            }
        }
        if (!hit)
            PUT(in[i++]);
    }
    pthread_mutex_unlock(&secrets_mu);
    out[o] = '\0';
#undef PUT
}

/* ---------------------------------------------------------------------------------- */
/* Connections                                                                         */

#define EH_KAFKA_PORT 9093
#define EMULATOR_KAFKA_PORT 9092

/* Write "<who>: <message>" into err; always returns -1. */
static int conn_fail(char *err, size_t errsz, const char *setting, const char *fmt, ...)
{
    char msg[400], raw[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (setting && *setting)
        snprintf(raw, sizeof(raw), "app setting \"%s\" %s", setting, msg);
    else
        snprintf(raw, sizeof(raw), "the connection value %s", msg);
    if (err && errsz)
        hf_secret_mask(raw, err, errsz);
    return -1;
}

/* Release what a connection owns (not the struct). */
void hf_conn_free(hf_conn_t *conn)
{
    if (!conn)
        return;
    free(conn->setting);
    free(conn->bootstrap);
    free(conn->namespace_);
    free(conn->key_name);
    free(conn->password);
    free(conn->entity_path);
    memset(conn, 0, sizeof(*conn));
}

/* A copy of s[0..n) without surrounding whitespace. */
static char *dup_trim(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return hf_memdup(s, n);
}

/* Parse "1".."65535"; -1 if not a port. */
static int parse_port(const char *s, size_t n)
{
    long v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t k = 0; k < n; k++) {
        if (!isdigit((unsigned char)s[k]))
            return -1;
        v = v * 10 + (s[k] - '0');
    }
    return v >= 1 && v <= 65535 ? (int)v : -1;
}

/* Is s[0..n) a plausible host name or address (no spaces, no separators)? */
static int valid_host(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return 0;
    if (s[0] == '[')
        return n > 2 && s[n - 1] == ']';
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_')
            return 0;
    }
    return 1;
}

/* Split "host[:port]" (host may be "[v6]"); *port = -1 when absent, -2 when malformed. */
static void split_host_port(const char *s, size_t n, size_t *hostlen, int *port)
{
    const char *colon = NULL;
    *port = -1;
    if (n && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb) {
            *hostlen = n;
            *port = -2;
            return;
        }
        *hostlen = (size_t)(rb - s) + 1;
        if (*hostlen < n) {
            if (s[*hostlen] != ':')
                *port = -2;
            else
                *port = parse_port(s + *hostlen + 1, n - *hostlen - 1) < 0
                            ? -2 : parse_port(s + *hostlen + 1, n - *hostlen - 1);
        }
        return;
    }
    for (size_t k = 0; k < n; k++)
        if (s[k] == ':')
            colon = s + k;
    if (!colon) {
        *hostlen = n;
        return;
    }
    *hostlen = (size_t)(colon - s);
    *port = parse_port(colon + 1, n - *hostlen - 1);
    if (*port < 0)
        *port = -2;
}

/* The parts of an Event Hubs connection string we use. */
typedef struct {
    char *endpoint, *key_name, *key, *entity, *sas, *emulator;
    int bad_part;     /* 1-based index of a part without '=' */
} cs_parts_t;

static void cs_free(cs_parts_t *p)
{
    free(p->endpoint);
    free(p->key_name);
    free(p->key);
    free(p->entity);
    free(p->sas);
    free(p->emulator);
}

/* Split "K=V;K=V;..." (keys case-insensitive, last duplicate wins). */
static void cs_split(const char *value, cs_parts_t *p)
{
    const char *s = value;
    int idx = 0;
    memset(p, 0, sizeof(*p));
    while (*s) {
        const char *end = strchr(s, ';'), *eq;
        size_t n = end ? (size_t)(end - s) : strlen(s);
        char *k, **slot = NULL;
        int blank = 1;
        for (size_t j = 0; j < n; j++)
            if (!isspace((unsigned char)s[j]))
                blank = 0;
        if (!blank) {
            idx++;
            eq = memchr(s, '=', n);
            if (!eq) {
                if (!p->bad_part)
                    p->bad_part = idx;
            } else {
                k = dup_trim(s, (size_t)(eq - s));
                if (strcasecmp(k, "Endpoint") == 0)
                    slot = &p->endpoint;
                else if (strcasecmp(k, "SharedAccessKeyName") == 0)
                    slot = &p->key_name;
                else if (strcasecmp(k, "SharedAccessKey") == 0)
                    slot = &p->key;
                else if (strcasecmp(k, "EntityPath") == 0)
                    slot = &p->entity;
                else if (strcasecmp(k, "SharedAccessSignature") == 0)
                    slot = &p->sas;
                else if (strcasecmp(k, "UseDevelopmentEmulator") == 0)
                    slot = &p->emulator;
                free(k);
                if (slot) {
                    free(*slot);
                    *slot = dup_trim(eq + 1, n - (size_t)(eq + 1 - s));
                }
            }
        }
        if (!end)
            break;
        s = end + 1;
    }
}

static const char cs_shape[] =
    "Endpoint=sb://NAMESPACE.servicebus.windows.net/;SharedAccessKeyName=POLICY;"
    "SharedAccessKey=KEY";

/* The connection-string forms (Event Hubs and emulator). */
static int parse_conn_string(hf_conn_t *c, const char *setting, const char *value,
                             char *err, size_t errsz)
{
    cs_parts_t p;
    const char *host;
    size_t hostlen, n;
    int port, emulator;
    char buf[300];

    cs_split(value, &p);
    hf_secret_add(p.key);
    hf_secret_add(p.sas);
    if (p.bad_part) {
        cs_free(&p);
        return conn_fail(err, errsz, setting,
                         "is not a valid connection string: part %d has no '=' (expected %s)",
                         p.bad_part, cs_shape);
    }
    if (p.sas) {
        cs_free(&p);
        return conn_fail(err, errsz, setting,
                         "holds a SharedAccessSignature: SAS tokens are not supported by "
                         "the Event Hubs Kafka endpoint; use a connection string with "
                         "SharedAccessKeyName and SharedAccessKey");
    }
    emulator = p.emulator && strcasecmp(p.emulator, "true") == 0;
    if (!p.endpoint || !*p.endpoint) {
        cs_free(&p);
        return conn_fail(err, errsz, setting,
                         "is not a valid connection string: it has no Endpoint (expected %s)",
                         cs_shape);
    }
    if (strncasecmp(p.endpoint, "sb://", 5) != 0) {
        snprintf(buf, sizeof(buf), "%.120s", p.endpoint);
        cs_free(&p);
        return conn_fail(err, errsz, setting,
                         "is not a valid connection string: Endpoint must start with sb:// "
                         "(got \"%s\")", buf);
    }
    host = p.endpoint + 5;
    n = strcspn(host, "/?#");
    split_host_port(host, n, &hostlen, &port);
    if (port == -2 || !valid_host(host, hostlen)) {
        snprintf(buf, sizeof(buf), "%.120s", p.endpoint);
        cs_free(&p);
        return conn_fail(err, errsz, setting,
                         "is not a valid connection string: Endpoint \"%s\" is not "
                         "sb://HOST[:PORT]/", buf);
    }
    if (!emulator) {
        if (!p.key_name || !*p.key_name) {
            cs_free(&p);
            return conn_fail(err, errsz, setting,
                             "is not a valid connection string: it has no "
                             "SharedAccessKeyName (expected %s)", cs_shape);
        }
        if (!p.key || !*p.key) {
            cs_free(&p);
            return conn_fail(err, errsz, setting,
                             "is not a valid connection string: it has no SharedAccessKey "
                             "(expected %s)", cs_shape);
        }
    }
    if (port < 0)
        port = emulator ? EMULATOR_KAFKA_PORT : EH_KAFKA_PORT;
    c->kind = emulator ? HF_CONN_EMULATOR : HF_CONN_EVENTHUBS;
    c->namespace_ = dup_trim(host, hostlen);
    snprintf(buf, sizeof(buf), "%.*s:%d", (int)hostlen, host, port);
    c->bootstrap = hf_strdup(buf);
    c->password = hf_strdup(value);
    if (p.key_name && *p.key_name)
        c->key_name = hf_strdup(p.key_name);
    if (p.entity && *p.entity)
        c->entity_path = hf_strdup(p.entity);
    cs_free(&p);
    return 0;
}

static const char forms[] =
    "expected an Event Hubs connection string (Endpoint=sb://...;SharedAccessKeyName=...;"
    "SharedAccessKey=...), the emulator's (...;UseDevelopmentEmulator=true), a Kafka "
    "bootstrap list host:port[,host:port...] or \"embedded\"";

/* The bootstrap-list form: "host:port[,host:port...]". */
static int parse_bootstrap(hf_conn_t *c, const char *setting, const char *value, char *err,
                           size_t errsz)
{
    size_t len = strlen(value), o = 0;
    const char *s = value;
    int idx = 0;
    char *out = hf_malloc(len + 1);
    for (;;) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s), hl;
        int port;
        idx++;
        while (n && isspace((unsigned char)*s))
            s++, n--;
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
        split_host_port(s, n, &hl, &port);
        if (n == 0 || !valid_host(s, hl) || port < 0) {
            free(out);
            if (idx == 1 && !end)
                return conn_fail(err, errsz, setting, "is not a connection: %s", forms);
            return conn_fail(err, errsz, setting,
                             "is not a valid bootstrap list: entry %d is not host:port (%s)",
                             idx, forms);
        }
        if (o)
            out[o++] = ',';
        memcpy(out + o, s, n);
        o += n;
        if (!end)
            break;
        s = end + 1;
    }
    out[o] = '\0';
    c->kind = HF_CONN_BOOTSTRAP;
    c->bootstrap = out;
    return 0;
}

/* Parse a connection value; see conn.h. */
int hf_conn_parse(hf_conn_t *conn, const char *setting, const char *value, char *err,
                  size_t errsz)
{
    char *trimmed;
    int rc;
    memset(conn, 0, sizeof(*conn));
    if (!value)
        return conn_fail(err, errsz, setting, "is not set");
    /* Register a connection string before anything can fail, so no message can echo it.
       A bootstrap list or "embedded" holds no secret and stays readable in logs. */
    int secret = strchr(value, '=') != NULL || strchr(value, ';') != NULL;
    if (secret)
        hf_secret_add(value);
    trimmed = dup_trim(value, strlen(value));
    if (secret)
        hf_secret_add(trimmed);
    if (!*trimmed) {
        rc = conn_fail(err, errsz, setting, "is empty (%s)", forms);
    } else if (strcasecmp(trimmed, "embedded") == 0) {
        conn->kind = HF_CONN_EMBEDDED;
        rc = 0;
    } else if (strchr(trimmed, '=')) {
        rc = parse_conn_string(conn, setting, trimmed, err, errsz);
    } else {
        rc = parse_bootstrap(conn, setting, trimmed, err, errsz);
    }
    free(trimmed);
    if (rc == 0)
        conn->setting = hf_strdup(setting ? setting : "");
    else
        hf_conn_free(conn);
    return rc;
}

/* Hand the connection's librdkafka properties to set(). */
int hf_conn_apply(const hf_conn_t *conn, int (*set)(void *ud, const char *k, const char *v),
                  void *ud)
{
    int rc;
    if (!conn || !conn->bootstrap)
        return -1;
    if ((rc = set(ud, "bootstrap.servers", conn->bootstrap)) != 0)
        return rc;
    switch (conn->kind) {
    case HF_CONN_EVENTHUBS:
    case HF_CONN_EMULATOR:
        if ((rc = set(ud, "security.protocol",
                      conn->kind == HF_CONN_EVENTHUBS ? "SASL_SSL" : "SASL_PLAINTEXT")) != 0)
            return rc;
        if ((rc = set(ud, "sasl.mechanisms", "PLAIN")) != 0)
            return rc;
        if ((rc = set(ud, "sasl.username", "$ConnectionString")) != 0)
            return rc;
        return set(ud, "sasl.password", conn->password ? conn->password : "");
    case HF_CONN_BOOTSTRAP:
    case HF_CONN_EMBEDDED:
        return set(ud, "security.protocol", "plaintext");
    }
    return 0;
}

/* A one-line description without secrets. */
const char *hf_conn_describe(const hf_conn_t *conn, char *buf, size_t bufsz)
{
    char raw[512];
    const char *colon;
    int port = 0;
    if (!buf || !bufsz)
        return buf;
    if (!conn) {
        snprintf(buf, bufsz, "no connection");
        return buf;
    }
    colon = conn->bootstrap ? strrchr(conn->bootstrap, ':') : NULL;
    if (colon)
        port = atoi(colon + 1);
    switch (conn->kind) {
    case HF_CONN_EVENTHUBS:
        if (port && port != EH_KAFKA_PORT)
            snprintf(raw, sizeof(raw), "Event Hubs namespace %s (policy %s, port %d)",
                     conn->namespace_ ? conn->namespace_ : "?",
                     conn->key_name ? conn->key_name : "?", port);
        else
            snprintf(raw, sizeof(raw), "Event Hubs namespace %s (policy %s)",
                     conn->namespace_ ? conn->namespace_ : "?",
                     conn->key_name ? conn->key_name : "?");
        break;
    case HF_CONN_EMULATOR:
        snprintf(raw, sizeof(raw), "the Event Hubs emulator at %s",
                 conn->bootstrap ? conn->bootstrap : "?");
        break;
    case HF_CONN_BOOTSTRAP:
        snprintf(raw, sizeof(raw), "Kafka at %s", conn->bootstrap ? conn->bootstrap : "?");
        break;
    case HF_CONN_EMBEDDED:
        /* Its address is the one `hubfn start --embedded` prints; hubfn's own clients
           reach it at another, internal one. */
        snprintf(raw, sizeof(raw), "the embedded broker");
        break;
    default:
        snprintf(raw, sizeof(raw), "an unknown connection");
    }
    hf_secret_mask(raw, buf, bufsz);
    return buf;
}
