/*
 * Per-partition key-value maps (state.h): open addressing with linear probing and
 * backward-shift deletion, one block per entry holding its key and value.
 *
 * Thread: any (one read-write lock per store).
 */
#include "state.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

typedef struct entry {
    uint64_t hash;
    char *data;                  /* key bytes, then value bytes, then a NUL; NULL: empty slot */
    uint32_t key_len;
    uint32_t value_len;
} entry_t;

typedef struct part {
    hf_state_status_t status;
    entry_t *slots;
    size_t cap;                  /* a power of two, or 0 */
    size_t n;
    size_t bytes;
} part_t;

struct hf_state {
    pthread_rwlock_t lock;
    size_t max_bytes;
    int open_on_use;
    part_t *parts;
    int32_t parts_n;
};

static uint64_t hash_key(const char *key, size_t n)
{
    uint64_t h = 1469598103934665603ULL;      /* FNV-1a, then a final mix */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static size_t entry_bytes(size_t key_len, size_t value_len)
{
    return HF_STATE_ENTRY_BYTES(key_len, value_len);
}

hf_state_t *hf_state_new(size_t max_bytes, int open_on_use)
{
    hf_state_t *st = hf_calloc(1, sizeof(*st));
    pthread_rwlock_init(&st->lock, NULL);
    st->max_bytes = max_bytes;
    st->open_on_use = open_on_use;
    return st;
}

static void part_clear(part_t *pt)
{
    for (size_t i = 0; i < pt->cap; i++)
        free(pt->slots[i].data);
    free(pt->slots);
    pt->slots = NULL;
    pt->cap = pt->n = pt->bytes = 0;
}

void hf_state_free(hf_state_t *st)
{
    if (!st)
        return;
    for (int32_t p = 0; p < st->parts_n; p++)
        part_clear(&st->parts[p]);
    free(st->parts);
    pthread_rwlock_destroy(&st->lock);
    free(st);
}

size_t hf_state_max_bytes(const hf_state_t *st)
{
    return st->max_bytes;
}

/* The partition's map, grown into the array when new (write lock held). */
static part_t *part_make(hf_state_t *st, int32_t p)
{
    if (p >= st->parts_n) {
        int32_t n = st->parts_n ? st->parts_n : 4;
        while (n <= p)
            n *= 2;
        st->parts = hf_realloc(st->parts, (size_t)n * sizeof(*st->parts));
        memset(st->parts + st->parts_n, 0, (size_t)(n - st->parts_n) * sizeof(*st->parts));
        st->parts_n = n;
    }
    return &st->parts[p];
}

/* The partition's map, or NULL when it was never made (any lock held). */
static part_t *part_find(hf_state_t *st, int32_t p)
{
    return p >= 0 && p < st->parts_n ? &st->parts[p] : NULL;
}

/* hubfn run owns every partition: open p, ready and empty, the first time it is used. */
static void open_if_new(hf_state_t *st, int32_t p)
{
    if (!st->open_on_use || p < 0)
        return;
    pthread_rwlock_rdlock(&st->lock);
    part_t *pt = part_find(st, p);
    int absent = !pt || pt->status == HF_STATE_ABSENT;
    pthread_rwlock_unlock(&st->lock);
    if (!absent)
        return;
    pthread_rwlock_wrlock(&st->lock);
    pt = part_make(st, p);
    if (pt->status == HF_STATE_ABSENT)
        pt->status = HF_STATE_READY;
    pthread_rwlock_unlock(&st->lock);
}

void hf_state_open(hf_state_t *st, int32_t p)
{
    if (p < 0)
        return;
    pthread_rwlock_wrlock(&st->lock);
    part_t *pt = part_make(st, p);
    part_clear(pt);
    pt->status = HF_STATE_RESTORING;
    pthread_rwlock_unlock(&st->lock);
}

void hf_state_ready(hf_state_t *st, int32_t p)
{
    pthread_rwlock_wrlock(&st->lock);
    part_t *pt = part_find(st, p);
    if (pt && pt->status == HF_STATE_RESTORING)
        pt->status = HF_STATE_READY;
    pthread_rwlock_unlock(&st->lock);
}

void hf_state_drop(hf_state_t *st, int32_t p)
{
    pthread_rwlock_wrlock(&st->lock);
    part_t *pt = part_find(st, p);
    if (pt) {
        part_clear(pt);
        pt->status = HF_STATE_ABSENT;
    }
    pthread_rwlock_unlock(&st->lock);
}

hf_state_status_t hf_state_status(hf_state_t *st, int32_t p)
{
    pthread_rwlock_rdlock(&st->lock);
    part_t *pt = part_find(st, p);
    hf_state_status_t s = pt ? pt->status : HF_STATE_ABSENT;
    pthread_rwlock_unlock(&st->lock);
    return s;
}

/* The slot of key, or of the empty slot where it would go (pt->cap > 0). */
static size_t slot_of(const part_t *pt, uint64_t h, const char *key, size_t key_len)
{
    size_t mask = pt->cap - 1, i = (size_t)h & mask;
    for (;;) {
        const entry_t *e = &pt->slots[i];
        if (!e->data || (e->hash == h && e->key_len == key_len &&
                         memcmp(e->data, key, key_len) == 0))
            return i;
        i = (i + 1) & mask;
    }
}

static const entry_t *lookup(const part_t *pt, const char *key, size_t key_len)
{
    if (!pt->cap)
        return NULL;
    const entry_t *e = &pt->slots[slot_of(pt, hash_key(key, key_len), key, key_len)];
    return e->data ? e : NULL;
}

/* Room for one more entry at a load of at most 3/4. */
static void grow(part_t *pt)
{
    if (pt->cap && (pt->n + 1) * 4 <= pt->cap * 3)
        return;
    size_t cap = pt->cap ? pt->cap * 2 : 16;
    entry_t *old = pt->slots;
    size_t old_cap = pt->cap;
    pt->slots = hf_calloc(cap, sizeof(entry_t));
    pt->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].data)
            continue;
        size_t j = (size_t)old[i].hash & (cap - 1);
        while (pt->slots[j].data)
            j = (j + 1) & (cap - 1);
        pt->slots[j] = old[i];
    }
    free(old);
}

