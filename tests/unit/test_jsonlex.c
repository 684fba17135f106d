/* Unit tests of the JSON lexer: its strict dialect gives the event decoder's verdict
   (hf_json_validate) on a table of documents and on random mutations of them; the
   configuration dialect's comments, trailing commas and byte order mark; compact and
   blanked output; error positions and messages; string decoding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonlex.h"
#include "test.h"

_Static_assert(HF_JSONLEX_STRICT_DEPTH == HF_JSON_MAX_DEPTH,
               "the strict dialect nests as deep as the decoder");

/* 2^1024 - 2^970: the smallest magnitude that overflows a double. */
#define HUGE_DIGITS                                                                      \
    "1797693134862315807937289714053034150799341327100378269361737789804449682927647509" \
    "4664901797758720709633028641669288791094655554785194040263065748867150582068190890" \
    "2000708383676273854845817711531764475730270069855571366959622842914819860834936475" \
    "292719074168444365510704342711559699508093042880177904174497792"

typedef struct {
    const char *text;
    size_t len;                  /* 0: strlen(text) */
    int ok;                      /* the verdict both must give */
} doc_t;

static const doc_t docs[] = {
    {"{}", 0, 1}, {"[]", 0, 1}, {"0", 0, 1}, {"-0", 0, 1}, {"1.5e10", 0, 1},
    {"\"x\"", 0, 1}, {"true", 0, 1}, {"null", 0, 1}, {" \t\r\n{} \n", 0, 1},
    {"{\"a\":[1,{\"b\":null}],\"c\":\"d\"}", 0, 1},
    /* empty */
    {"", 0, 0}, {"   \n", 0, 0},
    /* numbers out of a double's range are refused, underflow is fine */
    {"{\"n\":1e400}", 0, 0}, {"-1e400", 0, 0}, {"1e308", 0, 1}, {"1.7976931348623157e308", 0, 1},
    {"1.7976931348623158e308", 0, 1}, {"1.797693134862315807937289714053e308", 0, 1},
    {"1.797693134862315807937289714054e308", 0, 0}, {HUGE_DIGITS, 0, 0},
    {"179769313486231580793728971405303415079934132710037826936173778980444968292764750946"
     "649017977587207096330286416692887910946555547851940402630657488671505820681908902000"
     "708383676273854845817711531764475730270069855571366959622842914819860834936475292719"
     "074168444365510704342711559699508093042880177904174497791", 0, 1},
    {"-" HUGE_DIGITS ".0", 0, 0}, {"0." HUGE_DIGITS "e309", 0, 0}, {"0." HUGE_DIGITS "e308", 0, 1},
    {"1e-400", 0, 1}, {"0e999999", 0, 1}, {"0.000e400", 0, 1}, {"10e307", 0, 1},
    {"100e307", 0, 0}, {"0.1e309", 0, 1}, {"1e99999999999999999999", 0, 0},
    {"1e-99999999999999999999", 0, 1}, {"12345678901234567890123", 0, 1}, {"2E-3", 0, 1},
    /* number syntax */
    {"01", 0, 0}, {"-", 0, 0}, {"1.", 0, 0}, {".5", 0, 0}, {"+1", 0, 0}, {"1e", 0, 0},
    {"1e+", 0, 0}, {"0x10", 0, 0}, {"1.5.3", 0, 0}, {"-01", 0, 0}, {"[-]", 0, 0},
    /* a byte order mark is skipped at the very start only */
    {"\xef\xbb\xbf{}", 0, 1}, {"\xef\xbb\xbf", 0, 0}, {" \xef\xbb\xbf{}", 0, 0},
    {"{}\xef\xbb\xbf", 0, 0}, {"\xef\xbb\xbf\xef\xbb\xbf{}", 0, 0},
    /* strings: escapes, lone surrogates (U+FFFD to the decoder), UTF-8 */
    {"\"\\ud800\"", 0, 1}, {"\"\\udc00\"", 0, 1}, {"\"\\ud800\\u0041\"", 0, 1},
    {"\"\\ud83d\\ude00\"", 0, 1}, {"\"\\ud800\\u00G1\"", 0, 0}, {"\"\\u12\"", 0, 0},
    {"\"\\x\"", 0, 0}, {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", 0, 1}, {"\"a\tb\"", 0, 0},
    {"\"a\nb\"", 0, 0}, {"\"\x7f\"", 0, 1}, {"\"\xc3\xa9\"", 0, 1}, {"\"\xc3\"", 0, 0},
    {"\"\xed\xa0\x80\"", 0, 0}, {"\"\xf4\x90\x80\x80\"", 0, 0}, {"\"\xe0\x80\x80\"", 0, 0},
    {"\"\xf0\x9f\x98\x80\"", 0, 1}, {"\"\xc0\xaf\"", 0, 0}, {"\"\x80\"", 0, 0},
    {"\"\xef\xbf\xbf\"", 0, 1}, {"\"abc", 0, 0}, {"\"a\\", 0, 0}, {"\"a\0b\"", 5, 0},
    /* literals */
    {"tru", 0, 0}, {"truex", 0, 0}, {"nulll", 0, 0}, {"True", 0, 0}, {"NaN", 0, 0},
    {"Infinity", 0, 0}, {"[true,false,null]", 0, 1},
    /* structure */
    {"{\"a\":1,}", 0, 0}, {"[1,]", 0, 0}, {"[,1]", 0, 0}, {"{\"a\" 1}", 0, 0},
    {"{1:2}", 0, 0}, {"{\"a\":1}}", 0, 0}, {"[1]x", 0, 0}, {"// c\n{}", 0, 0},
    {"{}/* */", 0, 0}, {"'a'", 0, 0}, {"{\"a\":}", 0, 0}, {"[1 2]", 0, 0}, {"{\"a\"}", 0, 0},
    /* white space is space, tab, CR and LF only */
    {"\f{}", 0, 0}, {"\v{}", 0, 0}, {"\xc2\xa0{}", 0, 0}, {"{}\0", 3, 0},
};

