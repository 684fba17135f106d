/*
 * JSON <-> Lua: decoding rules (numbers, null, [] vs {}, strings, UTF-8), robustness
 * (nesting, 1 MB, empty, NUL, truncated, trailing bytes), error messages with byte
 * offsets, the encoder (UTF-8 repair, floats, key order, errors), the Lua module, lazy
 * bodies, and decoding from several threads at once.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "json.h"
#include "lua_lazy.h"
#include "test.h"

static char err[512];
static hf_buf_t out;

/* A fresh state with the standard libraries. */
static lua_State *newL(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    return L;
}

/* Decodes s (NUL-terminated); 0 or -1 with err set. */
static int dec(lua_State *L, const char *s)
{
    return hf_json_decode(L, s, strlen(s), err, sizeof(err));
}

/* Encodes the value at idx into out.data ("" on failure, with err set). */
static const char *enc(lua_State *L, int idx)
{
    out.len = 0;
    if (hf_json_encode(L, idx, &out, err, sizeof(err)) < 0)
        return "";
    return out.data ? out.data : "";
}

/* Decodes then re-encodes s; returns the encoding (or "ERR: message"). */
static const char *roundtrip(lua_State *L, const char *s)
{
    static char buf[4096];
    if (dec(L, s) < 0) {
        snprintf(buf, sizeof(buf), "ERR: %s", err);
        return buf;
    }
    snprintf(buf, sizeof(buf), "%s", enc(L, -1));
    lua_pop(L, 1);
    return buf;
}

/* Runs a Lua chunk leaving its results on the stack; the test fails if it errs. */
#define DO(L, code) CHECK(luaL_dostring((L), (code)) == LUA_OK)

/* Runs Lua code that must return a string; returns it (or the error). */
static const char *run_lua(lua_State *L, const char *code)
{
    static char buf[1024];
    if (luaL_dostring(L, code) != LUA_OK) {
        snprintf(buf, sizeof(buf), "LUAERR: %s", lua_tostring(L, -1));
    } else {
        const char *s = lua_tostring(L, -1);
        snprintf(buf, sizeof(buf), "%s", s ? s : "(not a string)");
    }
    lua_settop(L, 0);
    return buf;
}

TEST(scalars)
{
    lua_State *L = newL();
    CHECK(dec(L, "true") == 0 && lua_isboolean(L, -1) && lua_toboolean(L, -1));
    CHECK(dec(L, " false ") == 0 && lua_isboolean(L, -1) && !lua_toboolean(L, -1));
    CHECK(dec(L, "null") == 0 && hf_json_is_null(L, -1));
    CHECK(dec(L, "\"hi\"") == 0 && lua_type(L, -1) == LUA_TSTRING);
    CHECK_STR(lua_tostring(L, -1), "hi");
    CHECK_INT(lua_gettop(L), 4);
    lua_close(L);
}

TEST(integers_and_floats)
{
    lua_State *L = newL();
    CHECK(dec(L, "42") == 0 && lua_isinteger(L, -1));
    CHECK_INT(lua_tointeger(L, -1), 42);
    CHECK(dec(L, "-17") == 0 && lua_isinteger(L, -1) && lua_tointeger(L, -1) == -17);
    CHECK(dec(L, "1.0") == 0 && !lua_isinteger(L, -1) && lua_tonumber(L, -1) == 1.0);
    CHECK(dec(L, "1e2") == 0 && !lua_isinteger(L, -1) && lua_tonumber(L, -1) == 100.0);
    CHECK(dec(L, "0.1") == 0 && lua_tonumber(L, -1) == 0.1);
    CHECK(dec(L, "123456.789e-3") == 0 && lua_tonumber(L, -1) == 123.456789);
    CHECK(dec(L, "9223372036854775807") == 0 && lua_isinteger(L, -1));
    CHECK(lua_tointeger(L, -1) == INT64_MAX);
    CHECK(dec(L, "-9223372036854775808") == 0 && lua_isinteger(L, -1));
    CHECK(lua_tointeger(L, -1) == INT64_MIN);
    /* AEP timestamps in epoch milliseconds stay exact integers */
    CHECK(dec(L, "1648553325000") == 0 && lua_isinteger(L, -1));
    CHECK(lua_tointeger(L, -1) == 1648553325000LL);
    lua_close(L);
}

