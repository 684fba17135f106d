/* Unit tests of hubfn send's input reading: format detection, compaction, line numbers,
   keys (RudderStack's userId-else-anonymousId rule), size limits and error messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "send.h"
#include "test.h"

static hf_send_input_t in;
static char problems[8192];
static char err[256];

static void collect(void *ud, const char *line)
{
    size_t l = strlen(problems);
    (void)ud;
    snprintf(problems + l, sizeof(problems) - l, "%s\n", line);
}

/* Parse `text` with --key `keys` (NULL: none) and a size limit; returns hf_send_parse's. */
static int parse_keys(const char *text, const char *keys, size_t max)
{
    const char *fields[HF_SEND_MAX_KEYS];
    size_t fields_n = 0;
    static char keybuf[512];
    hf_send_input_free(&in);
    problems[0] = '\0';
    if (keys) {
        snprintf(keybuf, sizeof(keybuf), "%s", keys);
        if (hf_send_split_keys(keybuf, fields, &fields_n, err, sizeof(err)) != 0)
            return -9;
    }
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    memcpy(copy, text, len + 1);
    return hf_send_parse(&in, copy, len, "in", fields, fields_n, max, collect, NULL);
}

static int parse(const char *text)
{
    return parse_keys(text, NULL, HF_SEND_DEFAULT_MAX_EVENT);
}

/* Event i's text as a NUL-terminated string. */
static const char *ev(size_t i)
{
    static char buf[1024];
    if (i >= in.events_n)
        return "(none)";
    snprintf(buf, sizeof(buf), "%.*s", (int)in.events[i].len, in.text + in.events[i].off);
    return buf;
}

/* Event i's key, or "(none)". */
static const char *key(size_t i)
{
    static char buf[256];
    if (i >= in.events_n || !in.events[i].has_key)
        return "(none)";
    snprintf(buf, sizeof(buf), "%.*s", (int)in.events[i].key_len, in.keys + in.events[i].key_off);
    return buf;
}

TEST(json_lines)
{
    CHECK_INT(parse("{\"a\": 1}\n\n  [1, 2 ]\r\n\"s\"\n"), 0);
    CHECK_INT(in.format, HF_SEND_LINES);
    CHECK_INT(in.events_n, 3);
    CHECK_STR(ev(0), "{\"a\":1}");
    CHECK_STR(ev(1), "[1,2]");
    CHECK_STR(ev(2), "\"s\"");
    CHECK_INT(in.events[0].line, 1);
    CHECK_INT(in.events[1].line, 3);
    CHECK_INT(in.events[2].line, 4);
}

TEST(array_and_document)
{
    CHECK_INT(parse("\xef\xbb\xbf[\n {\"a\" : \"x y\"},\n\n {\"b\": [ ]} ]\n"), 0);
    CHECK_INT(in.format, HF_SEND_ARRAY);
    CHECK_INT(in.events_n, 2);
    CHECK_STR(ev(0), "{\"a\":\"x y\"}");
    CHECK_STR(ev(1), "{\"b\":[]}");
    CHECK_INT(in.events[1].line, 4);
    CHECK_INT(in.events[1].index, 1);

    CHECK_INT(parse("{ \"source\": \"x\",\n  \"events\": [ {\"n\": 1},\n  {\"n\": 2} ] }"), 0);
    CHECK_INT(in.format, HF_SEND_DOCUMENT);
    CHECK_INT(in.events_n, 2);
    CHECK_STR(ev(1), "{\"n\":2}");
    CHECK_INT(in.events[1].line, 3);

    /* An object without an "events" array is one event, even on several lines. */
    CHECK_INT(parse("{\n \"events\": 3,\n \"b\": true }\n"), 0);
    CHECK_INT(in.format, HF_SEND_SINGLE);
    CHECK_INT(in.events_n, 1);
    CHECK_STR(ev(0), "{\"events\":3,\"b\":true}");

    CHECK_INT(parse(" \n\t\n"), 0);
    CHECK_INT(in.format, HF_SEND_EMPTY);
    CHECK_INT(in.events_n, 0);
}

TEST(numbers_and_strings_kept_exactly)
{
    CHECK_INT(parse("{\"n\": 12345678901234567890, \"f\": -0.5e+10,\n"
                    " \"s\": \"\\u00e9\\n \xc3\xa9\"}"), 0);
    CHECK_STR(ev(0), "{\"n\":12345678901234567890,\"f\":-0.5e+10,\"s\":\"\\u00e9\\n \xc3\xa9\"}");
}