/* Both verdicts on text[0..len): 1 accepted, 0 refused; *lex_ok gets the lexer's. */
static int decoder_ok(const char *text, size_t len, int *lex_ok)
{
    char err[256];
    hf_jsonlex_t lx;
    hf_jsonlex_init(&lx, HF_JSONLEX_STRICT, text, len, NULL, HF_JSONLEX_OUT_NONE);
    *lex_ok = hf_jsonlex_document(&lx, "empty") == 0;
    return hf_json_validate(text, len, NULL, err, sizeof(err)) == 0;
}

/* A document nested n levels deep: [[...]] or {"a":{"a":...}}. */
static char *nested(int n, int objects)
{
    char *s = malloc((size_t)n * 6 + 8), *p = s;
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s", objects ? "{\"a\":" : "[");
    *p++ = '1';
    for (int i = 0; i < n; i++)
        *p++ = objects ? '}' : ']';
    *p = '\0';
    return s;
}

TEST(strict_gives_the_decoders_verdict)
{
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        const doc_t *d = &docs[i];
        size_t len = d->len ? d->len : strlen(d->text);
        int lex_ok, dec_ok = decoder_ok(d->text, len, &lex_ok);
        if (dec_ok != d->ok || lex_ok != d->ok) {
            snprintf(hf_test_why, sizeof(hf_test_why), "docs[%zu] \"%.60s\": decoder %s, "
                     "lexer %s, want %s", i, d->text, dec_ok ? "accepts" : "refuses",
                     lex_ok ? "accepts" : "refuses", d->ok ? "accepted" : "refused");
            hf_test_failed = 1;
            return;
        }
    }
}

TEST(strict_nests_as_deep_as_the_decoder)
{
    for (int objects = 0; objects < 2; objects++) {
        for (int n = HF_JSON_MAX_DEPTH - 1; n <= HF_JSON_MAX_DEPTH + 1; n++) {
            char *s = nested(n, objects);
            int lex_ok, dec_ok = decoder_ok(s, strlen(s), &lex_ok);
            free(s);
            CHECK_INT(dec_ok, n <= HF_JSON_MAX_DEPTH);
            CHECK_INT(lex_ok, dec_ok);
        }
    }
}