TEST(big_integers_become_floats)
{
    lua_State *L = newL();
    CHECK(dec(L, "9223372036854775808") == 0 && !lua_isinteger(L, -1));
    CHECK(lua_tonumber(L, -1) == 9223372036854775808.0);
    /* a 38-digit ECID sent as a number: a float, precision lost (AEP sends them as strings) */
    CHECK(dec(L, "14575006536349286404619648085736425115") == 0 && !lua_isinteger(L, -1));
    CHECK(fabs(lua_tonumber(L, -1) / 1.4575006536349286e37 - 1) < 1e-15);
    CHECK(dec(L, "\"14575006536349286404619648085736425115\"") == 0);
    CHECK_STR(lua_tostring(L, -1), "14575006536349286404619648085736425115");
    CHECK(dec(L, "-99999999999999999999") == 0 && !lua_isinteger(L, -1));
    CHECK_STR(roundtrip(L, "[18446744073709551616]"), "[1.8446744073709552e+19]");
    lua_close(L);
}

TEST(negative_zero_and_range)
{
    lua_State *L = newL();
    CHECK(dec(L, "-0") == 0 && !lua_isinteger(L, -1));
    CHECK(lua_tonumber(L, -1) == 0 && signbit(lua_tonumber(L, -1)));
    CHECK_STR(roundtrip(L, "[-0, 0, -0.0]"), "[-0.0,0,-0.0]");
    CHECK(dec(L, "1e400") == -1);
    CHECK_STR(err, "invalid JSON at byte 0: number out of range (beyond +-1.8e308)");
    CHECK(dec(L, "[1, -1e400]") == -1);
    CHECK_HAS(err, "at byte 4: number out of range");
    CHECK(dec(L, "1e-400") == 0 && lua_tonumber(L, -1) == 0.0);
    CHECK_INT(lua_gettop(L), 2);
    lua_close(L);
}

TEST(number_grammar)
{
    lua_State *L = newL();
    const char *bad[] = { "01", "-", "1.", ".5", "+1", "1e", "1e+", "0x10", "-a", "1.e3",
                          "Infinity", "NaN", "--1" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dec(L, bad[i]) != -1) {
            snprintf(hf_test_why, sizeof(hf_test_why), "accepted \"%s\"", bad[i]);
            hf_test_failed = 1;
            return;
        }
        CHECK_HAS(err, "invalid JSON at byte ");
    }
    CHECK_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(null_sentinel_keeps_length_and_keys)
{
    lua_State *L = newL();
    CHECK(dec(L, "[null, 1, null]") == 0);
    CHECK_INT(lua_rawlen(L, -1), 3);
    lua_rawgeti(L, -1, 3);
    CHECK(hf_json_is_null(L, -1));
    lua_pop(L, 2);
    CHECK(dec(L, "{\"a\": null}") == 0);
    lua_getfield(L, -1, "a");
    CHECK(hf_json_is_null(L, -1));
    lua_pop(L, 2);
    CHECK_STR(roundtrip(L, "{\"a\":null,\"b\":[null]}"), "{\"a\":null,\"b\":[null]}");
    lua_close(L);
}

TEST(empty_array_vs_object)
{
    lua_State *L = newL();
    CHECK(dec(L, "[]") == 0 && hf_json_is_array(L, -1));
    CHECK(dec(L, "{}") == 0 && !hf_json_is_array(L, -1));
    CHECK(dec(L, "[1]") == 0 && hf_json_is_array(L, -1));
    lua_settop(L, 0);
    CHECK_STR(roundtrip(L, "{\"a\":[],\"b\":{},\"c\":[[],{}]}"),
              "{\"a\":[],\"b\":{},\"c\":[[],{}]}");
    lua_close(L);
}

TEST(roundtrip_sorted_compact)
{
    lua_State *L = newL();
    CHECK_STR(roundtrip(L, " { \"b\" : [ 1 , 2.5 , \"x\" ] , \"a\" : { \"z\" : true , "
                           "\"y\" : false } , \"1\" : 1 } "),
              "{\"1\":1,\"a\":{\"y\":false,\"z\":true},\"b\":[1,2.5,\"x\"]}");
    /* an object whose keys look like numbers stays an object */
    CHECK_STR(roundtrip(L, "{\"2\":\"b\",\"1\":\"a\"}"), "{\"1\":\"a\",\"2\":\"b\"}");
    lua_close(L);
}

