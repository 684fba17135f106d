/*
 * The AEP activation view (see activation.h). Built from the decoded body with raw
 * access only (no metamethods run), reusing the body's strings and values: no string is
 * hashed again, and each table is created with its final size.
 */
#include "activation.h"

#include <lauxlib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datetime.h"
#include "json.h"
#include "lua_lazy.h"

#define HF_ACT_STACK_SEGS 128    /* up to this many segments are kept on the Lua stack */

enum { ST_OTHER = 0, ST_REALIZED, ST_EXISTING, ST_EXITED };

typedef struct act_seg {
    const char *id;          /* the segment id (a Lua string kept alive by its slot) */
    size_t len;
    const char *ns;          /* its namespace ("ups"), kept alive by the segment table */
    size_t nslen;
    int slot;                /* slots of the id (slot) and the segment table (slot + 1) */
    int status;
    int order;               /* reading order: of equal (id, namespace), the last wins */
    int dead;                /* superseded by a later namespace key of the same name */
} act_seg_t;

/* Where the built segments wait before they are sorted: the Lua stack, or a table
   when there are many. */
typedef struct act {
    lua_State *L;
    int tmp;                 /* stack index of the holding table, or 0 = stack */
    int base;                /* first stack slot when tmp == 0 */
    int mt;                  /* stack index of the array metatable */
    int nslots;              /* slots in use */
} act_t;


/* Pushes the value of slot k. */
static inline void slot_push(act_t *a, int k)
{
    if (a->tmp)
        lua_rawgeti(a->L, a->tmp, k);
    else
        lua_pushvalue(a->L, a->base + k - 1);
}

/* Parses an ISO 8601 date-time (datetime.h's forms) into epoch seconds, the fraction
   dropped (rounded down); 0, or -1 when it is not one. */
int hf_activation_parse_time(const char *s, size_t len, long long *epoch)
{
    int64_t ms;
    if (hf_time_parse_exact(s, len, &ms) < 0)
        return -1;
    *epoch = ms / 1000 - (ms % 1000 < 0);
    return 0;
}

/* Orders segments by id (bytes), then namespace, then reading order. */
static int seg_cmp(const void *a, const void *b)
{
    const act_seg_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->id, y->id, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    n = x->nslen < y->nslen ? x->nslen : y->nslen;
    c = memcmp(x->ns, y->ns, n);
    if (c)
        return c;
    if (x->nslen != y->nslen)
        return x->nslen < y->nslen ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

/* Sets the metatable of the table on top to the array metatable. */
static inline void mark_array(act_t *a)
{
    lua_pushvalue(a->L, a->mt);
    lua_setmetatable(a->L, -2);
}

/* Known fields of a segment entry, then the other names the view uses. */
enum { F_NONE, F_STATUS, F_LQT, F_NAME, F_CREATED, F_UPDATED, F_MCREATED, F_MUPDATED,
       K_ID, K_NAMESPACE, K_QUALIFIED, K_SEGMENTS, K_REALIZED, K_EXISTING, K_EXITED,
       K_IDENTITIES, K_ATTRIBUTES, K_COUNT };
static const char *const field_names[K_COUNT] = {
    NULL, "status", "lastQualificationTime", "name", "createdAt", "updatedAt",
    "mappingCreatedAt", "mappingUpdatedAt", "id", "namespace", "qualifiedAt", "segments",
    "realized", "existing", "exited", "identities", "attributes",
};

/* Registry key of this state's table of those names as Lua strings: pushing one is an
   array read, where lua_setfield would look the C string up again each time. */
static const char act_names_key = 0;
/* Private key of a text-built view: its JSON text, until identities and attributes are
   built from it. */
static const char act_text_key = 0;

static int act_lazy_identities(lua_State *L);
static int act_lazy_attributes(lua_State *L);

/* Pushes the table of field names (index = the enum), creating it the first time. */
static void push_names(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &act_names_key) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_createtable(L, K_COUNT, 0);
    for (int i = 1; i < K_COUNT; i++) {
        lua_pushstring(L, field_names[i]);
        lua_rawseti(L, -2, i);
    }
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &act_names_key);
    hf_lazy_field(L, "identities", act_lazy_identities);
    hf_lazy_field(L, "attributes", act_lazy_attributes);
}

