#include "alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Written with write(2) from a stack buffer: stdio may itself need memory. */
static void say(const char *text)
{
    size_t n = strlen(text);
    while (n > 0) {
        ssize_t w = write(2, text, n);
        if (w <= 0)
            break;
        text += w;
        n -= (size_t)w;
    }
}

void hf_oom_at(size_t n, const char *file, int line)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "hubfn: out of memory at %s:%d (%zu bytes); exiting (events "
             "not yet checkpointed are delivered again on the next start)\n", file, line, n);
    say(msg);
    abort();
}

void hf_panic(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    int n = snprintf(msg, sizeof(msg), "hubfn: internal error: ");
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    strcat(msg, "\n");
    say(msg);
    abort();
}

void *hf_malloc_at(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        hf_oom_at(n, file, line);
    return p;
}

void *hf_calloc_at(size_t n, size_t size, const char *file, int line)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        hf_oom_at(n * size, file, line);
    return p;
}

void *hf_realloc_at(void *p, size_t n, const char *file, int line)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        hf_oom_at(n, file, line);
    return q;
}

char *hf_strdup_at(const char *s, const char *file, int line)
{
    return hf_memdup_at(s, strlen(s), file, line);
}

char *hf_strndup_at(const char *s, size_t n, const char *file, int line)
{
    return hf_memdup_at(s, strnlen(s, n), file, line);
}

char *hf_memdup_at(const void *p, size_t n, const char *file, int line)
{
    char *q = hf_malloc_at(n + 1, file, line);
    if (n)
        memcpy(q, p, n);
    q[n] = 0;
    return q;
}