/* Remove slot i, moving the entries after it back so that every probe still finds them. */
static void remove_slot(part_t *pt, size_t i)
{
    size_t mask = pt->cap - 1;
    pt->bytes -= entry_bytes(pt->slots[i].key_len, pt->slots[i].value_len);
    free(pt->slots[i].data);
    pt->slots[i].data = NULL;
    pt->n--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        entry_t *e = &pt->slots[j];
        if (!e->data)
            return;
        size_t home = (size_t)e->hash & mask;
        /* e moves back to i when i lies on its probe path (from home to j) */
        if (((j - home) & mask) < ((j - i) & mask))
            continue;
        pt->slots[i] = *e;
        e->data = NULL;
        i = j;
    }
}

/* Set or delete one key (write lock held). */
static void put(part_t *pt, const char *key, size_t key_len, const char *value,
                size_t value_len)
{
    uint64_t h = hash_key(key, key_len);
    if (!value) {
        if (!pt->cap)
            return;
        size_t i = slot_of(pt, h, key, key_len);
        if (pt->slots[i].data)
            remove_slot(pt, i);
        return;
    }
    grow(pt);
    size_t i = slot_of(pt, h, key, key_len);
    entry_t *e = &pt->slots[i];
    char *data = hf_malloc(key_len + value_len + 1);
    memcpy(data, key, key_len);
    memcpy(data + key_len, value, value_len);
    data[key_len + value_len] = 0;
    if (e->data) {
        pt->bytes -= entry_bytes(e->key_len, e->value_len);
        free(e->data);
    } else {
        pt->n++;
    }
    e->hash = h;
    e->data = data;
    e->key_len = (uint32_t)key_len;
    e->value_len = (uint32_t)value_len;
    pt->bytes += entry_bytes(key_len, value_len);
}

int hf_state_get(hf_state_t *st, int32_t p, const char *key, size_t key_len, hf_buf_t *out)
{
    open_if_new(st, p);
    pthread_rwlock_rdlock(&st->lock);
    part_t *pt = part_find(st, p);
    int rc;
    if (!pt || pt->status != HF_STATE_READY) {
        rc = HF_STATE_NOT_HELD;
    } else {
        const entry_t *e = lookup(pt, key, key_len);
        rc = e ? HF_STATE_FOUND : HF_STATE_MISSING;
        if (e)
            hf_buf_append(out, e->data + e->key_len, e->value_len);
    }
    pthread_rwlock_unlock(&st->lock);
    return rc;
}

/* The bytes of pt once the key takes a value of value_len bytes ((size_t)-1: deleted). */
static size_t bytes_after(const part_t *pt, const char *key, size_t key_len, size_t value_len)
{
    const entry_t *e = lookup(pt, key, key_len);
    size_t bytes = pt->bytes;
    if (e)
        bytes -= entry_bytes(e->key_len, e->value_len);
    if (value_len != (size_t)-1)
        bytes += entry_bytes(key_len, value_len);
    return bytes;
}

size_t hf_state_key_bytes(hf_state_t *st, int32_t p, const char *key, size_t key_len,
                          size_t *total)
{
    open_if_new(st, p);
    pthread_rwlock_rdlock(&st->lock);
    part_t *pt = part_find(st, p);
    const entry_t *e = pt ? lookup(pt, key, key_len) : NULL;
    size_t bytes = e ? entry_bytes(e->key_len, e->value_len) : 0;
    *total = pt ? pt->bytes : 0;
    pthread_rwlock_unlock(&st->lock);
    return bytes;
}