/* Classifies a key of a segment entry. */
static int seg_field(const char *k, size_t n)
{
    switch (n) {
    case 4: return memcmp(k, "name", 4) == 0 ? F_NAME : F_NONE;
    case 6: return memcmp(k, "status", 6) == 0 ? F_STATUS : F_NONE;
    case 9:
        if (memcmp(k, "createdAt", 9) == 0)
            return F_CREATED;
        return memcmp(k, "updatedAt", 9) == 0 ? F_UPDATED : F_NONE;
    case 16:
        if (memcmp(k, "mappingCreatedAt", 16) == 0)
            return F_MCREATED;
        return memcmp(k, "mappingUpdatedAt", 16) == 0 ? F_MUPDATED : F_NONE;
    case 21: return memcmp(k, "lastQualificationTime", 21) == 0 ? F_LQT : F_NONE;
    default: return F_NONE;
    }
}

/* Classifies a status string. */
static int status_code(const char *s, size_t n)
{
    if (n == 8 && memcmp(s, "realized", 8) == 0)
        return ST_REALIZED;
    if (n == 8 && memcmp(s, "existing", 8) == 0)
        return ST_EXISTING;
    if (n == 6 && memcmp(s, "exited", 6) == 0)
        return ST_EXITED;
    return ST_OTHER;
}

/* Normalizes the value of field f on top of the stack in place: JSON null, and a status that
   is not a string, become nil. Returns the status code for F_STATUS (ST_OTHER unless the
   value is a known status string); for F_LQT sets *epoch and returns 1 in *has_epoch when
   the value is a timestamp. */
static int seg_value(lua_State *L, int f, int *has_epoch, long long *epoch)
{
    int vt = lua_type(L, -1), status = ST_OTHER;
    *has_epoch = 0;
    if (vt == LUA_TLIGHTUSERDATA && hf_json_is_null(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L);
        vt = LUA_TNIL;
    }
    if (f == F_STATUS) {
        if (vt == LUA_TSTRING) {
            size_t sl;
            const char *s = lua_tolstring(L, -1, &sl);
            status = status_code(s, sl);
        } else if (vt != LUA_TNIL) {
            lua_pop(L, 1);
            lua_pushnil(L);
        }
    } else if (f == F_LQT && vt == LUA_TSTRING) {
        size_t sl;
        const char *s = lua_tolstring(L, -1, &sl);
        *has_epoch = hf_activation_parse_time(s, sl, epoch) == 0;
    }
    return status;
}

/* With a field value on top (nil for "absent"), sets field f of segment table t, and
   qualifiedAt along with lastQualificationTime; pops the value. Returns the new status
   code for F_STATUS (ST_OTHER unless the value is a known status string). */
static int seg_set(lua_State *L, int t, int f)
{
    int has_epoch;
    long long epoch;
    int status = seg_value(L, f, &has_epoch, &epoch);
    if (f == F_LQT) {
        if (has_epoch)
            lua_pushinteger(L, epoch);
        else
            lua_pushnil(L);
        lua_setfield(L, t, "qualifiedAt");
    }
    lua_setfield(L, t, field_names[f]);
    return status;
}

/* As seg_set, with the field names taken from the names table at stack index names (the
   fast path from JSON text). */
static int seg_set_fast(lua_State *L, int names, int t, int f)
{
    int has_epoch;
    long long epoch;
    int status = seg_value(L, f, &has_epoch, &epoch);
    if (f == F_LQT) {
        lua_rawgeti(L, names, K_QUALIFIED);
        if (has_epoch)
            lua_pushinteger(L, epoch);
        else
            lua_pushnil(L);
        lua_rawset(L, t);
    }
    lua_rawgeti(L, names, f);
    lua_insert(L, -2);
    lua_rawset(L, t);
    return status;
}

/* Builds view.segments and the realized/existing/exited lists from the n collected
   segments (sorted here; of equal id and namespace only the last read counts). */