TEST(strict_agrees_on_mutations)
{
    /* Random edits of the table's documents, from bytes that matter to JSON. */
    static const char alphabet[] = "{}[],:\"\\ \n\t-+.0123456789eEtrufalsnu\x80\xc3\xa9\xef\xbb"
                                   "\xbf\xed\xa0\xf0\x9f";
    unsigned seed = 12345;
    char buf[600];
    for (int round = 0; round < 100000; round++) {
        const doc_t *d = &docs[round % (sizeof(docs) / sizeof(docs[0]))];
        size_t len = d->len ? d->len : strlen(d->text);
        if (len > 300)
            len = 300;
        memcpy(buf, d->text, len);
        for (int k = 0, edits = 1 + round % 3; k < edits; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = len ? (seed >> 8) % (len + 1) : 0;
            char c = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
            if ((seed >> 4) % 3 == 0 && len < sizeof(buf) - 1) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = c;
                len++;
            } else if ((seed >> 4) % 3 == 1 && at < len) {
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            } else if (at < len) {
                buf[at] = c;
            }
        }
        int lex_ok, dec_ok = decoder_ok(buf, len, &lex_ok);
        if (lex_ok != dec_ok) {
            snprintf(hf_test_why, sizeof(hf_test_why), "\"%.*s\": decoder %s, lexer %s",
                     (int)len, buf, dec_ok ? "accepts" : "refuses",
                     lex_ok ? "accepts" : "refuses");
            hf_test_failed = 1;
            return;
        }
    }
}

/* Run the lexer over text in mode with a document; the message, or "ok". */
static const char *lex(hf_jsonlex_mode_t mode, const char *text)
{
    static char msg[256];
    hf_jsonlex_t lx;
    hf_jsonlex_init(&lx, mode, text, strlen(text), NULL, HF_JSONLEX_OUT_NONE);
    if (hf_jsonlex_document(&lx, "empty") == 0)
        return "ok";
    char m[200];
    snprintf(msg, sizeof(msg), "%zu:%zu: %s", lx.err_line, lx.err_col,
             hf_jsonlex_message(&lx, m, sizeof(m)));
    return msg;
}

TEST(messages_and_positions)
{
    CHECK_STR(lex(HF_JSONLEX_STRICT, "[\n 1,\n x]"), "3:2: unexpected 'x', expected a value");
    CHECK_STR(lex(HF_JSONLEX_STRICT, "{\"a\":1"),
              "1:7: unexpected end of input, expected ',' or '}'");
    CHECK_STR(lex(HF_JSONLEX_STRICT, "[\"\xc3\xa9\", \x01]"),
              "1:7: unexpected byte 0x01, expected a value");
    CHECK_STR(lex(HF_JSONLEX_STRICT, "{\"a\": 01}"), "1:8: unexpected '1', numbers have no "
                                                    "leading zeros");
    CHECK_STR(lex(HF_JSONLEX_STRICT, "{\"a\": 1e400}"),
              "1:7: number out of range (beyond +-1.8e308)");
    CHECK_STR(lex(HF_JSONLEX_STRICT, "  \"abc\n"), "1:3: unterminated string");
    CHECK_STR(lex(HF_JSONLEX_STRICT, "\"a\\qb\""), "1:3: invalid escape in a string");
    CHECK_STR(lex(HF_JSONLEX_STRICT, "\"a\xff\""), "1:3: invalid UTF-8 in a string");
    CHECK_STR(lex(HF_JSONLEX_STRICT, "{'a': 1}"),
              "1:2: unexpected ''', expected a string key or '}'");
    CHECK_STR(lex(HF_JSONLEX_STRICT, "['a']"),
              "1:2: unexpected ''', expected a value (strings take double quotes)");
    CHECK_STR(lex(HF_JSONLEX_STRICT, "{} x"),
              "1:4: unexpected text after the end of the JSON value");
    CHECK_STR(lex(HF_JSONLEX_STRICT, " "), "1:2: empty");
    char *deep = nested(HF_JSON_MAX_DEPTH + 1, 0);
    CHECK_STR(lex(HF_JSONLEX_STRICT, deep), "1:1001: nested too deeply: over 1000 levels");
    free(deep);
    /* an unterminated comment is reported where it starts */
    CHECK_STR(lex(HF_JSONLEX_CONFIG, "{\n /* a\n b\n"), "2:2: unterminated /* comment");
}