int hf_state_apply(hf_state_t *st, int32_t p, hf_state_write_t *w, size_t n, size_t *bytes,
                   int keep_old)
{
    open_if_new(st, p);
    pthread_rwlock_wrlock(&st->lock);
    part_t *pt = part_find(st, p);
    if (!pt || pt->status != HF_STATE_READY) {
        pthread_rwlock_unlock(&st->lock);
        return HF_STATE_NOT_HELD;
    }
    /* What the partition would hold: each key's change against what it holds now. */
    size_t after = pt->bytes;
    for (size_t i = 0; i < n; i++) {
        const entry_t *e = lookup(pt, w[i].key, w[i].key_len);
        if (e)
            after -= entry_bytes(e->key_len, e->value_len);
        if (w[i].value)
            after += entry_bytes(w[i].key_len, w[i].value_len);
    }
    if (bytes)
        *bytes = after;
    if (st->max_bytes && after > st->max_bytes && after > pt->bytes) {
        pthread_rwlock_unlock(&st->lock);
        return HF_STATE_OVER_BOUND;
    }
    for (size_t i = 0; i < n; i++) {
        if (keep_old) {
            const entry_t *e = lookup(pt, w[i].key, w[i].key_len);
            w[i].old = e ? hf_memdup(e->data + e->key_len, e->value_len) : NULL;
            w[i].old_len = e ? e->value_len : 0;
        }
        put(pt, w[i].key, w[i].key_len, w[i].value, w[i].value_len);
    }
    pthread_rwlock_unlock(&st->lock);
    return 0;
}

int hf_state_undo(hf_state_t *st, int32_t p, const char *key, size_t key_len,
                  const char *value, size_t value_len, const char *old, size_t old_len)
{
    pthread_rwlock_wrlock(&st->lock);
    part_t *pt = part_find(st, p);
    int done = 0;
    if (pt && pt->status == HF_STATE_READY) {
        const entry_t *e = lookup(pt, key, key_len);
        int same = value ? e && e->value_len == value_len &&
                               memcmp(e->data + e->key_len, value, value_len) == 0
                         : !e;
        if (same) {
            put(pt, key, key_len, old, old_len);
            done = 1;
        }
    }
    pthread_rwlock_unlock(&st->lock);
    return done;
}

int hf_state_restore(hf_state_t *st, int32_t p, const char *key, size_t key_len,
                     const char *value, size_t value_len)
{
    pthread_rwlock_wrlock(&st->lock);
    part_t *pt = part_find(st, p);
    int rc = 0;
    if (!pt || pt->status == HF_STATE_ABSENT)
        rc = HF_STATE_NOT_HELD;
    else if (value && st->max_bytes &&
             bytes_after(pt, key, key_len, value_len) > st->max_bytes)
        rc = HF_STATE_OVER_BOUND;
    else
        put(pt, key, key_len, value, value_len);
    pthread_rwlock_unlock(&st->lock);
    return rc;
}

void hf_state_stats(hf_state_t *st, int32_t p, size_t *keys, size_t *bytes)
{
    pthread_rwlock_rdlock(&st->lock);
    part_t *pt = part_find(st, p);
    *keys = pt ? pt->n : 0;
    *bytes = pt ? pt->bytes : 0;
    pthread_rwlock_unlock(&st->lock);
}

int32_t hf_state_partitions(hf_state_t *st)
{
    pthread_rwlock_rdlock(&st->lock);
    int32_t n = 0;
    for (int32_t p = 0; p < st->parts_n; p++)
        if (st->parts[p].status != HF_STATE_ABSENT)
            n = p + 1;
    pthread_rwlock_unlock(&st->lock);
    return n;
}

static int by_key(const void *a, const void *b)
{
    const entry_t *x = *(const entry_t *const *)a, *y = *(const entry_t *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->data, y->data, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

void hf_state_each(hf_state_t *st, int32_t p,
                   void (*fn)(void *ud, const char *key, size_t key_len, const char *value,
                              size_t value_len),
                   void *ud)
{
    pthread_rwlock_rdlock(&st->lock);
    part_t *pt = part_find(st, p);
    if (pt && pt->n) {
        const entry_t **order = hf_malloc(pt->n * sizeof(*order));
        size_t k = 0;
        for (size_t i = 0; i < pt->cap; i++)
            if (pt->slots[i].data)
                order[k++] = &pt->slots[i];
        qsort(order, k, sizeof(*order), by_key);
        for (size_t i = 0; i < k; i++)
            fn(ud, order[i]->data, order[i]->key_len, order[i]->data + order[i]->key_len,
               order[i]->value_len);
        free(order);
    }
    pthread_rwlock_unlock(&st->lock);
}
