/*
 * JSON <-> Lua for event bodies and output messages.
 *
 * The decoder parses straight into Lua values (no intermediate tree) and is the per-event
 * cost that dominates, so it is built for speed; the encoder writes compact, valid UTF-8
 * JSON with object keys in byte order, so the same table always gives the same text.
 * docs/json.md records the mapping decisions; in short:
 *   null            <-> hubfn.null, a light userdata sentinel (arrays keep their length,
 *                       objects keep the key); note that it is truthy in Lua
 *   [] and {}       decoded arrays carry a shared metatable marking them as arrays; the
 *                       encoder writes a table whose keys are exactly 1..n as an array, an
 *                       empty table as [] only when so marked, and any other table as an
 *                       object (number keys written as strings)
 *   numbers         integers that fit int64 -> Lua integers; a fraction, an exponent, -0 or
 *                       int64 overflow -> Lua floats; floats are written back with a ".0" or
 *                       an exponent so they decode as floats again; 1e400 (inf) is an error
 *   strings         must be valid UTF-8 (else an error); \u escapes are decoded, a lone
 *                       surrogate becomes U+FFFD; the encoder replaces invalid UTF-8 in Lua
 *                       strings with U+FFFD
 *   depth           at most HF_JSON_MAX_DEPTH nested arrays/objects, both ways
 *   repeated keys   the last one wins
 *
 * Building events (dataType JSON), the fast way: every field of an event is built on first
 * read (lua_event.c): ev.activation straight from the text by hf_activation_push_json
 * (activation.h), ev.body by hf_json_decode, so a handler that reads only ev.activation
 * never pays for the body tables and one that reads nothing pays for neither. docs/json.md
 * "Building events" and "Performance".
 *
 * Thread safety: no global mutable state. Every function works on the lua_State it is
 * given; several worker threads may call them at once on their own states.
 */
#ifndef HF_JSON_H
#define HF_JSON_H

#include <stddef.h>

#include <lua.h>

/* Deepest nesting of arrays/objects the decoder and the encoder accept. */
#define HF_JSON_MAX_DEPTH 1000

/* A growable byte buffer. Zero-initialised (or hf_buf_init) is empty. */
typedef struct hf_buf {
    char *data;      /* NUL-terminated when len > 0 (not counted in len) */
    size_t len;
    size_t cap;
} hf_buf_t;

/* Makes b an empty buffer. */
void hf_buf_init(hf_buf_t *b);
/* Frees b's memory and leaves it empty. */
void hf_buf_free(hf_buf_t *b);
/* Appends n bytes; returns 0. It cannot fail: growth goes through hf_realloc, which ends
   the process when memory runs out (alloc.h). */
int hf_buf_append(hf_buf_t *b, const void *data, size_t n);
/* Appends s[0..len) as a JSON string (invalid UTF-8 bytes become U+FFFD, as the encoder
   writes them). */
void hf_json_put_string(hf_buf_t *b, const char *s, size_t len);

/*
 * Parses the JSON text buf[0..len) and pushes exactly one Lua value; returns 0.
 * On invalid input pushes nothing, returns -1 and writes to err a message that always
 * names the byte offset, e.g. "invalid JSON at byte 17: expected ':' after object key".
 * An empty (or all-whitespace) body is "empty body". A leading UTF-8 BOM is skipped.
 * Runs protected: never raises a Lua error (the Lua state running out of memory is reported
 * as -1). Needs no setup; the array metatable is created in the registry on first use.
 */
int hf_json_decode(lua_State *L, const char *buf, size_t len, char *err, size_t errsz);

/*
 * Appends the compact JSON text of the value at idx to out; returns 0. On failure
 * returns -1, leaves out->len as it was, and writes to err what and where, e.g.
 * "cannot encode a function at $.crm.callback". Fails on functions, userdata other than
 * hubfn.null, threads, NaN/inf, non-string/non-number keys, cycles and nesting deeper
 * than HF_JSON_MAX_DEPTH. Object keys are written sorted (byte order). Never raises.
 */
int hf_json_encode(lua_State *L, int idx, hf_buf_t *out, char *err, size_t errsz);