static void act_finish_segments(act_t *a, act_seg_t *segs, int n, int view, int names)
{
    lua_State *L = a->L;
    int counts[4] = { 0, 0, 0, 0 }, live = 0;
    if (n <= 16) {
        /* a profile holds a few audiences: insertion sort, without qsort's calls */
        for (int i = 1; i < n; i++) {
            act_seg_t x = segs[i];
            int j = i;
            for (; j > 0 && seg_cmp(&segs[j - 1], &x) > 0; j--)
                segs[j] = segs[j - 1];
            segs[j] = x;
        }
    } else {
        qsort(segs, (size_t)n, sizeof(*segs), seg_cmp);
    }
    for (int i = 0; i < n; i++) {
        if (!segs[i].dead && i + 1 < n && segs[i].len == segs[i + 1].len &&
            segs[i].nslen == segs[i + 1].nslen &&
            memcmp(segs[i].id, segs[i + 1].id, segs[i].len) == 0 &&
            memcmp(segs[i].ns, segs[i + 1].ns, segs[i].nslen) == 0)
            segs[i].dead = 1;
        if (!segs[i].dead) {
            counts[segs[i].status]++;
            live++;
        }
    }
    lua_rawgeti(L, names, K_SEGMENTS);
    lua_createtable(L, live, 0);
    for (int i = 0, j = 0; i < n; i++) {
        if (segs[i].dead)
            continue;
        slot_push(a, segs[i].slot + 1);
        lua_rawseti(L, -2, ++j);
    }
    mark_array(a);
    lua_rawset(L, view);

    static const int lists[4] = { 0, K_REALIZED, K_EXISTING, K_EXITED };
    for (int st = ST_REALIZED; st <= ST_EXITED; st++) {
        lua_rawgeti(L, names, lists[st]);
        lua_createtable(L, counts[st], 0);
        lua_Integer j = 0;
        for (int i = 0; i < n; i++) {
            if (segs[i].dead || segs[i].status != st)
                continue;
            slot_push(a, segs[i].slot);
            lua_rawseti(L, -2, ++j);
        }
        mark_array(a);
        lua_rawset(L, view);
    }
}

/* ---------------------------------------------------------------------------------- */
/* from a decoded body */

/* With the segment id at -2 and its entry at -1, pushes the new segment table (leaving
   id and entry in place) and returns its status code. ns is the namespace's stack index. */
static int seg_build(lua_State *L, int ns)
{
    int entry = lua_gettop(L), id = entry - 1;
    int status = ST_OTHER;
    lua_createtable(L, 0, 5);
    int t = entry + 1;
    lua_pushvalue(L, id);
    lua_setfield(L, t, "id");
    lua_pushvalue(L, ns);
    lua_setfield(L, t, "namespace");
    if (lua_type(L, entry) != LUA_TTABLE)
        return status;
    lua_pushnil(L);
    while (lua_next(L, entry)) {
        size_t kl;
        int f = F_NONE;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tolstring(L, -2, &kl);
            f = seg_field(k, kl);
        }
        if (f == F_NONE || hf_json_is_null(L, -1) ||
            (f == F_STATUS && lua_type(L, -1) != LUA_TSTRING)) {
            lua_pop(L, 1);
            continue;
        }
        int st = seg_set(L, t, f);
        if (f == F_STATUS)
            status = st;
    }
    return status;
}

/* Appends the ids of one identityMap value (at the top) to a new array it pushes. */
static void identity_ids(act_t *a)
{
    lua_State *L = a->L;
    int v = lua_gettop(L);
    if (lua_type(L, v) == LUA_TSTRING) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, v);
        lua_rawseti(L, -2, 1);
        mark_array(a);
        return;
    }
    if (lua_type(L, v) != LUA_TTABLE) {
        lua_createtable(L, 0, 0);
        mark_array(a);
        return;
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L, v), k = 0;
    int single = 0;
    if (n == 0) {                         /* an object {"id": ...} instead of an array */
        n = 1;
        single = 1;
    }
    lua_createtable(L, n > 64 ? 64 : (int)n, 0);
    int arr = v + 1;
    for (lua_Integer i = 1; i <= n; i++) {
        if (single)
            lua_pushvalue(L, v);
        else
            lua_rawgeti(L, v, i);
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pushliteral(L, "id");
            lua_rawget(L, -2);
            lua_remove(L, -2);
        }
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_rawseti(L, arr, ++k);
        } else if (lua_isinteger(L, -1)) {
            lua_tolstring(L, -1, NULL);          /* converts the stack copy only */
            lua_rawseti(L, arr, ++k);
        } else {
            lua_pop(L, 1);
        }
    }
    mark_array(a);
}

/* lua_CFunction run under lua_pcall: arg 1 the result flag, arg 2 the body. Returns the
   view or nothing. */
