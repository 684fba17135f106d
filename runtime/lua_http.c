/*
 * require("hubfn").http: request{...} and requests{...}. See lua_http.h.
 */
#include "lua_http.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "httpc.h"
#include "json.h"
#include "log.h"
#include "lua_host.h"

/* The largest response body a handler gets. */
#define HF_LUA_HTTP_MAX_BODY (64u << 20)
/* A request's timeout when it names none, in seconds. */
#define HF_LUA_HTTP_TIMEOUT 30

static const char client_key = 0;

static int l_client_gc(lua_State *L)
{
    hf_httpc_sync_t **s = lua_touserdata(L, 1);
    hf_httpc_sync_free(*s);
    *s = NULL;
    return 0;
}

/* The state's client, made on first use (it keeps connections open between calls). */
static hf_httpc_sync_t *client(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &client_key) == LUA_TUSERDATA) {
        hf_httpc_sync_t *s = *(hf_httpc_sync_t **)lua_touserdata(L, -1);
        lua_pop(L, 1);
        return s;
    }
    lua_pop(L, 1);
    hf_httpc_sync_t **s = lua_newuserdatauv(L, sizeof(*s), 0);
    *s = hf_httpc_sync_new();
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_client_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &client_key);
    return *s;
}

/* What one request table holds; strings point into the Lua values, which stay on the
   stack while the request runs. */
typedef struct lreq {
    hf_httpc_req_t q;
    hf_header_t *headers;
    hf_buf_t body;               /* a table body, as JSON */
} lreq_t;

/* Read the request table at idx into r; raises on a bad field. `what` names it in errors. */
static void read_request(lua_State *L, int idx, lreq_t *r, const char *what)
{
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: expected a table { url = ..., method = ..., headers = ..., body = "
                   "..., timeout = ... }, got %s", what, luaL_typename(L, idx));
    memset(r, 0, sizeof(*r));
    lua_getfield(L, idx, "url");
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: url must be a string", what);
    r->q.url = lua_tostring(L, -1);
    lua_pop(L, 1);              /* the table holds the string */
    lua_getfield(L, idx, "method");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: method must be a string", what);
    r->q.method = lua_tostring(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, idx, "body");
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        r->q.body = lua_tolstring(L, -1, &n);
        r->q.body_len = n;
    } else if (!lua_isnil(L, -1)) {
        char err[256];
        if (hf_json_encode(L, lua_gettop(L), &r->body, err, sizeof(err)) != 0)
            luaL_error(L, "%s: body: cannot encode as JSON: %s", what, err);
        r->q.body = r->body.data;
        r->q.body_len = r->body.len;
    }
    int json_body = lua_istable(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, idx, "timeout");
    double timeout = lua_isnil(L, -1) ? HF_LUA_HTTP_TIMEOUT : lua_tonumber(L, -1);
    if (timeout <= 0)
        luaL_error(L, "%s: timeout must be a number of seconds above 0", what);
    r->q.timeout_ms = (long)(timeout * 1000);
    lua_pop(L, 1);
    lua_getfield(L, idx, "headers");
    size_t n = 0, cap = 0;
    if (lua_istable(L, -1)) {
        int ht = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, ht)) {
            if (lua_type(L, -2) != LUA_TSTRING ||
                (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
                luaL_error(L, "%s: headers must map names to strings", what);
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                r->headers = hf_realloc(r->headers, cap * sizeof(*r->headers));
            }
            size_t vn;
            lua_pushvalue(L, -1);            /* a number becomes a string the table keeps */
            const char *v = lua_tolstring(L, -1, &vn);
            r->headers[n].name = (char *)lua_tostring(L, -3);
            r->headers[n].value = hf_memdup(v, vn);
            r->headers[n].value_len = vn;
            n++;
            lua_pop(L, 2);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "%s: headers must be a table", what);
    }
    lua_pop(L, 1);
    if (json_body) {
        if (n == cap)
            r->headers = hf_realloc(r->headers, (cap = cap + 1) * sizeof(*r->headers));
        r->headers[n].name = "Content-Type";
        r->headers[n].value = hf_strdup("application/json");
        r->headers[n].value_len = 16;
        n++;
    }
    r->q.headers = r->headers;
    r->q.headers_n = n;
    r->q.keep_body = HF_LUA_HTTP_MAX_BODY;
}

static void free_request(lreq_t *r)
{
    for (size_t i = 0; i < r->q.headers_n; i++)
        free(r->headers[i].value);
    free(r->headers);
    hf_buf_free(&r->body);
}

/* Push { status =, headers = {name = value}, body = } for a response. */
static void push_response(lua_State *L, const hf_httpc_res_t *res)
{
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, res->status);
    lua_setfield(L, -2, "status");
    lua_createtable(L, 0, (int)res->headers_n);
    for (size_t i = 0; i < res->headers_n; i++) {
        lua_pushlstring(L, res->headers[i].value, res->headers[i].value_len);
        lua_setfield(L, -2, res->headers[i].name);
    }
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, res->body.data ? res->body.data : "", res->body.len);
    lua_setfield(L, -2, "body");
}

/* The deadline of the calling invocation (functionTimeout), 0 when there is none. */
static int64_t deadline(lua_State *L)
{
    return hf_lua_of(L)->deadline_us;
}

/* Run n request tables (args from `first` on, or the array at `first` when array) and
   leave the responses in res. */
static void run(lua_State *L, lreq_t *reqs, hf_httpc_res_t *res, size_t n)
{
    hf_httpc_req_t *qs = hf_calloc(n ? n : 1, sizeof(*qs));
    for (size_t i = 0; i < n; i++)
        qs[i] = reqs[i].q;
    hf_httpc_sync_run(client(L), qs, res, n, deadline(L));
    free(qs);
}

/* http.request{ method, url, headers, body, timeout } -> response, or nil, err */
static int l_request(lua_State *L)
{
    lreq_t r;
    hf_httpc_res_t res;
    lua_settop(L, 1);
    read_request(L, 1, &r, "http.request");
    run(L, &r, &res, 1);
    free_request(&r);
    if (!res.status) {
        lua_pushnil(L);
        lua_pushstring(L, res.error[0] ? res.error : "no response");
        hf_httpc_res_free(&res);
        return 2;
    }
    push_response(L, &res);
    hf_httpc_res_free(&res);
    return 1;
}

/* http.requests{ req1, req2, ... } -> { res1, res2, ... }, each a response or { error = } */
static int l_requests(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    size_t n = (size_t)lua_rawlen(L, 1);
    lreq_t *reqs = hf_calloc(n ? n : 1, sizeof(*reqs));
    hf_httpc_res_t *res = hf_calloc(n ? n : 1, sizeof(*res));
    char what[64];
    lua_checkstack(L, (int)n + 4);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);           /* kept on the stack while running */
        snprintf(what, sizeof(what), "http.requests[%zu]", i + 1);
        read_request(L, lua_gettop(L), &reqs[i], what);
    }
    run(L, reqs, res, n);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        if (res[i].status) {
            push_response(L, &res[i]);
        } else {
            lua_createtable(L, 0, 1);
            lua_pushstring(L, res[i].error[0] ? res[i].error : "no response");
            lua_setfield(L, -2, "error");
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
        free_request(&reqs[i]);
        hf_httpc_res_free(&res[i]);
    }
    free(reqs);
    free(res);
    return 1;
}

int hf_lua_http_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"request", l_request}, {"requests", l_requests},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