TEST(duplicate_keys_last_wins)
{
    lua_State *L = newL();
    CHECK_STR(roundtrip(L, "{\"a\":1,\"a\":2}"), "{\"a\":2}");
    /* also past the point where the decoder creates the table early (32 members) */
    char buf[2048];
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"k\":0");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"m%d\":%d", i, i);
    snprintf(buf + n, sizeof(buf) - n, ",\"k\":99}");
    CHECK(dec(L, buf) == 0);
    lua_getfield(L, -1, "k");
    CHECK_INT(lua_tointeger(L, -1), 99);
    lua_close(L);
}

TEST(string_escapes_and_surrogate_pairs)
{
    lua_State *L = newL();
    CHECK(dec(L, "\"a\\n\\t\\\"\\\\\\/\\b\\f\\r\\u00e9\\u20ac\\ud83d\\ude00\"") == 0);
    CHECK_STR(lua_tostring(L, -1), "a\n\t\"\\/\b\f\r\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    CHECK(dec(L, "\"\\u0000x\"") == 0);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    CHECK(len == 2 && s[0] == 0 && s[1] == 'x');
    CHECK(dec(L, "\"\\q\"") == -1);
    CHECK_STR(err, "invalid JSON at byte 1: invalid escape '\\q' in string");
    CHECK(dec(L, "\"\\u12G4\"") == -1);
    CHECK_HAS(err, "at byte 1: invalid \\u escape");
    lua_close(L);
}

TEST(lone_surrogates_become_replacement)
{
    lua_State *L = newL();
    CHECK(dec(L, "\"\\ud800\"") == 0);
    CHECK_STR(lua_tostring(L, -1), "\xef\xbf\xbd");
    CHECK(dec(L, "\"x\\udc00y\"") == 0);
    CHECK_STR(lua_tostring(L, -1), "x\xef\xbf\xbdy");
    CHECK(dec(L, "\"\\ud800\\u0041\"") == 0);      /* high then not-low: FFFD, A */
    CHECK_STR(lua_tostring(L, -1), "\xef\xbf\xbd" "A");
    CHECK(dec(L, "\"\\udbff\\udfff\"") == 0);      /* U+10FFFF */
    CHECK_STR(lua_tostring(L, -1), "\xf4\x8f\xbf\xbf");
    lua_close(L);
}

