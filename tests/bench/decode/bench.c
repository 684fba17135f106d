/*
 * Decode benchmark: AEP payloads -> Lua handler, on one core.
 *   (a) naive ceiling: cJSON_ParseWithLength tree -> Lua tables by a recursive walk ->
 *       handler reading every segment status from ev.body.segmentMembership.ups
 *   (b) hubfn: hf_json_decode + hf_activation_push -> the same handler reading every
 *       segment status from ev.activation.segments
 * Events go to the handler in batches (one Lua call per batch, as the host does), each
 * event a table { body = ..., activation = ... }. Prints events/s for each and the ratio.
 *
 * usage: bench FILE.jsonl [ROUNDS] [BATCH]     (see run.sh)
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "activation.h"
#include "json.h"
#include "lua_lazy.h"

typedef struct { const char *s; size_t len; } line_t;

static const char *handler_naive =
    "return function(events)\n"
    "  local n = 0\n"
    "  for i = 1, #events do\n"
    "    local sm = events[i].body.segmentMembership\n"
    "    for id, s in pairs(sm.ups) do\n"
    "      if s.status == 'realized' then n = n + 1 end\n"
    "    end\n"
    "  end\n"
    "  return n\n"
    "end\n";

static const char *handler_view =
    "return function(events)\n"
    "  local n = 0\n"
    "  for i = 1, #events do\n"
    "    local a = events[i].activation\n"
    "    for _, s in ipairs(a.segments) do\n"
    "      if s.status == 'realized' then n = n + 1 end\n"
    "    end\n"
    "  end\n"
    "  return n\n"
    "end\n";

/* Seconds of CPU time used by this thread: unlike wall time, this leaves out the time
   the thread waits while other processes on a shared machine run. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void naive_push_null(lua_State *L)
{
    hf_json_push_null(L);
}

#include "../naive_walk.h"

/* Loads a handler chunk and leaves the function on the stack. */
static void load_handler(lua_State *L, const char *src)
{
    if (luaL_loadstring(L, src) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "handler: %s\n", lua_tostring(L, -1));
        exit(1);
    }
}

/* Runs every line through one path in batches; returns the realized count. */
static long long run_round(lua_State *L, int mode, const line_t *lines, int n, int batch)
{
    long long total = 0;
    char err[256];
    for (int i = 0; i < n; i += batch) {
        int m = n - i < batch ? n - i : batch;
        lua_pushvalue(L, 1);                     /* the handler */
        lua_createtable(L, m, 0);
        for (int k = 0; k < m; k++) {
            const line_t *ln = &lines[i + k];
            lua_createtable(L, 0, 4);
            if (mode == 1) {
                cJSON *j = cJSON_ParseWithLength(ln->s, ln->len);
                if (!j) {
                    fprintf(stderr, "cJSON failed on line %d\n", i + k + 1);
                    exit(1);
                }
                push_cjson(L, j);
                cJSON_Delete(j);
                lua_setfield(L, -2, "body");
            } else if (mode == 2) {
                if (hf_json_decode(L, ln->s, ln->len, err, sizeof(err)) < 0) {
                    fprintf(stderr, "line %d: %s\n", i + k + 1, err);
                    exit(1);
                }
                lua_setfield(L, -2, "body");
            } else if (mode == 3) {
                /* eager: body decoded, view built from it */
                if (hf_json_decode(L, ln->s, ln->len, err, sizeof(err)) < 0) {
                    fprintf(stderr, "line %d: %s\n", i + k + 1, err);
                    exit(1);
                }
                if (hf_activation_push(L, -1))
                    lua_setfield(L, -3, "activation");
                lua_setfield(L, -2, "body");
            } else {
                /* hubfn: view straight from the text, body decoded on first use */
                int rc = hf_activation_push_json(L, ln->s, ln->len, err, sizeof(err));
                if (rc < 0) {
                    fprintf(stderr, "line %d: %s\n", i + k + 1, err);
                    exit(1);
                }
                if (rc == 1)
                    lua_setfield(L, -2, "activation");
                hf_lazy_set_body(L, -1, ln->s, ln->len);
            }
            lua_rawseti(L, -2, k + 1);
        }
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            fprintf(stderr, "handler failed: %s\n", lua_tostring(L, -1));
            exit(1);
        }
        total += lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    return total;
}

