#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "datetime.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static hf_log_format_t log_format = HF_LOG_TEXT;
static int log_color;
static hf_log_level_t log_level = HF_LOG_INFO;

void hf_log_setup(hf_log_format_t format, int color)
{
    log_format = format;
    log_color = color;
}

void hf_log_set_level(hf_log_level_t lvl)
{
    log_level = lvl;
}

hf_log_level_t hf_log_get_level(void)
{
    return log_level;
}

hf_log_format_t hf_log_get_format(void)
{
    return log_format;
}

static const char *const level_names[] = { "Trace", "Debug", "Information", "Warning",
                                           "Error", "Critical", "None" };

/* Canonical name of a level. */
const char *hf_log_level_name(hf_log_level_t lvl)
{
    if ((int)lvl < 0 || (int)lvl > HF_LOG_NONE)
        return "Information";
    return level_names[lvl];
}

/* Parse a level name, case-insensitively; "Info"/"Warn" accepted too. */
int hf_log_level_parse(const char *s, hf_log_level_t *lvl)
{
    if (!s)
        return -1;
    for (int i = 0; i <= HF_LOG_NONE; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *lvl = (hf_log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(s, "info") == 0) {
        *lvl = HF_LOG_INFO;
        return 0;
    }
    if (strcasecmp(s, "warn") == 0) {
        *lvl = HF_LOG_WARN;
        return 0;
    }
    return -1;
}

/* hf_time_format cut to bufsz bytes. */
void hf_log_time_iso(int64_t ms, char *buf, size_t bufsz)
{
    char ts[HF_TIME_FORMAT_MAX];
    size_t n = hf_time_format(ms, ts);
    if (bufsz == 0)
        return;
    if (n >= bufsz)
        n = bufsz - 1;
    memcpy(buf, ts, n);
    buf[n] = '\0';
}

static const char *level_tag(hf_log_level_t lvl)
{
    switch (lvl) {
    case HF_LOG_TRACE: return "trace";
    case HF_LOG_DEBUG: return "debug";
    case HF_LOG_INFO: return "info";
    case HF_LOG_WARN: return "warn";
    case HF_LOG_ERROR: return "error";
    case HF_LOG_CRITICAL: return "critical";
    default: return "none";
    }
}

static const char *level_color(hf_log_level_t lvl)
{
    switch (lvl) {
    case HF_LOG_TRACE:
    case HF_LOG_DEBUG: return "\033[2m";
    case HF_LOG_WARN: return "\033[33m";
    case HF_LOG_ERROR:
    case HF_LOG_CRITICAL: return "\033[31m";
    default: return "";
    }
}

/* Append s to out as a JSON string body (no quotes), escaping as needed. */
static size_t json_escape(char *out, size_t outsz, const char *s)
{
    size_t n = 0;
    for (; *s && n + 7 < outsz; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else if (c == '\t') {
            out[n++] = '\\';
            out[n++] = 't';
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, outsz - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = 0;
    return n;
}

void hf_log_write(hf_log_level_t lvl, const hf_log_ctx_t *ctx, const char *msg)
{
    static __thread char masked[16384];
    static __thread char line[40000];
    char ts[HF_TIME_FORMAT_MAX];
    size_t n = 0;

    hf_secret_mask(msg, masked, sizeof(masked));
    hf_time_format(hf_now_ms(), ts);
    if (log_format == HF_LOG_JSON) {
        n += (size_t)snprintf(line + n, sizeof(line) - n, "{\"time\":\"%s\",\"level\":\"%s\"",
                              ts, level_tag(lvl));
        if (ctx && ctx->function) {
            n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"function\":\"");
            n += json_escape(line + n, sizeof(line) - n, ctx->function);
            n += (size_t)snprintf(line + n, sizeof(line) - n, "\"");
        }
        if (ctx && ctx->invocation_id)
            n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"invocationId\":\"%s\"",
                                  ctx->invocation_id);
        if (ctx && ctx->partition >= 0)
            n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"partition\":%d",
                                  (int)ctx->partition);
        if (ctx && ctx->first_offset >= 0)
            n += (size_t)snprintf(line + n, sizeof(line) - n,
                                  ",\"firstOffset\":%lld,\"lastOffset\":%lld",
                                  (long long)ctx->first_offset, (long long)ctx->last_offset);
        if (ctx && ctx->trace_id && ctx->span_id)
            n += (size_t)snprintf(line + n, sizeof(line) - n,
                                  ",\"trace_id\":\"%s\",\"span_id\":\"%s\"", ctx->trace_id,
                                  ctx->span_id);
        n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"message\":\"");
        n += json_escape(line + n, sizeof(line) - n, masked);
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\"}\n");
    } else {
        const char *c0 = log_color ? level_color(lvl) : "";
        const char *c1 = log_color && *c0 ? "\033[0m" : "";
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %s%-5s%s ", ts, c0,
                              level_tag(lvl), c1);
        if (ctx && ctx->function)
            n += (size_t)snprintf(line + n, sizeof(line) - n, "[%s", ctx->function);
        if (ctx && ctx->partition >= 0)
            n += (size_t)snprintf(line + n, sizeof(line) - n, " p%d", (int)ctx->partition);
        if (ctx && ctx->first_offset >= 0)
            n += (size_t)snprintf(line + n, sizeof(line) - n, " @%lld-%lld",
                                  (long long)ctx->first_offset, (long long)ctx->last_offset);
        if (ctx && ctx->function)
            n += (size_t)snprintf(line + n, sizeof(line) - n, "] ");
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s%s\n", c0, masked, c1);
    }
    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    pthread_mutex_lock(&log_lock);
    fwrite(line, 1, n, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

void hf_log_ctx(hf_log_level_t lvl, const hf_log_ctx_t *ctx, const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hf_log_write(lvl, ctx, msg);
}

void hf_log(hf_log_level_t lvl, const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    if (lvl < log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hf_log_write(lvl, NULL, msg);
}
