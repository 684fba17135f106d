/*
 * Capture records (commands/capture_record.c): the exact line written for an event, and
 * reading it back to the same bytes, binary keys, bodies and header values included; what
 * a reader refuses and how it says so.
 */
#include "test.h"

#include "alloc.h"
#include "capture_record.h"

/* Write rec into *line, then read a copy of it back into *back; the copy (which back
   points into) is returned in *copy, to be freed. */
static int roundtrip(const hf_capture_record_t *rec, hf_capture_reader_t *rd, hf_buf_t *line,
                     char **copy, hf_capture_record_t *back, char *err, size_t errsz)
{
    hf_buf_init(line);
    hf_capture_record_write(line, rec);
    *copy = hf_memdup(line->data, line->len);
    return hf_capture_record_read(rd, *copy, line->len, back, err, errsz);
}

/* Read a record from a literal. */
static int read_lit(const char *text, hf_capture_reader_t *rd, hf_capture_record_t *rec,
                    char **line, char *err, size_t errsz)
{
    *line = hf_strdup(text);
    return hf_capture_record_read(rd, *line, strlen(text), rec, err, errsz);
}

TEST(writes_the_documented_form)
{
    hf_header_t h[] = {{"source", "web", 3}};
    hf_capture_record_t rec = {3, 120, 1777709700120LL, "u1", 2, h, 1, "{\"id\":1}", 8};
    hf_buf_t b;
    hf_buf_init(&b);
    hf_capture_record_write(&b, &rec);
    CHECK_STR(b.data, "{\"partition\":3,\"offset\":120,\"enqueuedTime\":\"2026-05-02T08:15:00.120Z\","
                      "\"partitionKey\":\"u1\",\"properties\":{\"source\":\"web\"},"
                      "\"body\":\"{\\\"id\\\":1}\"}");
    hf_buf_free(&b);
}

TEST(no_key_no_time_no_headers)
{
    hf_capture_record_t rec = {0, 0, -1, NULL, 0, NULL, 0, "", 0};
    hf_buf_t b;
    hf_buf_init(&b);
    hf_capture_record_write(&b, &rec);
    CHECK_STR(b.data, "{\"partition\":0,\"offset\":0,\"enqueuedTime\":null,\"partitionKey\":null,"
                      "\"properties\":{},\"body\":\"\"}");
    hf_buf_free(&b);
}

TEST(bytes_that_are_not_text_are_base64)
{
    static const char body[] = {'a', (char)0xff, 0, 'b'};
    static const char key[] = {(char)0xc3};
    hf_header_t h[] = {{"t", "x", 1}, {"bin", "\x80\x81", 2}, {"nul", NULL, 0}};
    hf_capture_record_t rec = {1, 7, 0, key, 1, h, 3, body, 4};
    hf_buf_t b;
    hf_buf_init(&b);
    hf_capture_record_write(&b, &rec);
    CHECK_STR(b.data, "{\"partition\":1,\"offset\":7,\"enqueuedTime\":\"1970-01-01T00:00:00.000Z\","
                      "\"partitionKeyBase64\":\"ww==\",\"properties\":{\"t\":\"x\",\"nul\":null},"
                      "\"propertiesBase64\":{\"bin\":\"gIE=\"},\"bodyBase64\":\"Yf8AYg==\"}");
    hf_buf_free(&b);
}

TEST(reads_back_the_same_bytes)
{
    static const char body[] = {'{', '"', 0x01, 0, '\n', '\\', (char)0xe2, (char)0x82,
                                (char)0xac, (char)0xfe};
    hf_header_t h[] = {{"a", "1", 1}, {"a", "2", 1}, {"b", "\xff", 1}, {"c", NULL, 0},
                       {"q\"", "\t", 1}};
    hf_capture_record_t rec = {31, 9007199254740993LL, 1700000000123LL, "", 0, h, 5, body,
                               sizeof(body)};
    hf_capture_reader_t rd = {0};
    hf_capture_record_t back;
    hf_buf_t line;
    char err[256], *copy;
    int rc = roundtrip(&rec, &rd, &line, &copy, &back, err, sizeof(err));
    CHECK_STR(rc == 0 ? "read" : err, "read");
    CHECK_INT(back.partition, 31);
    CHECK_INT(back.offset, 9007199254740993LL);
    CHECK_INT(back.enqueued_ms, 1700000000123LL);
    CHECK(back.key != NULL);
    CHECK_INT(back.key_len, 0);
    CHECK_INT(back.body_len, sizeof(body));
    CHECK(memcmp(back.body, body, sizeof(body)) == 0);
    CHECK_INT(back.headers_n, 5);
    /* text values first, in order, then the base64 ones */
    CHECK_STR(back.headers[0].name, "a");
    CHECK_STR(back.headers[0].value, "1");
    CHECK_STR(back.headers[1].value, "2");
    CHECK_STR(back.headers[2].name, "c");
    CHECK(back.headers[2].value == NULL);
    CHECK_STR(back.headers[3].name, "q\"");
    CHECK_STR(back.headers[3].value, "\t");
    CHECK_STR(back.headers[4].name, "b");
    CHECK_INT(back.headers[4].value_len, 1);
    CHECK_INT((unsigned char)back.headers[4].value[0], 0xff);
    /* writing what was read gives the same line again */
    hf_buf_t again;
    hf_buf_init(&again);
    hf_capture_record_write(&again, &back);
    CHECK_STR(again.data, line.data);
    hf_buf_free(&again);
    hf_buf_free(&line);
    free(copy);
    hf_capture_reader_free(&rd);
}