TEST(invalid_lines_are_all_reported)
{
    CHECK_INT(parse("{\"a\":1}\n{\"a\":2,}\n{\"a\":\"b\n{\"a\":1} x\nnul\n01\n{\"a\":3}\n"), 1);
    CHECK_INT(in.problems, 5);
    CHECK_HAS(problems, "in:2:8: invalid JSON: unexpected '}', expected a string key");
    CHECK_HAS(problems, "in:3:6: invalid JSON: unterminated string");
    CHECK_HAS(problems, "in:4:9: invalid JSON: unexpected 'x', expected the end of the line");
    CHECK_HAS(problems, "in:5:1: invalid JSON: unexpected 'n'");
    CHECK_HAS(problems, "in:6:2: invalid JSON: unexpected '1'");
}

TEST(invalid_documents)
{
    CHECK_INT(parse("[\n {\"a\": 1},\n {\"a\": 2\n]\n"), 1);
    CHECK_STR(problems, "in:4:1: invalid JSON: unexpected ']', expected ',' or '}'\n");
    CHECK_INT(parse("{\n \"a\": 1\n}\n{\"b\": 2}\n"), 1);
    CHECK_HAS(problems, "in:4: more JSON follows the value that ends on line 3");
    CHECK_INT(parse("[\"\xff\"]"), 1);
    CHECK_HAS(problems, "invalid UTF-8");
    CHECK_INT(parse("[\"\\x\"]"), 1);
    CHECK_HAS(problems, "invalid escape");
    CHECK_INT(parse("[\"\\u12G4\"]"), 1);
    CHECK_HAS(problems, "invalid \\u escape");
    CHECK_INT(parse("{\"a\": 1"), 1);
    CHECK_HAS(problems, "in:1:8: invalid JSON: unexpected end of line, expected ',' or '}'");
    CHECK_INT(parse("{\n\"a\": 1\n"), 1);
    CHECK_HAS(problems, "in:3:1: invalid JSON: unexpected end of input, expected ',' or '}'");
    CHECK_INT(parse("[\"a\tb\"]"), 1);
    CHECK_HAS(problems, "in:1:4: invalid JSON: control character in a string");
}

/* "[[...]]" n levels deep, or {"a":{"a":...}} with objects. */
static const char *nested(int n, int objects)
{
    static char buf[8000];
    char *p = buf;
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s", objects ? "{\"a\":" : "[");
    *p++ = '1';
    for (int i = 0; i < n; i++)
        *p++ = objects ? '}' : ']';
    *p = '\0';
    return buf;
}

TEST(too_deep)
{
    /* An event nests as deep as hubfn's decoder allows (1000 levels), alone or as an
       element of the top-level array. */
    CHECK_INT(parse(nested(1000, 1)), 0);
    CHECK_INT(in.format, HF_SEND_SINGLE);
    CHECK_INT(parse(nested(1001, 1)), 1);
    CHECK_HAS(problems, "nested too deeply");
    CHECK_INT(parse(nested(1001, 0)), 0);
    CHECK_INT(in.format, HF_SEND_ARRAY);
    CHECK_INT(in.events_n, 1);
    CHECK_INT(parse(nested(1002, 0)), 1);
    CHECK_HAS(problems, "nested too deeply");
}

TEST(events_the_decoder_accepts)
{
    /* A number beyond a double is refused (the decoder would give decodeError)... */
    CHECK_INT(parse("{\"n\":1}\n{\"n\":1e400}\n{\"n\":-1.5E+308}\n{\"n\":1e-400}\n"), 1);
    CHECK_INT(in.problems, 1);
    CHECK_STR(problems, "in:2:6: invalid JSON: number out of range (beyond +-1.8e308)\n");
    /* ... a byte order mark may start any line, as it may start any body ... */
    CHECK_INT(parse("\xef\xbb\xbf{\"a\":1}\n\xef\xbb\xbf{\"a\":2}\n {\"a\":3}\xef\xbb\xbf\n"), 1);
    CHECK_INT(in.events_n, 2);
    CHECK_STR(ev(1), "{\"a\":2}");
    CHECK_STR(problems, "in:3:9: invalid JSON: unexpected byte 0xef, expected the end of "
                        "the line (one event per line)\n");
    /* ... and a lone surrogate escape is kept (the decoder makes it U+FFFD). */
    CHECK_INT(parse("[\"\\ud800\", \"\\udc00x\"]"), 0);
    CHECK_INT(in.events_n, 2);
}

