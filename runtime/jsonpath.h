/*
 * A value at a path in a JSON document, found without decoding it: what
 * extensions.eventHubs.orderingKey "body:identityMap.ecid.0.id" reads from each event on
 * the loop thread. A path is dotted segments; a segment of digits indexes an array (and
 * names a key in an object). The value found is a string's bytes between its quotes
 * (escapes left as they are), or a number's or boolean's text; anything else (no such
 * path, null, an object, an array, a document that is not JSON) is "no value".
 *
 * Thread: any; a compiled path is read-only.
 */
#ifndef HF_JSONPATH_H
#define HF_JSONPATH_H

#include <stddef.h>

typedef struct hf_jsonpath {
    char **seg;                  /* the segments */
    size_t *seg_len;
    long *index;                 /* the segment as an array index, or -1 */
    size_t n;
} hf_jsonpath_t;

/* Compile "a.b.0.c" into p. -1 with one line in err when it is not a path (empty, an
   empty segment). */
int hf_jsonpath_compile(hf_jsonpath_t *p, const char *path, char *err, size_t errsz);
void hf_jsonpath_free(hf_jsonpath_t *p);

/* The value at p in doc[0..len): 1 with *v, *vlen set (pointing into doc), 0 when there
   is none. Never reads past len; bounded by len whatever the input. */
int hf_jsonpath_get(const hf_jsonpath_t *p, const char *doc, size_t len, const char **v,
                    size_t *vlen);

#endif
