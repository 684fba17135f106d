/* Base64 (RFC 4648, with padding): how hubfn writes bytes that are not text into JSON
   (`hubfn run` output, capture records). */
#ifndef HF_BASE64_H
#define HF_BASE64_H

#include <stddef.h>

#include "json.h"

/* Append the base64 of s[0..n) to b. */
void hf_base64_encode(hf_buf_t *b, const void *s, size_t n);
/* Append the bytes of the base64 text s[0..n) to b (padding optional, no white space);
   0, or -1 when s is not base64 (b then holds what came before the bad character). */
int hf_base64_decode(hf_buf_t *b, const char *s, size_t n);

#endif