static int act_protected(lua_State *L)
{
    int *present = lua_touserdata(L, 1);
    const int body = 2;
    act_t a = { L, 0, 0, 0, 0 };

    lua_settop(L, 2);
    lua_pushliteral(L, "segmentMembership");     /* 3 */
    lua_pushliteral(L, "identityMap");           /* 4 */
    lua_pushvalue(L, 3);
    int smt = lua_rawget(L, body);               /* 5: segmentMembership */
    lua_pushvalue(L, 4);
    int imt = lua_rawget(L, body);               /* 6: identityMap */
    if (smt == LUA_TNIL && imt == LUA_TNIL)
        return 0;
    hf_json_push_array_mt(L);                    /* 7 */
    a.mt = 7;
    const int sm = 5, im = 6;

    /* Count the segments: every string key of every table under segmentMembership. */
    size_t n = 0;
    if (smt == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, sm)) {
            if (lua_type(L, -1) == LUA_TTABLE && lua_type(L, -2) == LUA_TSTRING) {
                lua_pushnil(L);
                while (lua_next(L, -2)) {
                    lua_pop(L, 1);
                    if (lua_type(L, -1) == LUA_TSTRING)
                        n++;
                }
            }
            lua_pop(L, 1);
        }
    }
    if (n > (size_t)INT32_MAX / 4)
        return 0;
    act_seg_t local[32];
    act_seg_t *segs = local;
    if (n > 32)
        segs = lua_newuserdatauv(L, n * sizeof(*segs), 0);   /* 8 when present */
    if (n <= HF_ACT_STACK_SEGS && lua_checkstack(L, 2 * (int)n + 16)) {
        a.base = lua_gettop(L) + 1;
    } else {
        lua_createtable(L, 2 * (int)n, 0);
        a.tmp = lua_gettop(L);
    }
    if (!lua_checkstack(L, 16))
        return 0;

    /* Build each segment table in iteration order, into slots (id, table). */
    size_t k = 0;
    if (smt == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, sm)) {
            /* namespace at -2, its table at -1 */
            if (lua_type(L, -1) == LUA_TTABLE && lua_type(L, -2) == LUA_TSTRING) {
                int ns = lua_gettop(L) - 1, nst = ns + 1;
                size_t nslen;
                const char *nss = lua_tolstring(L, ns, &nslen);
                lua_pushnil(L);
                while (k < n && lua_next(L, nst)) {
                    if (lua_type(L, -2) != LUA_TSTRING) {
                        lua_pop(L, 1);
                        continue;
                    }
                    /* id at -2, entry at -1 */
                    act_seg_t *s = &segs[k];
                    s->id = lua_tolstring(L, -2, &s->len);
                    s->ns = nss;
                    s->nslen = nslen;
                    s->slot = 2 * (int)k + 1;
                    s->order = (int)k;
                    s->dead = 0;
                    s->status = seg_build(L, ns);        /* pushes the table */
                    lua_pushvalue(L, -3);                /* id */
                    lua_pushvalue(L, -2);                /* table */
                    if (a.tmp) {
                        lua_rawseti(L, a.tmp, s->slot + 1);
                        lua_rawseti(L, a.tmp, s->slot);
                    } else {
                        /* The slots are the stack cells from a.base up, below the
                           iteration state (ns, nst, id, entry, table): rotate the two
                           copies down into place, which moves that state up by two. */
                        lua_rotate(L, a.base + 2 * (int)k, 2);
                        ns += 2;
                        nst += 2;
                    }
                    lua_pop(L, 2);                       /* table and entry */
                    k++;
                }
                if (k >= n)          /* lua_next was not resumed to its end */
                    lua_settop(L, nst);
                lua_pop(L, 1);
                continue;            /* the namespace key continues the outer loop */
            }
            lua_pop(L, 1);
        }
    }

    push_names(L);
    int names = lua_gettop(L);
    lua_createtable(L, 0, 6);
    int view = lua_gettop(L);
    act_finish_segments(&a, segs, (int)k, view, names);

    /* identities */
    lua_createtable(L, 0, 4);
    if (imt == LUA_TTABLE) {
        int ids = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, im)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                lua_pop(L, 1);
                continue;
            }
            identity_ids(&a);                   /* pushes the array */
            lua_remove(L, -2);                  /* the value */
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, ids);
        }
    }
    lua_setfield(L, view, "identities");

    /* attributes: every other top-level key */
    int nattr = 0;
    lua_pushnil(L);
    while (lua_next(L, body)) {
        lua_pop(L, 1);
        nattr++;
    }
    nattr -= (smt != LUA_TNIL) + (imt != LUA_TNIL);
    lua_createtable(L, 0, nattr > 0 ? nattr : 0);
    int attrs = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, body)) {
        if (lua_rawequal(L, -2, 3) || lua_rawequal(L, -2, 4)) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, attrs);
    }
    lua_setfield(L, view, "attributes");

    lua_pushvalue(L, view);
    *present = 1;
    return 1;
}