/* A Lua state with one path's handler at stack index 1. */
static lua_State *bench_state(int mode)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    load_handler(L, mode == 0 || mode == 3 ? handler_view : handler_naive);
    if (getenv("HF_BENCH_GCGEN"))                /* try Lua 5.4 generational GC */
        lua_gc(L, LUA_GCGEN, 0, 0);
    return L;
}

/* Times one round; returns events/s. */
static double time_round(lua_State *L, int mode, const line_t *lines, int n, int batch,
                         long long *realized)
{
    double t0 = now();
    *realized = run_round(L, mode, lines, n, batch);
    return n / (now() - t0);
}

/* Loads the payloads, runs the selected paths and prints events/s and ratios. */
int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE.jsonl [ROUNDS] [BATCH] [naive|hubfn|both]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    int batch = argc > 3 ? atoi(argv[3]) : 100;
    const char *which = argc > 4 ? argv[4] : "both";
    cpu_set_t cpus;                  /* one core: stay on the CPU we started on */
    CPU_ZERO(&cpus);
    CPU_SET(sched_getcpu(), &cpus);
    sched_setaffinity(0, sizeof(cpus), &cpus);

    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    if (fread(data, 1, (size_t)size, f) != (size_t)size) {
        perror("read");
        return 1;
    }
    fclose(f);
    int cap = 1024, n = 0;
    line_t *lines = malloc(sizeof(*lines) * (size_t)cap);
    for (char *p = data, *end = data + size; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len) {
            if (n == cap)
                lines = realloc(lines, sizeof(*lines) * (size_t)(cap *= 2));
            /* each body in its own allocation, as it would come from librdkafka */
            char *copy = malloc(len);
            memcpy(copy, p, len);
            lines[n].s = copy;
            lines[n++].len = len;
        }
        p += len + 1;
    }
    printf("%d payloads, %.0f bytes average, batches of %d, best of %d rounds, one core, CPU time\n",
           n, (double)size / n, batch, rounds);
    /* The modes alternate round by round so that other load on the machine hits them
       alike; the best round of each counts. */
    int modes[3], nm = 0;
    if (strcmp(which, "both") == 0 || strcmp(which, "naive") == 0)
        modes[nm++] = 1;
    if (strcmp(which, "both") == 0 || strcmp(which, "hubfn") == 0)
        modes[nm++] = 0;
    if (strcmp(which, "decode") == 0)
        modes[nm++] = 2;
    if (strcmp(which, "eager") == 0 || strcmp(which, "all") == 0) {
        if (strcmp(which, "all") == 0) {
            modes[nm++] = 1;
            modes[nm++] = 0;
        }
        modes[nm++] = 3;
    }
    lua_State *states[3];
    double best[3] = { 0, 0, 0 };
    long long realized[3] = { 0, 0, 0 };
    for (int m = 0; m < nm; m++) {
        states[m] = bench_state(modes[m]);
        run_round(states[m], modes[m], lines, n, batch);     /* warm up */
    }
    for (int r = 0; r < rounds; r++)
        for (int m = 0; m < nm; m++) {
            double rate = time_round(states[m], modes[m], lines, n, batch, &realized[m]);
            if (rate > best[m])
                best[m] = rate;
        }
    static const char *const label[4] = {
        "hubfn  view from text, lazy body -> handler:  ",
        "naive  cJSON tree -> Lua tables -> handler:   ",
        "decode only (no view), body handler:          ",
        "eager  decode body, view from body -> handler:",
    };
    for (int m = 0; m < nm; m++) {
        printf("%s %9.0f events/s  %.2f us/event\n", label[modes[m]], best[m], 1e6 / best[m]);
        lua_close(states[m]);
    }
    if (nm >= 2 && modes[0] == 1 && modes[1] == 0) {
        printf("ratio  %.2fx (hubfn / naive)\n", best[1] / best[0]);
        if (nm == 3)
            printf("ratio  %.2fx (eager / naive)\n", best[2] / best[0]);
        if (realized[0] != realized[1] || (nm == 3 && realized[2] != realized[0])) {
            fprintf(stderr, "realized counts differ: naive %lld, hubfn %lld\n", realized[0],
                    realized[1]);
            return 1;
        }
    }
    return 0;
}