TEST(config_dialect)
{
    CHECK_STR(lex(HF_JSONLEX_CONFIG, "\xef\xbb\xbf// c\n{ \"a\": [1, 2,], /* x */ }"), "ok");
    CHECK_STR(lex(HF_JSONLEX_CONFIG, "{\"a\": 1,,}"), "1:9: unexpected ',', expected a "
                                                      "string key");
    CHECK_STR(lex(HF_JSONLEX_CONFIG, "[1,]"), "ok");
    CHECK_STR(lex(HF_JSONLEX_STRICT, "[1,]"), "1:4: unexpected ']', expected a value");
    CHECK_STR(lex(HF_JSONLEX_CONFIG, "\"\\ud800\""),
              "1:2: invalid \\u escape (unpaired surrogate)");
    CHECK_STR(lex(HF_JSONLEX_CONFIG, "\"\\ud83d\\ude00\""), "ok");
    CHECK_STR(lex(HF_JSONLEX_CONFIG, "\"\xff\""), "ok");      /* bytes are cJSON's concern */
    CHECK_STR(lex(HF_JSONLEX_CONFIG, "1e400"), "ok");
    char *deep = nested(HF_JSONLEX_CONFIG_DEPTH, 1);
    CHECK_STR(lex(HF_JSONLEX_CONFIG, deep), "ok");
    free(deep);
    deep = nested(HF_JSONLEX_CONFIG_DEPTH + 1, 1);
    CHECK_HAS(lex(HF_JSONLEX_CONFIG, deep), "nested too deeply: over 200 levels");
    free(deep);
}

TEST(compact_and_blank_output)
{
    char text[] = "\xef\xbb\xbf{ \"a\" : [1, 2 ,\n \"x y\"], \"b\":{ } }";
    hf_jsonlex_t lx;
    hf_jsonlex_init(&lx, HF_JSONLEX_STRICT, text, strlen(text), text, HF_JSONLEX_OUT_COMPACT);
    CHECK_INT(hf_jsonlex_document(&lx, "empty"), 0);
    CHECK_INT(lx.o, strlen("{\"a\":[1,2,\"x y\"],\"b\":{}}"));
    text[lx.o] = '\0';
    CHECK_STR(text, "{\"a\":[1,2,\"x y\"],\"b\":{}}");

    const char *cfg = "\xef\xbb\xbf{ // c\n \"a\": [1, /* x\n */ 2,], }";
    char out[64];
    memcpy(out, cfg, strlen(cfg) + 1);
    hf_jsonlex_init(&lx, HF_JSONLEX_CONFIG, cfg, strlen(cfg), out, HF_JSONLEX_OUT_BLANK);
    CHECK_INT(hf_jsonlex_document(&lx, "empty"), 0);
    CHECK_STR(out, "   {     \n \"a\": [1,     \n    2 ]  }");
    char compact[64];
    hf_jsonlex_init(&lx, HF_JSONLEX_CONFIG, cfg, strlen(cfg), compact, HF_JSONLEX_OUT_COMPACT);
    CHECK_INT(hf_jsonlex_document(&lx, "empty"), 0);
    compact[lx.o] = '\0';
    CHECK_STR(compact, "{\"a\":[1,2]}");
}

TEST(lines)
{
    const char *text = "[1,\n{\"a\":\n\xef\xbb\xbf\"b\"}\n";
    hf_jsonlex_t lx;
    hf_jsonlex_init(&lx, HF_JSONLEX_STRICT, text, strlen(text), NULL, HF_JSONLEX_OUT_NONE);
    hf_jsonlex_line(&lx, 0, 3, 1);
    CHECK_INT(hf_jsonlex_value(&lx), -1);
    char m[128];
    CHECK_STR(hf_jsonlex_message(&lx, m, sizeof(m)),
              "unexpected end of line, expected a value");
    CHECK_INT(lx.err_line, 1);
    CHECK_INT(lx.err_col, 4);
    hf_jsonlex_line(&lx, 10, 17, 3);
    CHECK_INT(hf_jsonlex_bom(&lx), 1);
    CHECK_INT(hf_jsonlex_value(&lx), 0);
    CHECK_INT(hf_jsonlex_take(&lx, '}'), 1);
    CHECK_INT(hf_jsonlex_peek(&lx), -1);
}

TEST(unescape)
{
    char out[64];
    const char *s = "a\\n\\u00e9\\ud83d\\ude00\\ud800x\\\"\\/";
    size_t n = hf_jsonlex_unescape(s, strlen(s), out);
    out[n] = '\0';
    CHECK_STR(out, "a\n\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx\"/");
}

TEST_MAIN()