/* Pushes the activation view of the body at body_idx and returns 1, or returns 0. */
int hf_activation_push(lua_State *L, int body_idx)
{
    body_idx = lua_absindex(L, body_idx);
    if (lua_type(L, body_idx) != LUA_TTABLE)
        return 0;
    if (!lua_checkstack(L, 4))
        return 0;
    int present = 0, top = lua_gettop(L);
    lua_pushcfunction(L, act_protected);
    lua_pushlightuserdata(L, &present);
    lua_pushvalue(L, body_idx);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK || !present) {
        lua_settop(L, top);
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------- */
/* straight from the text */

/* Fixed stack cells of the text builder (inside its protected call). */
enum { TX_CTX = 1, TX_TEXT, TX_MT, TX_CACHE, TX_NAMES, TX_IDS, TX_ATTRS, TX_SEGBUF, TX_TMP,
       TX_NS, TX_BASE };

typedef struct act_text {
    const char *buf;
    size_t len;
    hf_json_rd_mem_t *mem;
    hf_json_rd_t *rd;
    int status;              /* 1 view built, 0 not an activation, -1 invalid JSON */
    char *err;
    size_t errsz;
} act_text_t;

typedef struct act_segs {
    act_seg_t *v;
    int n, cap;
    act_seg_t local[32];
} act_segs_t;

/* Makes room for one more segment: a bigger C array (a userdata in TX_SEGBUF) and, past
   HF_ACT_STACK_SEGS, slots in a table (TX_TMP) instead of the stack. */
static int segs_reserve(act_t *a, act_segs_t *sv)
{
    lua_State *L = a->L;
    if (sv->n == sv->cap) {
        if (sv->cap > INT32_MAX / 4)
            return -1;
        int cap = sv->cap * 2;
        act_seg_t *v = lua_newuserdatauv(L, (size_t)cap * sizeof(*v), 0);
        memcpy(v, sv->v, (size_t)sv->n * sizeof(*v));
        lua_replace(L, TX_SEGBUF);
        sv->v = v;
        sv->cap = cap;
    }
    if (!a->tmp && (sv->n >= HF_ACT_STACK_SEGS || !lua_checkstack(L, 8))) {
        lua_createtable(L, 4 * a->nslots + 8, 0);
        for (int i = 1; i <= a->nslots; i++) {
            lua_pushvalue(L, a->base + i - 1);
            lua_rawseti(L, -2, i);
        }
        lua_replace(L, TX_TMP);
        lua_settop(L, TX_BASE - 1);
        a->tmp = TX_TMP;
    }
    return 0;
}

/* Reads the value of a segmentMembership key into segments. */
static void text_segments(act_t *a, hf_json_rd_t *r, act_segs_t *sv)
{
    lua_State *L = a->L;
    const char *k;
    size_t kn;
    if (!hf_json_rd_open(r, '{')) {
        hf_json_rd_skip(r);
        return;
    }
    while (hf_json_rd_key(r, &k, &kn)) {
        if (hf_json_rd_peek(r) != '{') {
            hf_json_rd_skip(r);
            continue;
        }
        hf_json_rd_push_key(r, k, kn);
        lua_replace(L, TX_NS);
        size_t nslen;
        const char *ns = lua_tolstring(L, TX_NS, &nslen);
        for (int i = 0; i < sv->n; i++)        /* a repeated namespace key: last wins */
            if (sv->v[i].nslen == nslen && memcmp(sv->v[i].ns, ns, nslen) == 0)
                sv->v[i].dead = 1;
        hf_json_rd_open(r, '{');
        while (hf_json_rd_key(r, &k, &kn)) {
            if (segs_reserve(a, sv) < 0) {
                hf_json_rd_skip(r);
                continue;
            }
            act_seg_t *s = &sv->v[sv->n];
            hf_json_rd_push_key(r, k, kn);                 /* id */
            s->id = lua_tolstring(L, -1, &s->len);
            lua_createtable(L, 0, 5);
            int t = lua_gettop(L);
            lua_rawgeti(L, TX_NAMES, K_ID);
            lua_pushvalue(L, t - 1);
            lua_rawset(L, t);
            lua_rawgeti(L, TX_NAMES, K_NAMESPACE);
            lua_pushvalue(L, TX_NS);
            lua_rawset(L, t);
            s->ns = ns;
            s->nslen = nslen;
            s->order = sv->n;
            s->dead = 0;
            s->status = ST_OTHER;
            s->slot = 2 * sv->n + 1;
            if (hf_json_rd_open(r, '{')) {
                while (hf_json_rd_key(r, &k, &kn)) {
                    int f = seg_field(k, kn);
                    if (f == F_NONE) {
                        hf_json_rd_skip(r);
                        continue;
                    }
                    hf_json_rd_push(r);
                    int st = seg_set_fast(L, TX_NAMES, t, f);
                    if (f == F_STATUS)
                        s->status = st;
                }
            } else {
                hf_json_rd_skip(r);
            }
            if (a->tmp) {
                lua_rawseti(L, a->tmp, s->slot + 1);
                lua_rawseti(L, a->tmp, s->slot);
            }
            a->nslots += 2;
            sv->n++;
        }
    }
}

/* With the array on top, reads one identity element (or single value) and appends its
   id when it has one: a string, an integer (as a string) or an object's "id". */
static void text_identity(hf_json_rd_t *r, lua_State *L, int arr, lua_Integer *k)
{
    const char *key;
    size_t kn;
    int c = hf_json_rd_peek(r), have = 0;
    if (c == '{') {
        hf_json_rd_open(r, '{');
        while (hf_json_rd_key(r, &key, &kn)) {
            if (kn != 2 || memcmp(key, "id", 2) != 0) {
                hf_json_rd_skip(r);
                continue;
            }
            if (have)
                lua_pop(L, 1);
            int t = hf_json_rd_push(r);
            have = t == LUA_TSTRING || lua_isinteger(L, -1);
            if (!have)
                lua_pop(L, 1);
        }
    } else if (c == '"' || c == '-' || (c >= '0' && c <= '9')) {
        int t = hf_json_rd_push(r);
        have = t == LUA_TSTRING || lua_isinteger(L, -1);
        if (!have)
            lua_pop(L, 1);
    } else {
        hf_json_rd_skip(r);
    }
    if (have) {
        if (lua_type(L, -1) != LUA_TSTRING)
            lua_tolstring(L, -1, NULL);
        lua_rawseti(L, arr, ++*k);
    }
}

/* Reads the value of an identityMap key into a new identities table in stack slot ids. */
static void text_identities(act_t *a, hf_json_rd_t *r, int ids)
{
    lua_State *L = a->L;
    const char *k;
    size_t kn;
    lua_createtable(L, 0, 4);
    lua_replace(L, ids);
    if (!hf_json_rd_open(r, '{')) {
        hf_json_rd_skip(r);
        return;
    }
    while (hf_json_rd_key(r, &k, &kn)) {
        hf_json_rd_push_key(r, k, kn);
        lua_Integer n = 0;
        int c = hf_json_rd_peek(r);
        lua_createtable(L, c == '[' ? 1 : 0, 0);
        int arr = lua_gettop(L);
        if (c == '[') {
            hf_json_rd_open(r, '[');
            while (hf_json_rd_next(r))
                text_identity(r, L, arr, &n);
        } else if (c == '{' || c == '"') {
            text_identity(r, L, arr, &n);
        } else {
            hf_json_rd_skip(r);
        }
        mark_array(a);
        lua_rawset(L, ids);
    }
}

/* Skips a JSON string starting at its quote; returns the position after it, or NULL. */
static const char *quick_string(const char *p, const char *end)
{
    for (p++;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q)
            return NULL;
        size_t bs = 0;                           /* backslashes right before the quote */
        while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (bs % 2 == 0)
            return q + 1;
        p = q + 1;
    }
}

