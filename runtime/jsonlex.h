/*
 * One JSON lexer for the JSON hubfn checks rather than decodes: the configuration files
 * (config_json.c) and the events of `hubfn send`. It reads values, checks them, keeps
 * line numbers, and can write what it read: compacted (in place) or with comments blanked.
 *
 * Two dialects:
 *   HF_JSONLEX_STRICT  exactly what the event decoder (json.c, hf_json_validate) accepts:
 *                      RFC 8259, strings of valid UTF-8 (a lone surrogate in a \u escape
 *                      is fine: the decoder makes it U+FFFD), no number that overflows a
 *                      double (1e400), nesting up to HF_JSONLEX_STRICT_DEPTH
 *   HF_JSONLEX_CONFIG  what the Azure Functions host (Json.NET) accepts in host.json,
 *                      function.json and local.settings.json: also // and / * * /
 *                      comments and a trailing comma before } or ]; an unpaired
 *                      surrogate escape is an error; string bytes are not checked as
 *                      UTF-8 (nor by cJSON, which parses the result); nesting up to
 *                      HF_JSONLEX_CONFIG_DEPTH
 * Both skip a UTF-8 byte order mark at the start of a document (hf_jsonlex_document).
 *
 * Errors: the first one is kept (position, line, reason); reading functions return -1
 * from then on. A reason either stands alone ("unterminated string") or says what was
 * expected where something else was found ("expected ',' or '}'", lx->unexpected set);
 * hf_jsonlex_message words it as `hubfn send` prints it ("unexpected 'x', expected ...").
 *
 * Thread: none shared; a lexer is used by one thread at a time.
 */
#ifndef HF_JSONLEX_H
#define HF_JSONLEX_H

#include <stddef.h>

/* Nesting the strict dialect accepts: the decoder's HF_JSON_MAX_DEPTH (test_jsonlex.c
   checks that they agree). */
#define HF_JSONLEX_STRICT_DEPTH 1000
/* Nesting the configuration dialect accepts (cJSON's own limit is 1000). */
#define HF_JSONLEX_CONFIG_DEPTH 200

typedef enum { HF_JSONLEX_STRICT, HF_JSONLEX_CONFIG } hf_jsonlex_mode_t;

/* What the lexer writes to lx->out while it reads. */
typedef enum {
    HF_JSONLEX_OUT_NONE,         /* nothing: check only */
    HF_JSONLEX_OUT_COMPACT,      /* at out[lx->o...]: each value hf_jsonlex_value or
                                    hf_jsonlex_document accepted, without white space,
                                    comments or trailing commas, and each character
                                    hf_jsonlex_take took; never longer than what was
                                    read, so out may be the input itself */
    HF_JSONLEX_OUT_BLANK         /* out is a copy of the input: comments and trailing
                                    commas in it are overwritten with spaces (newlines
                                    kept), so offsets stay valid */
} hf_jsonlex_out_t;

typedef struct hf_jsonlex {
    const char *s;               /* the input */
    size_t len;                  /* its length */
    size_t end;                  /* the reading limit: len, or a line's end */
    const char *end_what;        /* what the limit is, for messages: "input" or "line" */
    size_t pos;                  /* read position */
    char *out;                   /* see hf_jsonlex_out_t; NULL with HF_JSONLEX_OUT_NONE */
    size_t o;                    /* write position (HF_JSONLEX_OUT_COMPACT) */
    hf_jsonlex_out_t out_mode;
    hf_jsonlex_mode_t mode;
    int max_depth;
    int depth;                   /* containers open around the read position */
    size_t line;                 /* line of pos, from 1 */
    size_t line_start;           /* offset of that line's first byte */
    /* The first error; why is NULL while there is none. */
    const char *why;
    int unexpected;              /* why says what was expected at err_at */
    size_t err_at;               /* offset */
    size_t err_line, err_col;    /* from 1; the column counts characters */
    char why_buf[128];
} hf_jsonlex_t;

/* Start reading text[0..len) in dialect mode, writing to out as out_mode says. */
void hf_jsonlex_init(hf_jsonlex_t *lx, hf_jsonlex_mode_t mode, const char *text, size_t len,
                     char *out, hf_jsonlex_out_t out_mode);

/* Read text[pos..end) next, as line number `line` (pos starts it): messages say "end of
   line" at end. Clears the error and the nesting, so a bad line does not stop the next. */
void hf_jsonlex_line(hf_jsonlex_t *lx, size_t pos, size_t end, size_t line);

/* Skip a UTF-8 byte order mark at the read position; 1 when there was one. At the start
   of a line it takes no column, as in an editor. */
int hf_jsonlex_bom(hf_jsonlex_t *lx);

/* Skip white space (and comments in the configuration dialect). 0, or -1 (an
   unterminated comment). */
int hf_jsonlex_ws(hf_jsonlex_t *lx);

/* Skip white space; the next byte, or -1 at the limit or after an error. */
int hf_jsonlex_peek(hf_jsonlex_t *lx);

/* Skip white space and take c (a structural character) when it is next: 1 when taken
   (and written out), else 0. */
int hf_jsonlex_take(hf_jsonlex_t *lx, char c);

/* Skip white space, then read one value, all of it, checking it. 0, or -1. */
int hf_jsonlex_value(hf_jsonlex_t *lx);

/* A whole document: a byte order mark, white space, one value, white space, the end.
   An input with no value fails with empty_why ("the file is empty"). 0, or -1. */
int hf_jsonlex_document(hf_jsonlex_t *lx, const char *empty_why);

/* Record an error at the read position saying what was expected there (lx->unexpected);
   returns -1. Only the first error is kept. */
int hf_jsonlex_expected(hf_jsonlex_t *lx, const char *what);

/* Record an error at offset at; returns -1. */
int hf_jsonlex_fail(hf_jsonlex_t *lx, size_t at, const char *why);

/* The error as one phrase: "unexpected ']', expected ',' or '}'", "unexpected end of
   line, expected a value", "unterminated string". */
const char *hf_jsonlex_message(const hf_jsonlex_t *lx, char *buf, size_t bufsz);

/* Decode the body s[0..n) of a string the strict dialect accepted (no quotes) into out,
   which n bytes fit: escapes resolved, a lone surrogate as U+FFFD, as the decoder does.
   Returns the decoded length. */
size_t hf_jsonlex_unescape(const char *s, size_t n, char *out);

#endif
