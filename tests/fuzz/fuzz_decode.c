/*
 * libFuzzer target: decode + activation view + re-encode. Invariants checked:
 *  - hf_json_decode never crashes; on failure the message names a byte offset within the
 *    input, hf_json_validate fails with the same message, and the text-built activation
 *    view is not produced (0, or -1 with the same message);
 *  - on success hf_json_validate agrees, the value encodes, its encoding decodes again to
 *    the same encoding (a fixed point), the activation view from the body and the one from
 *    the text agree (both absent, or equal encodings), and a lazy body decodes the same;
 *  - any byte string encodes as a JSON string that decodes (invalid UTF-8 repaired), and
 *    back to the same bytes when it was valid UTF-8 without repairs needed;
 *  - the Lua stack is left as it was.
 * Build and run: tests/fuzz/run.sh [SECONDS]
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "json.h"
#include "lua_lazy.h"

static lua_State *L;
static hf_buf_t b1, b2, b3;

/* Aborts with a message: libFuzzer reports the input. */
static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "invariant broken: %s\n%s\n", what, detail ? detail : "");
    abort();
}

/* Encodes the value at idx into b (cleared first); aborts when it fails. */
static void must_encode(int idx, hf_buf_t *b, const char *what)
{
    char err[512];
    b->len = 0;
    if (hf_json_encode(L, idx, b, err, sizeof(err)) < 0)
        fail(what, err);
}

/* Checks that err is "invalid JSON at byte N: ..." with N <= size. */
static void check_offset(const char *err, size_t size)
{
    unsigned long long off;
    if (sscanf(err, "invalid JSON at byte %llu:", &off) != 1)
        fail("error without a byte offset", err);
    if (off > size)
        fail("error offset past the input", err);
}

/* Runs every check on one input; aborts (a finding) when an invariant breaks. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512], err2[512], err3[512];
    const char *s = (const char *)data;
    if (!L)
        L = luaL_newstate();
    int top = lua_gettop(L);

    int shape = 0;
    int rv = hf_json_validate(s, size, &shape, err2, sizeof(err2));
    int ra = hf_activation_push_json(L, s, size, err3, sizeof(err3));
    if (ra == 1)
        must_encode(-1, &b3, "encoding the text-built view");
    if (hf_json_decode(L, s, size, err, sizeof(err)) < 0) {
        check_offset(err, size);
        if (rv != -1 || strcmp(err, err2) != 0)
            fail("validate disagrees with decode on a failure", err2);
        if (ra == 1)
            fail("a view from invalid JSON", err);
        if (ra == -1 && strcmp(err, err3) != 0)
            fail("the text-built view reports another error", err3);
    } else {
        if (rv != 0)
            fail("validate rejects what decode accepts", err2);
        if (ra == -1)
            fail("the text-built view rejects valid JSON", err3);
        int body = lua_gettop(L);
        must_encode(body, &b1, "encoding a decoded value");
        if (hf_json_decode(L, b1.data, b1.len, err, sizeof(err)) < 0)
            fail("our own encoding does not decode", err);
        must_encode(-1, &b2, "re-encoding");
        if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0)
            fail("encoding is not a fixed point", b1.data);
        lua_pop(L, 1);
        int rb = hf_activation_push(L, body);
        if (rb != (ra == 1))
            fail("the two activation builders disagree on presence", b1.data);
        if (rb) {
            must_encode(-1, &b2, "encoding the view");
            if (b2.len != b3.len || memcmp(b2.data, b3.data, b2.len) != 0)
                fail("the two activation builders disagree", b2.data);
            lua_pop(L, 1);
        }
        /* a lazy body gives the same value */
        lua_newtable(L);
        hf_lazy_set_body(L, -1, s, size);
        lua_getfield(L, -1, "body");
        must_encode(-1, &b2, "encoding a lazy body");
        if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0)
            fail("a lazy body differs", b2.data);
    }
    if (lua_gettop(L) < top + (ra == 1))
        fail("a value went missing from the stack", NULL);
    lua_settop(L, top);

    /* any bytes as a Lua string encode to a JSON string that decodes */
    lua_pushlstring(L, s, size);
    must_encode(-1, &b1, "encoding a string");
    if (hf_json_decode(L, b1.data, b1.len, err, sizeof(err)) < 0)
        fail("an encoded string does not decode", err);
    size_t n;
    const char *back = lua_tolstring(L, -1, &n);
    if (hf_json_validate(s, 0, NULL, err, sizeof(err)) == 0)
        fail("empty input validated", NULL);
    if (n == size && memcmp(back, s, n) != 0)
        fail("string round trip changed bytes of the same length", NULL);
    lua_settop(L, top);
    static unsigned calls;
    if (++calls % 1024 == 0)
        lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