/* A quick structural look at the top level, without checking the JSON: 1 when it is an
   object that may hold segmentMembership or identityMap (stops at the first such key, or
   a key with escapes), 0 when it certainly does not or is not an object. */
static int quick_maybe_activation(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
#define WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')
    while (p < end && WS(*p))
        p++;
    if (p >= end || *p != '{')
        return 0;
    p++;
    for (;;) {
        while (p < end && (WS(*p) || *p == ','))
            p++;
        if (p >= end || *p != '"')
            return 0;
        const char *k = p + 1, *q = quick_string(p, end);
        if (!q)
            return 0;
        size_t kn = (size_t)(q - 1 - k);
        if ((kn == 17 && memcmp(k, "segmentMembership", 17) == 0) ||
            (kn == 11 && memcmp(k, "identityMap", 11) == 0) || memchr(k, '\\', kn))
            return 1;
        p = q;
        while (p < end && (WS(*p) || *p == ':'))
            p++;
        /* skip the value: strings, nested brackets, or a scalar */
        int depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                if (!(p = quick_string(p, end)))
                    return 0;
                if (depth == 0)
                    break;
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (depth == 0)
                    break;
                if (--depth == 0) {
                    p++;
                    break;
                }
            } else if (depth == 0 && (c == ',' || WS(c))) {
                break;
            }
            p++;
        }
        while (p < end && WS(*p))
            p++;
        if (p >= end || *p == '}')
            return 0;
    }
