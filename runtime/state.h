/*
 * Per-partition key-value state in memory: what the eventHubState binding type
 * (bindings/eventhub_state.c) keeps for each partition of a function's input that this
 * instance owns. Keys are byte strings, values JSON text (decoded by the Lua side on each
 * read, so a handler gets its own copy). One store serves one binding and holds one map per
 * partition.
 *
 * A partition's map is opened when the partition is assigned, filled from the state hub
 * (hf_state_restore) while it is restoring, marked ready, and dropped on revoke. Handlers'
 * writes come in groups, one per successful invocation (hf_state_apply), applied all or
 * none under the partition's memory bound.
 *
 * Thread: any. Workers read and apply while the loop thread restores other partitions and
 * opens and drops them: one read-write lock per store (gets share it, the rest take it
 * alone; values are copied out under it, never decoded under it).
 */
#ifndef HF_STATE_H
#define HF_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

typedef struct hf_state hf_state_t;

/* What one key costs besides its key and value bytes, in the count the bound applies to
   (the entry, its slot in the hash table, the allocator's header, about). */
#define HF_STATE_KEY_OVERHEAD 64
/* The bytes one key with a value of value_len bytes counts for. */
#define HF_STATE_ENTRY_BYTES(key_len, value_len) ((key_len) + (value_len) + HF_STATE_KEY_OVERHEAD)

/* A partition's map. */
typedef enum {
    HF_STATE_ABSENT,             /* not owned here (never assigned, or revoked) */
    HF_STATE_RESTORING,          /* being read back from the state hub */
    HF_STATE_READY
} hf_state_status_t;

/* One write of an invocation. */
typedef struct hf_state_write {
    const char *key;
    size_t key_len;
    const char *value;           /* JSON text; NULL: delete the key */
    size_t value_len;
    char *old;                   /* hf_state_apply with keep_old: a malloc'd copy of what the
                                    key held before (NUL-terminated), NULL when it held
                                    nothing */
    size_t old_len;
} hf_state_write_t;

/* An empty store whose partitions may each hold max_bytes (keys, values and
   HF_STATE_KEY_OVERHEAD per key; 0: no bound). `open_on_use`: a partition never opened is
   opened empty and ready on first use (hubfn run, which owns every partition). */
hf_state_t *hf_state_new(size_t max_bytes, int open_on_use);
void hf_state_free(hf_state_t *st);
size_t hf_state_max_bytes(const hf_state_t *st);

/* Partition p is assigned: an empty map, restoring (what it held before is dropped). */
void hf_state_open(hf_state_t *st, int32_t p);
/* Partition p is restored: handlers may use it. */
void hf_state_ready(hf_state_t *st, int32_t p);
/* Partition p is revoked: its map is freed. */
void hf_state_drop(hf_state_t *st, int32_t p);
hf_state_status_t hf_state_status(hf_state_t *st, int32_t p);

/* Results of hf_state_get and hf_state_apply. */
#define HF_STATE_FOUND 1
#define HF_STATE_MISSING 0
#define HF_STATE_NOT_HELD (-1)        /* the partition is absent (or still restoring) */
#define HF_STATE_OVER_BOUND (-2)      /* the writes would take it past max_bytes */

/* Append the value of key in partition p to out: HF_STATE_FOUND, HF_STATE_MISSING, or
   HF_STATE_NOT_HELD when the partition is not ready. */
int hf_state_get(hf_state_t *st, int32_t p, const char *key, size_t key_len, hf_buf_t *out);
/* What key takes in partition p now (its bytes with HF_STATE_KEY_OVERHEAD; 0 when absent),
   and in *total what the partition holds: for a check before writing. */
size_t hf_state_key_bytes(hf_state_t *st, int32_t p, const char *key, size_t key_len,
                          size_t *total);
/* Apply the writes of one invocation to ready partition p, all or none: 0, HF_STATE_NOT_HELD,
   or HF_STATE_OVER_BOUND (nothing applied; *bytes, if not NULL, gets what the partition
   would have held). Each key appears once among the writes. A partition already over the
   bound (the bound was lowered) still takes writes that do not make it larger.
   `keep_old`: each write's old/old_len get what its key held before (the caller frees). */
int hf_state_apply(hf_state_t *st, int32_t p, hf_state_write_t *w, size_t n, size_t *bytes,
                   int keep_old);
/* Take one write back: when key still holds `value` (what the write put; NULL: the write
   deleted it), it gets `old` again (NULL: deleted). 1 when it did, 0 when the key changed
   since (a later write stands) or the partition is not ready. */
int hf_state_undo(hf_state_t *st, int32_t p, const char *key, size_t key_len,
                  const char *value, size_t value_len, const char *old, size_t old_len);
/* One record read back from the state hub into restoring (or ready) partition p: value NULL
   is a tombstone. 0, HF_STATE_NOT_HELD, or HF_STATE_OVER_BOUND (not applied). */
int hf_state_restore(hf_state_t *st, int32_t p, const char *key, size_t key_len,
                     const char *value, size_t value_len);
/* Keys and bytes of partition p (0 and 0 when absent). */
void hf_state_stats(hf_state_t *st, int32_t p, size_t *keys, size_t *bytes);
/* One more than the highest partition ever opened (or used). */
int32_t hf_state_partitions(hf_state_t *st);
/* Call fn for every key of partition p in byte order of the keys, under the lock (fn must
   not call back into the store). */
void hf_state_each(hf_state_t *st, int32_t p,
                   void (*fn)(void *ud, const char *key, size_t key_len, const char *value,
                              size_t value_len),
                   void *ud);

#endif
