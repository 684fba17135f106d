#include "reload.h"

#include <dirent.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "binding.h"
#include "log.h"
#include "lua_modules.h"

/* Editors save in several steps; wait this long after the last change before reloading. */
#define HF_RELOAD_SETTLE_S 0.2

typedef struct hf_watch {
    struct hf_reload *reload;
    int fn_index;
    char *function_json;
    ev_stat script;
    ev_stat config;
    ev_timer settle;
    int config_changed;
} hf_watch_t;

/* One module file under APP/lib. */
typedef struct hf_module_watch {
    struct hf_reload *reload;
    char *path;
    char *name;                  /* the module name require knows it by */
    ev_stat st;
    ev_timer settle;
} hf_module_watch_t;

struct hf_reload {
    hf_app_t *app;
    struct ev_loop *loop;
    hf_workers_t *workers;
    int embedded;
    hf_watch_t *watches;
    size_t watches_n;
    hf_module_watch_t **modules;
    size_t modules_n;
    ev_stat lib;                 /* the lib folder itself: files added */
};

/* Compile the script in a scratch state: 0 when it would load, else -1 with file:line. */
static int check_syntax(const char *path, char *err, size_t errsz)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    int rc = luaL_loadfilex(L, path, "t");
    if (rc != LUA_OK)
        snprintf(err, errsz, "%s", lua_tostring(L, -1));
    lua_close(L);
    return rc == LUA_OK ? 0 : -1;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Can binding b replace a without a restart? */
static int same_binding(const hf_binding_t *a, const hf_binding_t *b)
{
    if (a->type != b->type || !same_str(a->name, b->name) || a->cardinality != b->cardinality ||
        a->data_type != b->data_type)
        return 0;
    if (a->type->same)
        return a->type->same(a, b);
    return !a->type->options || hf_options_equal(a->type->options, a->cfg, b->cfg);
}

/* Re-read function.json; apply what can change between batches (entryPoint). Returns 0
   when the function can simply be reloaded, -1 when only a restart applies the change. */
static int reread_config(hf_watch_t *w, const hf_function_t *fn)
{
    hf_reload_t *r = w->reload;
    hf_app_t fresh;
    hf_app_opts_t opts = {1, r->embedded, fn->dir};
    char err[2048];
    hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
    ctx.function = fn->name;
    if (hf_app_load(&fresh, fn->dir, &opts, err, sizeof(err)) != 0) {
        hf_log_ctx(HF_LOG_ERROR, &ctx, "not reloaded, the previous version keeps running: %s",
                   err);
        return -1;
    }
    const hf_function_t *nf = &fresh.functions[0];
    int same = same_binding(&fn->trigger, &nf->trigger) && fn->outputs_n == nf->outputs_n &&
               same_str(fn->script_path, nf->script_path);
    for (size_t i = 0; same && i < fn->outputs_n; i++)
        same = same_binding(&fn->outputs[i], &nf->outputs[i]);
    if (!same) {
        hf_log_ctx(HF_LOG_WARN, &ctx, "function.json changed its bindings or scriptFile, "
                   "which a reload does not apply (it applies the script, the modules of lib/ "
                   "and entryPoint): restart hubfn to apply them; the running version keeps "
                   "serving");
        hf_app_free(&fresh);
        return -1;
    }
    if (!same_str(fn->entry_point, nf->entry_point)) {
        /* Workers read entryPoint only while reloading, after being signalled. */
        hf_function_t *mfn = &r->app->functions[w->fn_index];
        free(mfn->entry_point);
        mfn->entry_point = hf_strdup(nf->entry_point);
    }
    hf_app_free(&fresh);
    return 0;
}

static void on_settled(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    hf_watch_t *w = t->data;
    hf_reload_t *r = w->reload;
    const hf_function_t *fn = &r->app->functions[w->fn_index];
    hf_log_ctx_t ctx = HF_LOG_CTX_NONE;
    char err[2048];
    ctx.function = fn->name;
    if (w->config_changed) {
        w->config_changed = 0;
        if (reread_config(w, fn) != 0)
            return;
    }
    if (check_syntax(fn->script_path, err, sizeof(err)) != 0) {
        hf_log_ctx(HF_LOG_ERROR, &ctx, "not reloaded, the previous version keeps running: %s",
                   err);
        return;
    }
    hf_log_ctx(HF_LOG_INFO, &ctx, "reloading %s between batches", fn->script_path);
    hf_workers_reload(r->workers, w->fn_index);
}

static void on_change(struct ev_loop *loop, ev_stat *st, int revents)
{
    (void)revents;
    hf_watch_t *w = st->data;
    if (st == &w->config)
        w->config_changed = 1;
    ev_timer_stop(loop, &w->settle);
    ev_timer_set(&w->settle, HF_RELOAD_SETTLE_S, 0);
    ev_timer_start(loop, &w->settle);
}