#undef WS
}

/* lua_CFunction run under lua_pcall: arg 1 the act_text_t. Returns the view, or nothing
   when the text is invalid or not an activation (t->present says which). */
static int act_text_protected(lua_State *L)
{
    act_text_t *t = lua_touserdata(L, 1);
    lua_settop(L, 2);                            /* TX_TEXT: buf as a Lua string */
    hf_json_rd_t *r = t->rd = hf_json_rd_init(t->mem, L, t->buf, t->len, t->err, t->errsz);
    push_names(L);                               /* TX_NAMES */
    act_t a = { L, 0, TX_BASE, TX_MT, 0 };
    act_segs_t sv;
    sv.v = sv.local;
    sv.n = 0;
    sv.cap = 32;
    lua_pushnil(L);                              /* TX_IDS (unused here) */
    lua_pushnil(L);                              /* TX_ATTRS (unused here) */
    lua_pushnil(L);                              /* TX_SEGBUF */
    lua_pushnil(L);                              /* TX_TMP */
    lua_pushnil(L);                              /* TX_NS */
    if (!lua_checkstack(L, 32))
        return 0;
    const char *k;
    size_t kn;
    int seen = 0, lazy_ids = 0, lazy_attrs = 0;
    if (!hf_json_rd_open(r, '{')) {
        hf_json_rd_skip(r);
    } else {
        while (hf_json_rd_key(r, &k, &kn)) {
            if (kn == 17 && memcmp(k, "segmentMembership", 17) == 0) {
                /* a repeated key replaces what an earlier one gave */
                sv.n = 0;
                a.nslots = 0;
                if (!a.tmp)
                    lua_settop(L, TX_BASE - 1);
                text_segments(&a, r, &sv);
                seen = 1;
            } else if (kn == 11 && memcmp(k, "identityMap", 11) == 0) {
                hf_json_rd_skip(r);                      /* checked now, built on read */
                lazy_ids = seen = 1;
            } else {
                hf_json_rd_skip(r);
                lazy_attrs = 1;
            }
        }
    }
    if (hf_json_rd_end(r) < 0) {
        t->status = -1;
        return 0;
    }
    if (!seen)
        return 0;
    lua_createtable(L, 0, 6);
    int view = lua_gettop(L);
    act_finish_segments(&a, sv.v, sv.n, view, TX_NAMES);
    if (!lazy_ids) {
        lua_rawgeti(L, TX_NAMES, K_IDENTITIES);
        lua_newtable(L);
        lua_rawset(L, view);
    }
    if (!lazy_attrs) {
        lua_rawgeti(L, TX_NAMES, K_ATTRIBUTES);
        lua_newtable(L);
        lua_rawset(L, view);
    }
    if (lazy_ids || lazy_attrs) {
        /* identities and attributes are built from the text on first read (or pairs,
           or encoding), as the lazy tables of lua_lazy.c do for ev.body */
        lua_pushvalue(L, TX_TEXT);
        lua_rawsetp(L, view, &act_text_key);
        hf_lazy_set(L, view);
    }
    t->status = 1;
    return 1;
}

/* lua_CFunction run under lua_pcall: arg 1 the act_text_t of a view's text (arg 2),
   already checked. Returns its identities and attributes tables. */
static int act_lazy_protected(lua_State *L)
{
    act_text_t *t = lua_touserdata(L, 1);
    lua_settop(L, 2);
    hf_json_rd_t *r = t->rd = hf_json_rd_init(t->mem, L, t->buf, t->len, t->err, t->errsz);
    push_names(L);                               /* TX_NAMES */
    act_t a = { L, 0, TX_BASE, TX_MT, 0 };
    lua_createtable(L, 0, 4);                    /* TX_IDS */
    lua_createtable(L, 0, 4);                    /* TX_ATTRS */
    const char *k;
    size_t kn;
    if (hf_json_rd_open(r, '{')) {
        while (hf_json_rd_key(r, &k, &kn)) {
            if (kn == 17 && memcmp(k, "segmentMembership", 17) == 0) {
                hf_json_rd_skip(r);
            } else if (kn == 11 && memcmp(k, "identityMap", 11) == 0) {
                text_identities(&a, r, TX_IDS);
            } else {
                hf_json_rd_push_key(r, k, kn);
                hf_json_rd_push(r);
                lua_rawset(L, TX_ATTRS);
            }
        }
    }
    lua_pushvalue(L, TX_IDS);
    lua_pushvalue(L, TX_ATTRS);
    return 2;
}

