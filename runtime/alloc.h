/*
 * Memory outside the Lua states. An allocation that fails ends the process at once with one
 * line saying where: a crash means redelivery from the last checkpoint, while carrying on
 * without the memory could skip an event and checkpoint past it. So callers never check for
 * NULL. (Each Lua state has its own capped allocator, lua_host.c, where running out fails
 * one invocation instead.) cJSON allocates through hf_malloc too (its hooks, config_json.c);
 * librdkafka, libev and libcurl allocate on their own.
 *
 * Thread: any.
 */
#ifndef HF_ALLOC_H
#define HF_ALLOC_H

#include <stddef.h>

void *hf_malloc_at(size_t n, const char *file, int line);
void *hf_calloc_at(size_t n, size_t size, const char *file, int line);
void *hf_realloc_at(void *p, size_t n, const char *file, int line);
char *hf_strdup_at(const char *s, const char *file, int line);
char *hf_strndup_at(const char *s, size_t n, const char *file, int line);
/* A copy of n bytes with a NUL after them. */
char *hf_memdup_at(const void *p, size_t n, const char *file, int line);

#define hf_malloc(n) hf_malloc_at((n), __FILE__, __LINE__)
#define hf_calloc(n, size) hf_calloc_at((n), (size), __FILE__, __LINE__)
#define hf_realloc(p, n) hf_realloc_at((p), (n), __FILE__, __LINE__)
#define hf_strdup(s) hf_strdup_at((s), __FILE__, __LINE__)
#define hf_strndup(s, n) hf_strndup_at((s), (n), __FILE__, __LINE__)
#define hf_memdup(p, n) hf_memdup_at((p), (n), __FILE__, __LINE__)

/* End the process with "hubfn: out of memory at FILE:LINE (N bytes)". */
__attribute__((noreturn)) void hf_oom_at(size_t n, const char *file, int line);
/* End the process with "hubfn: internal error: MESSAGE" (a broken invariant). */
__attribute__((noreturn, format(printf, 1, 2))) void hf_panic(const char *fmt, ...);

#endif