/*
 * Pushes a new table for handlers: { encode = fn(v) -> string, decode = fn(s) -> value,
 * null = hubfn.null, array = fn([t]) -> t marked as an array, array_mt = the metatable }.
 * encode/decode raise a Lua error with the message above on failure. Returns 1.
 */
int hf_json_open(lua_State *L);

/* Shape flags of a document, from hf_json_validate. */
#define HF_JSON_SHAPE_OBJECT      1   /* the top level is an object */
#define HF_JSON_SHAPE_SEGMENTS    2   /* ... with a "segmentMembership" key */
#define HF_JSON_SHAPE_IDENTITIES  4   /* ... with an "identityMap" key */

/*
 * Checks buf[0..len) exactly as hf_json_decode would (same rules, same messages) without
 * making any Lua value: about a byte-per-cycle pass. Returns 0 and sets *shape (may be
 * NULL) to HF_JSON_SHAPE_* flags, or -1 with the message in err.
 */
int hf_json_validate(const char *buf, size_t len, int *shape, char *err, size_t errsz);

/*
 * A pull reader over JSON text, for building views straight from the text
 * (activation.c). It checks what it reads as hf_json_decode does: separators, keys, and
 * every value it pushes or skips; after the last read, hf_json_rd_end checks that only
 * whitespace follows. Once it meets invalid JSON every call returns "nothing more" and
 * hf_json_rd_failed returns -1 with the message ("invalid JSON at byte N: ...") in err.
 * Storage comes from the caller (usually its C stack) so that nothing leaks if a Lua error
 * unwinds the caller; call hf_json_rd_done afterwards in any case. hf_json_rd_init pushes
 * two values the reader uses: leave them in place. Keys returned are decoded (escapes
 * resolved) and valid until the next reader call.
 */
#define HF_JSON_RD_SIZE 16384
typedef struct hf_json_rd hf_json_rd_t;
typedef union hf_json_rd_mem {
    long double align;
    void *align_p;
    char bytes[HF_JSON_RD_SIZE];
} hf_json_rd_mem_t;

/* Starts reading buf (a leading BOM is skipped); pushes two values. */
hf_json_rd_t *hf_json_rd_init(hf_json_rd_mem_t *mem, lua_State *L, const char *buf,
                              size_t len, char *err, size_t errsz);
/* Frees what the reader allocated. */
void hf_json_rd_done(hf_json_rd_t *r);
/* -1 once invalid JSON was met (message in err), else 0. */
int hf_json_rd_failed(hf_json_rd_t *r);
/* After the top-level value: 0 when only whitespace follows, else -1. */
int hf_json_rd_end(hf_json_rd_t *r);
/* Next significant byte without consuming it, or -1 at the end or after an error. */
int hf_json_rd_peek(hf_json_rd_t *r);
/* Consumes c ('{' or '[') when it is next; returns 1 if it was. */
int hf_json_rd_open(hf_json_rd_t *r, int c);
/* In an object: 1 and the next key (its ':' consumed), or 0 once '}' is consumed. */
int hf_json_rd_key(hf_json_rd_t *r, const char **key, size_t *n);
/* In an array: 1 when an element follows, or 0 once ']' is consumed. */
int hf_json_rd_next(hf_json_rd_t *r);
/* Skips one value (checking it). */
void hf_json_rd_skip(hf_json_rd_t *r);
/* Decodes one value as hf_json_decode would and pushes it; returns its Lua type. */
int hf_json_rd_push(hf_json_rd_t *r);
/* Pushes a string the way decoded object keys are pushed (through the string cache). */
void hf_json_rd_push_key(hf_json_rd_t *r, const char *s, size_t n);


/* Pushes the null sentinel (a light userdata, the same value in every state). */
void hf_json_push_null(lua_State *L);

/* Returns 1 when the value at idx is the null sentinel, else 0. */
int hf_json_is_null(lua_State *L, int idx);

/* Pushes the shared array metatable of this state (created on first use). */
void hf_json_push_array_mt(lua_State *L);

/* Returns 1 when the table at idx carries the array metatable, else 0. */
int hf_json_is_array(lua_State *L, int idx);

#endif