/* Runs f(t, text) under lua_pcall on the Lua string at text_idx (an absolute index),
   leaving nresults results, and frees the reader f used. Returns the pcall status. */
static int run_on_text(lua_State *L, lua_CFunction f, int text_idx, act_text_t *t,
                       int nresults)
{
    t->buf = lua_tolstring(L, text_idx, &t->len);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, t);
    lua_pushvalue(L, text_idx);
    int st = lua_pcall(L, 2, nresults, 0);
    if (t->rd)
        hf_json_rd_done(t->rd);
    return st;
}

/* Lazy field builder of views (arg 1; nothing for other tables): builds identities and
   attributes together, stores both, and returns the one named by field. */
static int act_lazy_build(lua_State *L, int field)
{
    if (lua_rawgetp(L, 1, &act_text_key) != LUA_TSTRING)
        return 0;
    hf_json_rd_mem_t mem;
    char err[128];
    act_text_t t = { NULL, 0, &mem, NULL, 0, err, sizeof(err) };
    int st = run_on_text(L, act_lazy_protected, lua_gettop(L), &t, 2);
    if (st != LUA_OK)
        return lua_error(L);                     /* out of memory: the handler's error */
    int ids = lua_gettop(L) - 1;
    push_names(L);
    for (int f = K_IDENTITIES; f <= K_ATTRIBUTES; f++) {  /* unless the handler set it */
        lua_rawgeti(L, -1, f);
        if (lua_rawget(L, 1) == LUA_TNIL) {
            lua_rawgeti(L, -2, f);
            lua_pushvalue(L, f == K_IDENTITIES ? ids : ids + 1);
            lua_rawset(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawsetp(L, 1, &act_text_key);            /* built once */
    if (field == K_IDENTITIES)
        lua_pop(L, 1);                           /* leaves identities on top */
    return 1;
}

static int act_lazy_identities(lua_State *L) { return act_lazy_build(L, K_IDENTITIES); }
static int act_lazy_attributes(lua_State *L) { return act_lazy_build(L, K_ATTRIBUTES); }

/* Pushes the activation view of the JSON text buf without decoding the body: 1, 0 (not
   an activation) or -1 (invalid JSON holding an activation key; message in err). */
static int text_view(lua_State *L, int text_idx, char *err, size_t errsz);

int hf_activation_push_json(lua_State *L, const char *buf, size_t len, char *err,
                            size_t errsz)
{
    if (errsz)
        err[0] = 0;
    if (!buf || !quick_maybe_activation(buf, len))
        return 0;
    if (!lua_checkstack(L, 4))
        return 0;
    lua_pushlstring(L, buf, len);
    int r = text_view(L, lua_gettop(L), err, errsz);
    if (r == 1)
        lua_remove(L, -2);
    else
        lua_pop(L, 1);
    return r;
}

int hf_activation_push_text(lua_State *L, int text_idx, char *err, size_t errsz)
{
    size_t len;
    const char *buf = lua_tolstring(L, text_idx, &len);
    if (errsz)
        err[0] = 0;
    if (!buf || !quick_maybe_activation(buf, len) || !lua_checkstack(L, 4))
        return 0;
    return text_view(L, lua_absindex(L, text_idx), err, errsz);
}

/* The view of the Lua string at text_idx (an absolute index), already found to be a
   likely activation; as hf_activation_push_text. */
static int text_view(lua_State *L, int text_idx, char *err, size_t errsz)
{
    hf_json_rd_mem_t mem;
    act_text_t t = { NULL, 0, &mem, NULL, 0, err, errsz };
    int top = lua_gettop(L);
    int st = run_on_text(L, act_text_protected, text_idx, &t, 1);
    if (st != LUA_OK || t.status != 1) {
        lua_settop(L, top);
        if (st != LUA_OK && errsz)
            snprintf(err, errsz, "activation view: out of memory");
        return st != LUA_OK ? 0 : t.status;
    }
    return 1;
}