static void on_module_settled(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    hf_module_watch_t *m = t->data;
    char err[2048];
    if (m->st.attr.st_nlink == 0)
        return;                  /* removed: whoever requires it fails on the next load */
    if (check_syntax(m->path, err, sizeof(err)) != 0) {
        hf_log_error("module %s not reloaded, the previous version keeps running: %s",
                     m->name, err);
        return;
    }
    hf_workers_reload_module(m->reload->workers, m->name);
}

static void on_module_change(struct ev_loop *loop, ev_stat *st, int revents)
{
    (void)revents;
    hf_module_watch_t *m = st->data;
    ev_timer_stop(loop, &m->settle);
    ev_timer_set(&m->settle, HF_RELOAD_SETTLE_S, 0);
    ev_timer_start(loop, &m->settle);
}

/* Watch the module file at path (below lib/, `rel` from there) unless it is watched. */
static void watch_module(hf_reload_t *r, const char *path, const char *rel)
{
    char name[512];
    if (hf_lua_module_name(rel, name, sizeof(name)) != 0)
        return;
    for (size_t i = 0; i < r->modules_n; i++)
        if (strcmp(r->modules[i]->path, path) == 0)
            return;
    hf_module_watch_t *m = hf_calloc(1, sizeof(*m));
    m->reload = r;
    m->path = hf_strdup(path);
    m->name = hf_strdup(name);
    ev_stat_init(&m->st, on_module_change, m->path, 0.5);
    ev_timer_init(&m->settle, on_module_settled, HF_RELOAD_SETTLE_S, 0);
    m->st.data = m->settle.data = m;
    ev_stat_start(r->loop, &m->st);
    r->modules = hf_realloc(r->modules, (r->modules_n + 1) * sizeof(*r->modules));
    r->modules[r->modules_n++] = m;
}

/* Watch every .lua file below dir (lib/ and its folders, a few levels down). */
static void scan_modules(hf_reload_t *r, const char *dir, const char *rel, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[1024], sub[512];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 4)
            scan_modules(r, path, sub, depth + 1);
        else if (S_ISREG(st.st_mode))
            watch_module(r, path, sub);
    }
    closedir(d);
}

static void on_lib_change(struct ev_loop *loop, ev_stat *st, int revents)
{
    (void)loop;
    (void)revents;
    hf_reload_t *r = st->data;
    scan_modules(r, r->app->lib_dir, "", 0);
}

hf_reload_t *hf_reload_start(hf_app_t *app, struct ev_loop *loop, hf_workers_t *workers,
                             int embedded)
{
    hf_reload_t *r = hf_calloc(1, sizeof(*r));
    r->watches = hf_calloc(app->functions_n ? app->functions_n : 1, sizeof(hf_watch_t));
    r->app = app;
    r->loop = loop;
    r->workers = workers;
    r->embedded = embedded;
    for (size_t i = 0; i < app->functions_n; i++) {
        const hf_function_t *fn = &app->functions[i];
        if (fn->disabled)
            continue;
        hf_watch_t *w = &r->watches[r->watches_n++];
        size_t n = strlen(fn->dir) + sizeof("/function.json");
        w->reload = r;
        w->fn_index = (int)i;
        w->function_json = hf_malloc(n);
        snprintf(w->function_json, n, "%s/function.json", fn->dir);
        ev_stat_init(&w->script, on_change, fn->script_path, 0.5);
        ev_stat_init(&w->config, on_change, w->function_json, 0.5);
        ev_timer_init(&w->settle, on_settled, HF_RELOAD_SETTLE_S, 0);
        w->script.data = w->config.data = w->settle.data = w;
        ev_stat_start(r->loop, &w->script);
        ev_stat_start(r->loop, &w->config);
    }
    if (app->lib_dir) {
        scan_modules(r, app->lib_dir, "", 0);
        ev_stat_init(&r->lib, on_lib_change, app->lib_dir, 1.0);
        r->lib.data = r;
        ev_stat_start(r->loop, &r->lib);
    }
    return r;
}

void hf_reload_stop(hf_reload_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->watches_n; i++) {
        hf_watch_t *w = &r->watches[i];
        ev_stat_stop(r->loop, &w->script);
        ev_stat_stop(r->loop, &w->config);
        ev_timer_stop(r->loop, &w->settle);
        free(w->function_json);
    }
    free(r->watches);
    for (size_t i = 0; i < r->modules_n; i++) {
        hf_module_watch_t *m = r->modules[i];
        ev_stat_stop(r->loop, &m->st);
        ev_timer_stop(r->loop, &m->settle);
        free(m->path);
        free(m->name);
        free(m);
    }
    free(r->modules);
    if (r->app->lib_dir)
        ev_stat_stop(r->loop, &r->lib);
    free(r);
}