TEST(invalid_utf8_rejected_with_offset)
{
    lua_State *L = newL();
    struct { const char *in; const char *msg; } cases[] = {
        { "\"ab\xff\"", "invalid JSON at byte 3: invalid UTF-8 byte 0xff in string" },
        { "\"\xc0\xaf\"", "invalid JSON at byte 1: invalid UTF-8 byte 0xc0 in string" },
        { "[\"\xed\xa0\x80\"]", "invalid JSON at byte 2: invalid UTF-8 byte 0xed in string" },
        { "\"\xe2\x82\"", "invalid JSON at byte 1: invalid UTF-8 byte 0xe2 in string" },
        { "\"\xf4\x90\x80\x80\"", "invalid JSON at byte 1: invalid UTF-8 byte 0xf4 in string" },
        { "{\"k\\n\xff\":1}", "invalid JSON at byte 5: invalid UTF-8 byte 0xff in string" },
        { "\xff", "invalid JSON at byte 0: unexpected byte 0xff, expected a value" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(dec(L, cases[i].in) == -1);
        CHECK_STR(err, cases[i].msg);
    }
    /* valid multi-byte sequences pass, also long runs handled 8 bytes at a time */
    CHECK(dec(L, "\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 plain ascii text here\"") == 0);
    CHECK_INT(lua_gettop(L), 1);
    lua_close(L);
}

TEST(control_and_nul_bytes)
{
    lua_State *L = newL();
    CHECK(hf_json_decode(L, "\"a\nb\"", 5, err, sizeof(err)) == -1);
    CHECK_STR(err, "invalid JSON at byte 2: control character 0x0a in string (must be escaped)");
    CHECK(hf_json_decode(L, "\"a\0b\"", 5, err, sizeof(err)) == -1);
    CHECK_STR(err, "invalid JSON at byte 2: control character 0x00 in string (must be escaped)");
    CHECK(hf_json_decode(L, "[1,\0 2]", 7, err, sizeof(err)) == -1);
    CHECK_STR(err, "invalid JSON at byte 3: unexpected byte 0x00, expected a value");
    CHECK(hf_json_decode(L, "{}\0", 3, err, sizeof(err)) == -1);
    CHECK_STR(err, "invalid JSON at byte 2: trailing byte 0x00 after the JSON value");
    CHECK(hf_json_decode(L, "\0", 1, err, sizeof(err)) == -1);
    CHECK_HAS(err, "at byte 0");
    CHECK_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(empty_body)
{
    lua_State *L = newL();
    CHECK(hf_json_decode(L, "", 0, err, sizeof(err)) == -1);
    CHECK_STR(err, "invalid JSON at byte 0: empty body");
    CHECK(hf_json_decode(L, NULL, 0, err, sizeof(err)) == -1);
    CHECK_HAS(err, "empty body");
    CHECK(dec(L, " \r\n\t ") == -1);
    CHECK_STR(err, "invalid JSON at byte 5: empty body");
    CHECK_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(truncated_input)
{
    lua_State *L = newL();
    const char *cases[] = { "{", "[1,2", "{\"a\"", "{\"a\":", "{\"a\":1,", "\"abc", "tru",
                            "[1,{\"b\":[", "{\"a\":\"x\\" };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(dec(L, cases[i]) == -1);
        CHECK_HAS(err, "invalid JSON at byte ");
    }
    CHECK(dec(L, "[1,2") == -1);
    CHECK_STR(err, "invalid JSON at byte 4: unexpected end of input, expected ',' or ']' "
                   "after array element");
    CHECK(dec(L, "\"abc") == -1);
    CHECK_STR(err, "invalid JSON at byte 0: unterminated string");
    CHECK_INT(lua_gettop(L), 0);
    lua_close(L);
}

TEST(error_messages_name_byte_offsets)
{
    lua_State *L = newL();
    struct { const char *in; const char *msg; } cases[] = {
        { "{\"a\" 1}", "invalid JSON at byte 5: expected ':' after object key, found '1'" },
        { "[1,]", "invalid JSON at byte 3: unexpected ']', expected a value" },
        { "{\"a\":1,}", "invalid JSON at byte 7: expected a string key, found '}'" },
        { "{\"a\":1 \"b\":2}", "invalid JSON at byte 7: expected ',' or '}' after object "
                               "member, found '\"'" },
        { "[1 2]", "invalid JSON at byte 3: expected ',' or ']' after array element, found '2'" },
        { "{} x", "invalid JSON at byte 3: trailing 'x' after the JSON value" },
        { "[nul]", "invalid JSON at byte 1: invalid literal (expected true, false or null)" },
        { "{'a':1}", "invalid JSON at byte 1: expected a string key, found '''" },
        { "[01]", "invalid JSON at byte 1: invalid number: leading zero" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(dec(L, cases[i].in) == -1);
        CHECK_STR(err, cases[i].msg);
    }
    lua_close(L);
}

TEST(deep_nesting_is_an_error_not_a_crash)
{
    lua_State *L = newL();
    size_t n = 100000;
    char *s = malloc(2 * n + 1);
    memset(s, '[', n);
    memset(s + n, ']', n);
    clock_t t0 = clock();
    CHECK(hf_json_decode(L, s, 2 * n, err, sizeof(err)) == -1);
    CHECK((clock() - t0) < CLOCKS_PER_SEC / 10);
    CHECK_STR(err, "invalid JSON at byte 1000: nesting deeper than 1000 levels");
    /* objects too */
    for (size_t i = 0; i < n / 5; i++)
        memcpy(s + 5 * i, "{\"a\":", 5);
    CHECK(hf_json_decode(L, s, n, err, sizeof(err)) == -1);
    CHECK_HAS(err, "nesting deeper than 1000 levels");
    /* exactly 1000 levels decode, and re-encode */
    memset(s, '[', 1000);
    memset(s + 1000, ']', 1000);
    CHECK(hf_json_decode(L, s, 2000, err, sizeof(err)) == 0);
    CHECK(strlen(enc(L, -1)) == 2000);
    CHECK(hf_json_decode(L, s, 1001, err, sizeof(err)) == -1);   /* truncated */
    CHECK_INT(lua_gettop(L), 1);
    free(s);
    lua_close(L);
}

TEST(one_megabyte_bodies)
{
    lua_State *L = newL();
    size_t n = 1 << 20;
    char *s = malloc(n + 64);
    /* an array of 100000 small objects */
    size_t k = 0;
    k += (size_t)sprintf(s + k, "[");
    int items = 0;
    while (k < n - 32) {
        k += (size_t)sprintf(s + k, "%s{\"i\":%d}", items ? "," : "", items);
        items++;
    }
    k += (size_t)sprintf(s + k, "]");
    CHECK(hf_json_decode(L, s, k, err, sizeof(err)) == 0);
    CHECK_INT(lua_rawlen(L, -1), items);
    lua_rawgeti(L, -1, items);
    lua_getfield(L, -1, "i");
    CHECK_INT(lua_tointeger(L, -1), items - 1);
    lua_settop(L, 0);
    /* one 1 MB string with escapes */
    s[0] = '"';
    for (size_t i = 1; i < n; i += 2)
        memcpy(s + i, "\\n", 2);
    s[n + 1] = '"';
    CHECK(hf_json_decode(L, s, n + 2, err, sizeof(err)) == 0);
    CHECK(lua_rawlen(L, -1) == n / 2);
    /* one object with 50000 members */
    k = (size_t)sprintf(s, "{");
    for (int i = 0; i < 50000; i++)
        k += (size_t)sprintf(s + k, "%s\"key%d\":%d", i ? "," : "", i, i);
    k += (size_t)sprintf(s + k, "}");
    CHECK(hf_json_decode(L, s, k, err, sizeof(err)) == 0);
    lua_getfield(L, -1, "key49999");
    CHECK_INT(lua_tointeger(L, -1), 49999);
    free(s);
    lua_close(L);
}

TEST(byte_order_mark_skipped)
{
    lua_State *L = newL();
    CHECK(dec(L, "\xef\xbb\xbf{\"a\":1}") == 0);
    lua_getfield(L, -1, "a");
    CHECK_INT(lua_tointeger(L, -1), 1);
    lua_close(L);
}

TEST(encode_repairs_invalid_utf8)
{
    lua_State *L = newL();
    lua_pushstring(L, "a\xff" "b\xc3\xa9" "c\xe2\x82" "d\xed\xa0\x80" "e\xf4\x90\x80\x80" "f");
    CHECK_STR(enc(L, -1), "\"a\xef\xbf\xbd" "b\xc3\xa9" "c\xef\xbf\xbd\xef\xbf\xbd"
                          "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                          "e\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "f\"");
    /* and the result decodes */
    CHECK(hf_json_decode(L, out.data, out.len, err, sizeof(err)) == 0);
    lua_close(L);
}

TEST(encode_escapes)
{
    lua_State *L = newL();
    lua_pushlstring(L, "q\"b\\s/\n\r\t\b\f\x01\x1f\x7f\0z", 16);
    CHECK_STR(enc(L, -1), "\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\\u0000z\"");
    lua_close(L);
}

TEST(encode_numbers)
{
    lua_State *L = newL();
    struct { double v; const char *s; } f[] = {
        { 0.1, "0.1" }, { 1.0, "1.0" }, { -2.0, "-2.0" }, { 1e300, "1e+300" },
        { 2.5, "2.5" }, { 1.0 / 3, "0.3333333333333333" }, { 5e-324, "4.94065645841247e-324" },
        { 123456789012.0, "123456789012.0" }, { 1e21, "1e+21" },
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        lua_pushnumber(L, f[i].v);
        CHECK_STR(enc(L, -1), f[i].s);
        /* and reads back as the same float */
        CHECK(hf_json_decode(L, out.data, out.len, err, sizeof(err)) == 0);
        CHECK(!lua_isinteger(L, -1) && lua_tonumber(L, -1) == f[i].v);
        lua_settop(L, 0);
    }
    lua_pushinteger(L, INT64_MIN);
    CHECK_STR(enc(L, -1), "-9223372036854775808");
    lua_pushinteger(L, 0);
    CHECK_STR(enc(L, -1), "0");
    lua_close(L);
}

TEST(encode_errors_name_the_path)
{
    lua_State *L = newL();
    CHECK_STR(run_lua(L, "return 'ok'"), "ok");
    DO(L, "return { a = { b = { 1, 2, print } } }");
    out.len = 0;
    CHECK(hf_json_encode(L, -1, &out, err, sizeof(err)) == -1);
    CHECK_STR(err, "cannot encode a function at $.a.b[3]");
    CHECK(out.len == 0);
    lua_settop(L, 0);
    DO(L, "local t = { x = { ['odd key'] = 0/0 } } return t");
    CHECK(hf_json_encode(L, -1, &out, err, sizeof(err)) == -1);
    CHECK_STR(err, "cannot encode NaN at $.x[\"odd key\"]");
    lua_settop(L, 0);
    DO(L, "return { math.huge }");
    CHECK(hf_json_encode(L, -1, &out, err, sizeof(err)) == -1);
    CHECK_STR(err, "cannot encode inf at $[1]");
    lua_settop(L, 0);
    DO(L, "local t = { a = {} } t.a.self = t return t");
    CHECK(hf_json_encode(L, -1, &out, err, sizeof(err)) == -1);
    CHECK_STR(err, "cycle: a table contains itself at $.a.self");
    lua_settop(L, 0);
    DO(L, "return { [true] = 1 }");
    CHECK(hf_json_encode(L, -1, &out, err, sizeof(err)) == -1);
    CHECK_HAS(err, "cannot encode a table key of type boolean");
    lua_settop(L, 0);
    DO(L, "local t = {} local c = t for i = 1, 1001 do c[1] = {} c = c[1] end "
                     "return t");
    CHECK(hf_json_encode(L, -1, &out, err, sizeof(err)) == -1);
    CHECK_HAS(err, "nesting deeper than 1000 levels at $[1][1]");
    lua_settop(L, 0);
    lua_newuserdatauv(L, 8, 0);
    CHECK(hf_json_encode(L, -1, &out, err, sizeof(err)) == -1);
    CHECK_STR(err, "cannot encode a userdata at $");
    CHECK_INT(lua_gettop(L), 1);
    lua_close(L);
}

TEST(encode_table_shapes)
{
    lua_State *L = newL();
    struct { const char *lua, *json; } c[] = {
        { "return {1, 2, 3}", "[1,2,3]" },
        { "return {}", "{}" },
        { "return {1, nil, 3}", "{\"1\":1,\"3\":3}" },          /* sparse: an object */
        { "return {1, 2, x = 3}", "{\"1\":1,\"2\":2,\"x\":3}" },
        { "return {[10] = 'a', [9] = 'b', [-1] = 'c'}", "{\"-1\":\"c\",\"10\":\"a\",\"9\":\"b\"}" },
        { "return {[1.5] = true}", "{\"1.5\":true}" },
        { "return {s = 'x', n = 1, f = 0.5, b = false}",
          "{\"b\":false,\"f\":0.5,\"n\":1,\"s\":\"x\"}" },
        { "return {[2] = 'b', [1] = 'a'}", "[\"a\",\"b\"]" },
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        DO(L, c[i].lua);
        CHECK_STR(enc(L, -1), c[i].json);
        lua_settop(L, 0);
    }
    DO(L, "return {[1] = 'n', ['1'] = 's'}");
    CHECK(hf_json_encode(L, -1, &out, err, sizeof(err)) == -1);
    CHECK_HAS(err, "duplicate key \"1\"");
    lua_settop(L, 0);
    lua_pushnil(L);
    CHECK_STR(enc(L, -1), "null");
    lua_close(L);
}

TEST(lua_module)
{
    lua_State *L = newL();
    lua_createtable(L, 0, 2);
    hf_json_open(L);
    lua_setfield(L, -2, "json");
    hf_json_push_null(L);
    lua_setfield(L, -2, "null");
    lua_setglobal(L, "hubfn");
    CHECK_STR(run_lua(L, "local j = hubfn.json "
                         "local v = j.decode('{\"a\":[1,null,{}],\"e\":[]}') "
                         "assert(v.a[2] == hubfn.null and j.null == hubfn.null) "
                         "assert(#v.a == 3 and math.type(v.a[1]) == 'integer') "
                         "v.e[1] = 'x' table.remove(v.e) "
                         "return j.encode(v)"),
              "{\"a\":[1,null,{}],\"e\":[]}");
    CHECK_STR(run_lua(L, "return hubfn.json.encode({ list = hubfn.json.array({}), "
                         "m = {}, n = hubfn.json.array() })"),
              "{\"list\":[],\"m\":{},\"n\":[]}");
    CHECK_STR(run_lua(L, "local ok, e = pcall(hubfn.json.decode, '{\"a\":') return e"),
              "json.decode: invalid JSON at byte 5: unexpected end of input, expected a value");
    CHECK_STR(run_lua(L, "local ok, e = pcall(hubfn.json.encode, {f = print}) return e"),
              "json.encode: cannot encode a function at $.f");
    CHECK_STR(run_lua(L, "return getmetatable(hubfn.json.decode('[]')) == hubfn.json.array_mt "
                         "and 'marked' or 'not'"), "marked");
    CHECK_STR(run_lua(L, "local big = string.rep('x', 100000) "
                         "return #hubfn.json.encode({big, big})"), "200007");
    lua_close(L);
}

TEST(validate_agrees_with_decode)
{
    lua_State *L = newL();
    const char *cases[] = { "{\"a\":[1,2,{\"b\":null}]}", "[1,]", "\"\xff\"", "", "1e400",
                            "{\"segmentMembership\":{}}", "[{\"identityMap\":1}]", "{} x",
                            "{\"identityMap\":[]}", "\"\\ud800\"", "{\"a\":1,\"a\":2}" };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err2[512];
        int shape = -1;
        int r1 = dec(L, cases[i]);
        int r2 = hf_json_validate(cases[i], strlen(cases[i]), &shape, err2, sizeof(err2));
        CHECK_INT(r2, r1);
        if (r1 < 0)
            CHECK_STR(err2, err);
        lua_settop(L, 0);
    }
    int shape;
    const char *doc = "{\"x\":{\"segmentMembership\":1},\"identityMap\":{}}";
    CHECK(hf_json_validate(doc, strlen(doc), &shape, err, sizeof(err)) == 0);
    CHECK_INT(shape, HF_JSON_SHAPE_OBJECT | HF_JSON_SHAPE_IDENTITIES);
    lua_close(L);
}

TEST(lazy_body)
{
    lua_State *L = newL();
    const char *good = "{\"type\":\"track\",\"n\":[1,2]}";
    lua_newtable(L);
    hf_lazy_set_body(L, -1, good, strlen(good));
    lua_setglobal(L, "ev");
    lua_newtable(L);
    hf_lazy_set_body(L, -1, "{oops", 5);
    lua_setglobal(L, "bad");
    CHECK_STR(run_lua(L, "assert(rawget(ev, 'body') == nil) "
                         "assert(ev.decodeError == nil) "
                         "return ev.body.type .. #ev.body.n .. tostring(rawget(ev, 'body') ~= nil)"),
              "track2true");
    CHECK_STR(run_lua(L, "return bad.body .. ' | ' .. bad.decodeError"),
              "{oops | invalid JSON at byte 1: expected a string key, found 'o'");
    lua_newtable(L);
    hf_lazy_set_body(L, -1, "[]", 2);
    lua_setglobal(L, "e3");
    CHECK_STR(run_lua(L, "local keys = {} for k in pairs(e3) do keys[#keys + 1] = "
                         "tostring(k) end return table.concat(keys, ',')"), "body");
    CHECK_STR(run_lua(L, "return tostring(ev.partition)"), "nil");
    /* a body the handler assigns first is kept */
    lua_newtable(L);
    hf_lazy_set_body(L, -1, "[1]", 3);
    lua_setglobal(L, "e4");
    CHECK_STR(run_lua(L, "e4.body = 'mine' for _ in pairs(e4) do end return e4.body"), "mine");
    lua_close(L);
}

/* A lazy field builder for the tests: t.answer = 42 on tables that have t.q. */
static int build_answer(lua_State *L)
{
    if (lua_getfield(L, 1, "q") == LUA_TNIL)
        return 0;
    lua_pushinteger(L, 42);
    return 1;
}

static const char private_key = 0;

TEST(lazy_fields_builders_pairs_and_encode)
{
    lua_State *L = newL();
    hf_json_open(L);
    lua_setglobal(L, "json");
    hf_lazy_field(L, "answer", build_answer);
    lua_newtable(L);                                 /* an event: lazy body + a field */
    lua_pushinteger(L, 7);
    lua_setfield(L, -2, "q");
    lua_pushinteger(L, 99);
    lua_rawsetp(L, -2, &private_key);               /* a private key, as the host's */
    hf_lazy_set_body(L, -1, "{\"b\":[1,2]}", 11);
    lua_setglobal(L, "ev");
    lua_newtable(L);                                 /* no q: the builder gives nil */
    hf_lazy_set(L, -1);
    lua_setglobal(L, "other");
    CHECK_STR(run_lua(L, "assert(rawget(ev, 'answer') == nil) "
                         "local a = ev.answer assert(rawget(ev, 'answer') == 42) "
                         "return a .. tostring(other.answer) .. tostring(rawget(other, 'answer'))"),
              "42nilnil");
    /* pairs builds and decodes everything and hides the private keys */
    lua_newtable(L);
    lua_pushinteger(L, 1);
    lua_setfield(L, -2, "q");
    lua_pushinteger(L, 99);
    lua_rawsetp(L, -2, &private_key);
    hf_lazy_set_body(L, -1, "[]", 2);
    lua_setglobal(L, "e2");
    CHECK_STR(run_lua(L, "local k = {} for name, v in pairs(e2) do k[#k + 1] = "
                         "type(name) .. ':' .. tostring(name) end table.sort(k) "
                         "return table.concat(k, ',')"),
              "string:answer,string:body,string:q");
    /* encode writes a lazy table with its body and built fields, without private keys */
    lua_newtable(L);
    lua_pushinteger(L, 3);
    lua_setfield(L, -2, "q");
    lua_pushinteger(L, 99);
    lua_rawsetp(L, -2, &private_key);
    hf_lazy_set_body(L, -1, "{\"x\":null}", 10);
    lua_setglobal(L, "e3");
    CHECK_STR(run_lua(L, "return json.encode({ ev = e3, other = other })"),
              "{\"ev\":{\"answer\":42,\"body\":{\"x\":null},\"q\":3},\"other\":{}}");
    lua_newtable(L);
    hf_lazy_set_body(L, -1, "{oops", 5);
    lua_setglobal(L, "e4");
    CHECK_STR(run_lua(L, "return json.encode(e4)"),
              "{\"body\":\"{oops\",\"decodeError\":\"invalid JSON at byte 1: expected a "
              "string key, found 'o'\"}");
    /* a plain table holding a light userdata key still fails to encode */
    lua_newtable(L);
    lua_pushinteger(L, 1);
    lua_rawsetp(L, -2, &private_key);
    lua_setglobal(L, "plain");
    CHECK_HAS(run_lua(L, "return json.encode(plain)"), "table key of type userdata");
    lua_close(L);
}

/* Decodes and encodes in a loop on its own state (one worker thread). */
static void *worker(void *arg)
{
    const char *doc = "{\"segmentMembership\":{\"ups\":{\"a\":{\"status\":\"realized\"}}},"
                      "\"n\":[1,2.5,null,\"\\u00e9\"]}";
    lua_State *L = luaL_newstate();
    char e[256];
    hf_buf_t b = { 0 };
    long bad = 0;
    for (int i = 0; i < 20000; i++) {
        if (hf_json_decode(L, doc, strlen(doc), e, sizeof(e)) < 0)
            bad++;
        b.len = 0;
        if (hf_json_encode(L, -1, &b, e, sizeof(e)) < 0 ||
            strcmp(b.data, "{\"n\":[1,2.5,null,\"\xc3\xa9\"],\"segmentMembership\":"
                           "{\"ups\":{\"a\":{\"status\":\"realized\"}}}}") != 0)
            bad++;
        lua_settop(L, 0);
    }
    hf_buf_free(&b);
    lua_close(L);
    return (void *)bad;
}

TEST(threads_each_with_own_state)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, worker, NULL) == 0);
    long bad = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    CHECK_INT(bad, 0);
}

TEST(stack_is_balanced_on_errors)
{
    lua_State *L = newL();
    lua_pushinteger(L, 7);
    const char *bad[] = { "{\"a\":[1,2,{\"b\":", "[[[[[[[[[[x", "{\"a\":1}}", "\"\xff\"" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(dec(L, bad[i]) == -1);
        CHECK_INT(lua_gettop(L), 1);
    }
    CHECK_INT(lua_tointeger(L, 1), 7);
    hf_buf_free(&out);
    lua_close(L);
}

TEST_MAIN()
