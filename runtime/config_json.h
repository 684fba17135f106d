/*
 * JSON reading for the configuration files (host.json, function.json,
 * local.settings.json): cJSON behind a small validator that accepts what the Azure
 * Functions host (Json.NET) accepts beyond RFC 8259 (// and / * * / comments, a trailing
 * comma before } or ], a UTF-8 byte-order mark) and that reports the first syntax error
 * as FILE:LINE:COLUMN with a reason, which cJSON alone cannot do. Nesting is limited to
 * HF_JSONLEX_CONFIG_DEPTH (jsonlex.h) levels.
 */
#ifndef HF_CONFIG_JSON_H
#define HF_CONFIG_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Parse `len` bytes of `text` (need not be NUL-terminated). On success returns the tree
 * (free with cJSON_Delete). On failure returns NULL with one line in err:
 * "FILE:LINE:COL: invalid JSON (expected ',' or '}')"; LINE and COL count from 1, COL in
 * characters (UTF-8 sequences count once).
 */
cJSON *hf_cfgjson_parse(const char *text, size_t len, const char *file, char *err,
                        size_t errsz);

/* The object member named `key`, compared case-insensitively as Azure's configuration
   does; with duplicates the last one wins (as in Json.NET). NULL when absent. */
cJSON *hf_cfgjson_get(const cJSON *obj, const char *key);

/* A value as a message shows it: "\"ten\"" (quoted, shortened, unprintable bytes as '?'),
   "12", "true", "null", "an object", "an array". */
const char *hf_cfgjson_describe(const cJSON *v, char *buf, size_t bufsz);

/* A number as the shortest text that reads back to the same double ("30000", "0.5"). */
const char *hf_cfgjson_number(double d, char *buf, size_t bufsz);

/* A setting's value as text: a string as is, a number as hf_cfgjson_number writes it into
   buf, true/false; NULL for anything else (null, objects, arrays). */
const char *hf_cfgjson_scalar(const cJSON *v, char *buf, size_t bufsz);

#endif