TEST(null_body_and_key)
{
    hf_capture_reader_t rd = {0};
    hf_capture_record_t rec;
    char *line, err[256];
    CHECK_INT(read_lit("{\"partition\":2,\"offset\":5,\"partitionKey\":null,\"body\":null,"
                       "\"sequenceNumber\":5,\"future\":[1,{\"x\":2}]}",
                       &rd, &rec, &line, err, sizeof(err)), 0);
    CHECK(rec.body == NULL);
    CHECK(rec.key == NULL);
    CHECK_INT(rec.enqueued_ms, -1);
    CHECK_INT(rec.headers_n, 0);
    free(line);
    hf_capture_reader_free(&rd);
}

/* The reader's message for a line. */
static const char *refusal(const char *text)
{
    static char err[256];
    hf_capture_reader_t rd = {0};
    hf_capture_record_t rec;
    char *line;
    int rc = read_lit(text, &rd, &rec, &line, err, sizeof(err));
    free(line);
    hf_capture_reader_free(&rd);
    return rc == 0 ? "accepted" : err;
}

TEST(refusals_say_what_and_where)
{
    CHECK_STR(refusal("{\"offset\":1,\"body\":\"x\"}"), "column 1: the record has no \"partition\"");
    CHECK_STR(refusal("{\"partition\":1,\"body\":\"x\"}"), "column 1: the record has no \"offset\"");
    CHECK_STR(refusal("{\"partition\":1,\"offset\":2}"),
              "column 1: the record has no \"body\" (nor \"bodyBase64\")");
    CHECK_STR(refusal("{\"partition\":-1,\"offset\":2,\"body\":\"\"}"),
              "column 14: \"partition\" must be a whole number from 0");
    CHECK_STR(refusal("{\"partition\":1.5,\"offset\":2,\"body\":\"\"}"),
              "column 14: \"partition\" must be a whole number from 0");
    CHECK_STR(refusal("{\"partition\":9999999999,\"offset\":2,\"body\":\"\"}"),
              "column 14: \"partition\" is too large");
    CHECK_HAS(refusal("{\"partition\":1,\"offset\":2,\"enqueuedTime\":\"yesterday\",\"body\":\"\"}"),
              "column 42: \"enqueuedTime\" must be an ISO 8601 date-time");
    CHECK_STR(refusal("{\"partition\":1,\"offset\":2,\"bodyBase64\":\"@@\"}"),
              "column 40: bodyBase64 is not base64");
    CHECK_STR(refusal("{\"partition\":1,\"offset\":2,\"body\":\"\",\"bodyBase64\":\"\"}"),
              "column 37: a record holds one of \"body\" and \"bodyBase64\", not both");
    CHECK_STR(refusal("{\"partition\":1,\"offset\":2,\"properties\":{\"a\":1},\"body\":\"\"}"),
              "column 45: \"a property value\" must be a string or null");
    CHECK_STR(refusal("{\"partition\":1,\"offset\":2,\"properties\":[],\"body\":\"\"}"),
              "column 40: \"properties\" must be an object");
    CHECK_STR(refusal("{\"partition\":1,\"offset\":2,\"body\":\"x\""),
              "column 37: expected ',' or '}'");
    CHECK_HAS(refusal("{\"partition\":1,\"offset\":2,\"body\":\"x}"),
              "column 34: invalid JSON: unterminated string");
    CHECK_STR(refusal("{\"partition\":1,\"offset\":2,\"body\":\"x\"} {}"),
              "column 39: more follows the record (one record per line)");
    CHECK_HAS(refusal("hello"), "column 1: expected a capture record");
}

TEST_MAIN()