TEST(rudderstack_keys)
{
    const char *text =
        "{\"type\":\"track\",\"userId\":\"u1\",\"anonymousId\":\"a1\"}\n"
        "{\"type\":\"track\",\"userId\":\"\",\"anonymousId\":\"a2\"}\n"
        "{\"type\":\"track\",\"userId\":null,\"anonymousId\":\"a3\"}\n"
        "{\"type\":\"track\",\"context\":{\"userId\":\"nested\"},\"anonymousId\":\"a4\"}\n"
        "{\"type\":\"identify\",\"userId\":42}\n"
        "{\"type\":\"track\",\"userId\":\"\\u00e9\\\"q\"}\n"
        "{\"type\":\"track\"}\n"
        "[\"userId\",\"x\"]\n"
        "{\"userId\":\"first\",\"userId\":\"last\"}\n"
        "{\"userId\":{\"a\":\"b\"},\"anonymousId\":[1],\"x\":1}\n";
    CHECK_INT(parse_keys(text, "userId, anonymousId", HF_SEND_DEFAULT_MAX_EVENT), 0);
    CHECK_INT(in.events_n, 10);
    CHECK_STR(key(0), "u1");
    CHECK_STR(key(1), "a2");
    CHECK_STR(key(2), "a3");
    CHECK_STR(key(3), "a4");
    CHECK_STR(key(4), "42");
    CHECK_STR(key(5), "\xc3\xa9\"q");
    CHECK_STR(key(6), "(none)");
    CHECK_STR(key(7), "(none)");
    CHECK_STR(key(8), "last");
    CHECK_STR(key(9), "(none)");
    CHECK_INT(in.keyless, 3);           /* 6, 7 (not an object) and 9 */

    CHECK_INT(parse(text), 0);
    CHECK_STR(key(0), "(none)");
    CHECK_INT(in.keyless, 0);
}

TEST(key_list)
{
    CHECK_INT(parse_keys("{}", " ,a", 10), -9);
    CHECK_HAS(err, "--key needs field names");
    CHECK_INT(parse_keys("{}", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", 10), -9);
    CHECK_HAS(err, "at most 16");
}

TEST(size_limit_names_lines)
{
    CHECK_INT(parse_keys("{\"u\":\"k\",\"p\":\"xxxxxxxxxx\"}\n{\"p\":1}\n"
                         "{\"u\":\"kk\",\"p\":\"xxxxxxxx\"}\n", "u", 25), 1);
    CHECK_INT(in.problems, 2);
    CHECK_HAS(problems, "in:1: the event is 27 bytes with its key, over the limit of 25 bytes");
    CHECK_HAS(problems, "in:3: the event is 27 bytes");
    CHECK_INT(parse_keys("{\"events\": [\n{\"p\":1},\n  {\"p\":\"xxxxxxxxxxxxxxxxxxxxxxx\"}]}",
                         NULL, 25), 1);
    CHECK_STR(problems, "in:3: events[1] is 31 bytes, over the limit of 25 bytes "
                        "(--max-event-bytes)\n");
    CHECK_INT(parse_keys("[{\"p\":1},\n{\"p\":\"xxxxxxxxxxxxxxxxxxxxxxx\"}]", NULL, 25), 1);
    CHECK_HAS(problems, "in:2: [1] is 31 bytes");
    /* Exactly at the limit is fine. */
    CHECK_INT(parse_keys("{\"p\":\"xxxxxxxxxxxxxxxxx\"}", NULL, 25), 0);
}

/* Problems of both checks come in line order: a too-large event between two bad lines. */
TEST(problems_in_line_order)
{
    CHECK_INT(parse_keys("{\"n\":1e400}\n{\"p\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n{bad\n",
                         NULL, 25), 1);
    CHECK_INT(in.problems, 3);
    const char *a = strstr(problems, "in:1:"), *b = strstr(problems, "in:2:"),
               *c = strstr(problems, "in:3:");
    CHECK(a && b && c && a < b && b < c);
}

TEST_MAIN()
