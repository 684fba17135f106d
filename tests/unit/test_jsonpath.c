/*
 * Unit tests of runtime/jsonpath.c: the orderingKey "body:PATH" lookup.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jsonpath.h"
#include "test.h"

/* The value at path in doc as a string, or "(none)". */
static const char *at(const char *path, const char *doc)
{
    static char buf[256];
    hf_jsonpath_t p;
    char err[200];
    const char *v;
    size_t n;
    if (hf_jsonpath_compile(&p, path, err, sizeof(err)) < 0)
        return "(bad path)";
    int found = hf_jsonpath_get(&p, doc, strlen(doc), &v, &n);
    hf_jsonpath_free(&p);
    if (!found)
        return "(none)";
    snprintf(buf, sizeof(buf), "%.*s", (int)n, v);
    return buf;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = hf_malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

TEST(paths_into_objects_and_arrays)
{
    CHECK_STR(at("userId", "{\"userId\":\"u1\"}"), "u1");
    CHECK_STR(at("a.b", " { \"x\" : [1, {\"b\":2}], \"a\" : { \"b\" : \"deep\" } } "), "deep");
    CHECK_STR(at("a.1.id", "{\"a\":[{\"id\":\"first\"},{\"id\":\"second\"}]}"), "second");
    CHECK_STR(at("a.0", "{\"a\":[\"x\"]}"), "x");
    CHECK_STR(at("0", "{\"0\":\"key named zero\"}"), "key named zero");
    CHECK_STR(at("n", "{\"n\":-12.5e3}"), "-12.5e3");
    CHECK_STR(at("t", "{\"t\":true}"), "true");
    CHECK_STR(at("s", "{\"s\":\"a\\\"b\\\\\"}"), "a\\\"b\\\\");   /* escapes kept */
    CHECK_STR(at("b", "{\"a\":\"}]\\\"{\",\"b\":\"after\"}"), "after");   /* brackets in strings */
    CHECK_STR(at("k", "\xEF\xBB\xBF{\"k\":\"bom\"}"), "bom");
}

TEST(no_value)
{
    CHECK_STR(at("missing", "{\"a\":1}"), "(none)");
    CHECK_STR(at("a", "{\"a\":null}"), "(none)");
    CHECK_STR(at("a", "{\"a\":{\"b\":1}}"), "(none)");        /* an object is no key */
    CHECK_STR(at("a", "{\"a\":[1]}"), "(none)");
    CHECK_STR(at("a.5", "{\"a\":[1,2]}"), "(none)");
    CHECK_STR(at("a.x", "{\"a\":[1,2]}"), "(none)");
    CHECK_STR(at("a", "[1,2]"), "(none)");
    CHECK_STR(at("a", "\"just a string\""), "(none)");
    CHECK_STR(at("a", ""), "(none)");
}

TEST(malformed_documents_give_no_value_and_stay_in_bounds)
{
    const char *bad[] = {"{", "{\"a\"", "{\"a\":", "{\"a\":\"unterminated", "{\"b\":[1,2",
                         "{\"b\":{\"c\":\"}", "{\"a\"\"x\"}", "{\"b\":1 \"a\":2}", "not json",
                         "{\"b\":[[[[[[", "{\"a\\", NULL};
    for (int i = 0; bad[i]; i++) {
        /* copied into a buffer of exactly its length, so a read past the end is caught by
           the sanitizer build */
        size_t n = strlen(bad[i]);
        char *doc = hf_malloc(n ? n : 1);
        memcpy(doc, bad[i], n);
        hf_jsonpath_t p;
        char err[100];
        const char *v;
        size_t vn;
        CHECK(hf_jsonpath_compile(&p, "a", err, sizeof(err)) == 0);
        CHECK(hf_jsonpath_get(&p, doc, n, &v, &vn) == 0);
        hf_jsonpath_free(&p);
        free(doc);
    }
}

TEST(bad_paths)
{
    hf_jsonpath_t p;
    char err[200];
    CHECK(hf_jsonpath_compile(&p, "", err, sizeof(err)) < 0);
    CHECK(hf_jsonpath_compile(&p, "a..b", err, sizeof(err)) < 0);
    CHECK(strstr(err, "empty segment") != NULL);
    CHECK(hf_jsonpath_compile(&p, "a.", err, sizeof(err)) < 0);
    CHECK(hf_jsonpath_compile(&p, ".a", err, sizeof(err)) < 0);
}

TEST(aep_identity)
{
    size_t len;
    char *doc = read_file("tests/fixtures/aep/current.json", &len);
    CHECK(doc != NULL);
    hf_jsonpath_t p;
    char err[100];
    const char *v;
    size_t n;
    CHECK(hf_jsonpath_compile(&p, "identityMap.ecid.0.id", err, sizeof(err)) == 0);
    int found = hf_jsonpath_get(&p, doc, len, &v, &n);
    hf_jsonpath_free(&p);
    CHECK(found);
    CHECK(n == 38 && memcmp(v, "14575006536349286404619648085736425115", n) == 0);
    free(doc);
}

TEST_MAIN()
