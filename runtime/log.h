/*
 * Logging: one line per record on stderr, readable text (colored on a terminal) or JSON
 * lines (--log-format json). Every line passes through hf_secret_mask().
 * Thread-safe: any thread may log.
 */
#ifndef HF_LOG_H
#define HF_LOG_H

#include <stddef.h>
#include <stdint.h>

/* Log levels, as host.json "logging.logLevel" names them. */
typedef enum {
    HF_LOG_TRACE, HF_LOG_DEBUG, HF_LOG_INFO, HF_LOG_WARN, HF_LOG_ERROR, HF_LOG_CRITICAL,
    HF_LOG_NONE
} hf_log_level_t;

typedef enum { HF_LOG_TEXT, HF_LOG_JSON } hf_log_format_t;

/* Where a record comes from; every field optional (NULL / -1). */
typedef struct hf_log_ctx {
    const char *function;
    const char *invocation_id;
    int32_t partition;           /* -1 when none */
    int64_t first_offset;        /* -1 when none */
    int64_t last_offset;
    const char *trace_id;        /* the invocation's span (trace.h), JSON lines only */
    const char *span_id;
} hf_log_ctx_t;

#define HF_LOG_CTX_NONE ((hf_log_ctx_t){NULL, NULL, -1, -1, -1, NULL, NULL})

void hf_log_setup(hf_log_format_t format, int color);
/* Host-wide threshold (records below it are dropped unless a function's level allows). */
void hf_log_set_level(hf_log_level_t lvl);
hf_log_level_t hf_log_get_level(void);
hf_log_format_t hf_log_get_format(void);

/* Log a host record at lvl. */
void hf_log(hf_log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Log a record with context, unconditionally (the caller checked the level). */
void hf_log_ctx(hf_log_level_t lvl, const hf_log_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same with a preformatted message (may hold newlines: a traceback). */
void hf_log_write(hf_log_level_t lvl, const hf_log_ctx_t *ctx, const char *msg);

#define hf_log_error(...) hf_log(HF_LOG_ERROR, __VA_ARGS__)
#define hf_log_warn(...) hf_log(HF_LOG_WARN, __VA_ARGS__)
#define hf_log_info(...) hf_log(HF_LOG_INFO, __VA_ARGS__)
#define hf_log_debug(...) hf_log(HF_LOG_DEBUG, __VA_ARGS__)

/* Name for a log level, and back ("Information", "Warning", ...). */
const char *hf_log_level_name(hf_log_level_t lvl);
/* hf_log_level_parse accepts the names case-insensitively, plus "Info" and "Warn";
   0 on success, -1 otherwise. */
int hf_log_level_parse(const char *s, hf_log_level_t *lvl);

/* epoch_ms as hf_time_format writes it ("2024-05-01T12:00:00.000Z"), cut to fit bufsz. */
void hf_log_time_iso(int64_t epoch_ms, char *buf, size_t bufsz);

#endif
