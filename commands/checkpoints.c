/*
 * hubfn checkpoints: a function's consumer-group checkpoints on its input hub, read and
 * moved through the Admin API of a group-less client (hub_client.h), so that looking never
 * joins the group and moving never races a running instance (the broker refuses to move
 * the offsets of a group with members, and hubfn names them first).
 */
#include "checkpoints.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "app.h"
#include "conn.h"
#include "datetime.h"
#include "eventhub.h"
#include "hub_client.h"
#include "json.h"

/* What one partition looks like. */
typedef struct cp_part {
    int64_t checkpoint;          /* -1: none */
    int64_t lo, hi;              /* oldest offset, the next offset to be written */
    int64_t enqueued_ms;         /* of the event at the checkpoint, -1 unknown or none */
    int64_t start;               /* where the next start of the function begins */
    const char *state;           /* current, none, expired, pastEnd */
    /* --set */
    int change;                  /* this partition's checkpoint is set */
    int64_t to;
} cp_part_t;

typedef struct cp_run {
    const hf_checkpoints_opts_t *opts;
    hf_app_t app;
    const hf_function_t *fn;
    const hf_eventhub_cfg_t *cfg;
    hf_hub_client_t hc;
    cp_part_t *parts;
    int n;
} cp_run_t;

/* Print "hubfn checkpoints: MESSAGE" on stderr with secrets masked. */
static void cp_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cp_say(const char *fmt, ...)
{
    char raw[2048], masked[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    hf_secret_mask(raw, masked, sizeof(masked));
    fprintf(stderr, "hubfn checkpoints: %s\n", masked);
}

/* ---------------------------------------------------------------------------------- */
/* --set                                                                               */

/* Is s a list PARTITION:OFFSET[,PARTITION:OFFSET...] of whole numbers? */
static int cp_is_list(const char *s)
{
    for (;;) {
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
        if (*s++ != ':' || !isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
        if (!*s)
            return 1;
        if (*s++ != ',')
            return 0;
    }
}

int hf_checkpoints_valid_spec(const char *spec)
{
    long long ms;
    return strcmp(spec, "earliest") == 0 || strcmp(spec, "latest") == 0 || cp_is_list(spec) ||
           hf_time_parse(spec, &ms) == 0;
}

/* Decide each partition's new checkpoint from the --set value. 0, or -1 (exit 2) after
   saying what is wrong. */
static int cp_plan(cp_run_t *r, const char *spec)
{
    char err[1024];
    long long ms;
    if (strcmp(spec, "earliest") == 0 || strcmp(spec, "latest") == 0) {
        int latest = spec[0] == 'l';
        for (int i = 0; i < r->n; i++) {
            r->parts[i].change = 1;
            r->parts[i].to = latest ? r->parts[i].hi : r->parts[i].lo;
        }
        return 0;
    }
    if (cp_is_list(spec)) {
        const char *s = spec;
        while (*s) {
            char *end;
            long long p = strtoll(s, &end, 10);
            long long off = strtoll(end + 1, &end, 10);
            s = *end ? end + 1 : end;
            if (p >= r->n) {
                cp_say("--set %lld:%lld: hub %s has partitions 0-%d; there is no partition %lld",
                       p, off, r->cfg->hub, r->n - 1, p);
                return -1;
            }
            cp_part_t *part = &r->parts[p];
            if (part->change) {
                cp_say("--set: partition %lld is given twice", p);
                return -1;
            }
            if (off < part->lo || off > part->hi) {
                if (part->lo == part->hi)
                    cp_say("--set %lld:%lld: partition %lld holds no event; its only checkpoint "
                           "is %lld", p, off, p, (long long)part->hi);
                else
                    cp_say("--set %lld:%lld: partition %lld holds offsets %lld-%lld, so a "
                           "checkpoint goes from %lld (its oldest event) to %lld (after its "
                           "newest)", p, off, p, (long long)part->lo, (long long)part->hi - 1,
                           (long long)part->lo, (long long)part->hi);
                return -1;
            }
            part->change = 1;
            part->to = off;
        }
        return 0;
    }
    if (hf_time_parse(spec, &ms) != 0)
        return -1;                          /* checked by the command line */
    int32_t *ids = hf_malloc((size_t)r->n * sizeof(*ids));
    int64_t *at = hf_malloc((size_t)r->n * sizeof(*at));
    for (int i = 0; i < r->n; i++)
        ids[i] = i;
    int rc = hf_hub_client_offsets_for_time(&r->hc, ids, r->n, ms, at, err, sizeof(err));
    if (rc < 0)
        cp_say("%s", err);
    for (int i = 0; rc == 0 && i < r->n; i++) {
        r->parts[i].change = 1;
        /* no event at or after the time yet: after the newest */
        r->parts[i].to = at[i] >= 0 ? at[i] : r->parts[i].hi;
    }
    free(ids);
    free(at);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Reading                                                                             */

/* Where the function starts in a partition without a usable checkpoint. */
static int64_t cp_initial(const cp_run_t *r, const cp_part_t *p, int64_t at_time)
{
    switch (r->app.host.initial_offset) {
    case HF_OFFSET_FROM_END:
        return p->hi;
    case HF_OFFSET_FROM_ENQUEUED_TIME:
        return at_time >= 0 ? at_time : p->hi;
    default:
        return p->lo;
    }
}

/* Read every partition's offsets, checkpoint and the enqueued time at it. 0, or -1. */
static int cp_read(cp_run_t *r)
{
    char err[1024];
    int64_t *committed = hf_malloc((size_t)r->n * sizeof(*committed));
    int32_t *ids = hf_malloc((size_t)r->n * sizeof(*ids));
    int64_t *offs = hf_malloc((size_t)r->n * sizeof(*offs));
    int64_t *times = hf_malloc((size_t)r->n * sizeof(*times));
    int64_t *at_time = hf_malloc((size_t)r->n * sizeof(*at_time));
    int rc = 0;
    for (int i = 0; i < r->n && rc == 0; i++) {
        ids[i] = i;
        at_time[i] = -1;
        if (hf_hub_client_watermarks(&r->hc, i, &r->parts[i].lo, &r->parts[i].hi, err,
                                     sizeof(err)) < 0) {
            cp_say("partition %d: %s", i, err);
            rc = -1;
        }
    }
    if (rc == 0 && hf_hub_client_committed(&r->hc, r->cfg->consumer_group, r->n, committed, err,
                                           sizeof(err)) < 0) {
        cp_say("%s", err);
        rc = -1;
    }
    if (rc == 0 && r->app.host.initial_offset == HF_OFFSET_FROM_ENQUEUED_TIME &&
        hf_hub_client_offsets_for_time(&r->hc, ids, r->n, r->app.host.initial_time_ms, at_time,
                                       err, sizeof(err)) < 0) {
        cp_say("%s", err);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < r->n; i++) {
        cp_part_t *p = &r->parts[i];
        p->checkpoint = committed[i];
        p->enqueued_ms = -1;
        if (p->checkpoint < 0) {
            p->state = "none";
            p->start = cp_initial(r, p, at_time[i]);
        } else if (p->checkpoint > p->hi) {
            p->state = "pastEnd";
            p->start = r->app.host.initial_offset == HF_OFFSET_FROM_END ? p->hi : p->lo;
        } else if (p->checkpoint < p->lo) {
            p->state = "expired";
            p->start = r->app.host.initial_offset == HF_OFFSET_FROM_END ? p->hi : p->lo;
        } else {
            p->state = "current";
            p->start = p->checkpoint;
        }
        offs[i] = p->start < p->hi ? p->start : -1;
    }
    if (rc == 0 && hf_hub_client_enqueued_times(&r->hc, ids, offs, r->n, 10000, times, err,
                                                sizeof(err)) < 0) {
        cp_say("%s", err);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < r->n; i++)
        r->parts[i].enqueued_ms = times[i];
    free(committed);
    free(ids);
    free(offs);
    free(times);
    free(at_time);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Output                                                                              */

/* A number, or "-" for a negative one. */
static const char *cp_num(int64_t v, char *buf)
{
    if (v < 0)
        return "-";
    snprintf(buf, 24, "%lld", (long long)v);
    return buf;
}

/* What a partition's state means for the next start, in words. */
static void cp_note(const cp_run_t *r, const cp_part_t *p, char *buf, size_t bufsz)
{
    const char *from = r->app.host.initial_offset == HF_OFFSET_FROM_END ? "the newest event"
                                                                          : "the oldest event";
    buf[0] = 0;
    if (strcmp(p->state, "none") == 0) {
        snprintf(buf, bufsz, "no checkpoint: starts at offset %lld (initialOffsetOptions %s)",
                 (long long)p->start,
                 r->app.host.initial_offset == HF_OFFSET_FROM_END ? "fromEnd"
                 : r->app.host.initial_offset == HF_OFFSET_FROM_ENQUEUED_TIME ? "fromEnqueuedTime"
                                                                              : "fromStart");
    } else if (strcmp(p->state, "pastEnd") == 0) {
        snprintf(buf, bufsz, "past the end of the hub (the hub was recreated?): starts at %s",
                 from);
    } else if (strcmp(p->state, "expired") == 0) {
        snprintf(buf, bufsz, "before the oldest event (expired): starts at %s", from);
    }
}

/* The table of `hubfn checkpoints FUNCTION`. */
static void cp_print_table(const cp_run_t *r)
{
    char desc[256], a[24], b[24], c[24], t[HF_TIME_FORMAT_MAX], note[256];
    int64_t total = 0;
    int stale = 0;
    hf_conn_describe(r->cfg->conn, desc, sizeof(desc));
    printf("function %s: hub %s, consumer group %s, %s\n", r->fn->name, r->cfg->hub,
           r->cfg->consumer_group, desc);
    printf("%9s  %10s  %10s  %10s  %10s  %-24s\n", "partition", "checkpoint", "oldest", "newest",
           "behind", "checkpoint enqueued");
    for (int i = 0; i < r->n; i++) {
        const cp_part_t *p = &r->parts[i];
        int64_t behind = p->hi - p->start;
        total += behind;
        stale += strcmp(p->state, "pastEnd") == 0;
        if (p->enqueued_ms >= 0)
            hf_time_format(p->enqueued_ms, t);
        else
            snprintf(t, sizeof(t), "-");
        cp_note(r, p, note, sizeof(note));
        printf("%9d  %10s  %10s  %10s  %10lld  %-24s%s%s\n", i, cp_num(p->checkpoint, a),
               p->lo < p->hi ? cp_num(p->lo, b) : "-",
               p->lo < p->hi ? cp_num(p->hi - 1, c) : "-", (long long)behind, t,
               *note ? "  " : "", note);
    }
    printf("behind in all: %lld event%s\n", (long long)total, total == 1 ? "" : "s");
    if (stale)
        printf("%d checkpoint%s past the end of the hub: the hub was deleted and created again "
               "(its offsets started over), so the next start begins at %s and anything "
               "newer than the old checkpoint only is handled once it is reached. `hubfn "
               "checkpoints %s --set earliest` (or latest, or a time) replaces %s.\n",
               stale, stale == 1 ? " is" : "s are",
               r->app.host.initial_offset == HF_OFFSET_FROM_END ? "the newest event"
                                                                 : "the oldest event",
               r->fn->name, stale == 1 ? "it" : "them");
}

/* Append "KEY":number or null. */
static void cp_json_num(hf_buf_t *b, const char *key, int64_t v, int comma)
{
    char num[64];
    int n = snprintf(num, sizeof(num), "%s\"%s\":", comma ? "," : "", key);
    hf_buf_append(b, num, (size_t)n);
    if (v < 0) {
        hf_buf_append(b, "null", 4);
    } else {
        n = snprintf(num, sizeof(num), "%lld", (long long)v);
        hf_buf_append(b, num, (size_t)n);
    }
}

/* Append "KEY":"string". */
static void cp_json_str(hf_buf_t *b, const char *key, const char *v, int comma)
{
    if (comma)
        hf_buf_append(b, ",", 1);
    hf_json_put_string(b, key, strlen(key));
    hf_buf_append(b, ":", 1);
    hf_json_put_string(b, v, strlen(v));
}

/* The JSON document of `--json`: the function, its hub and group, and per partition what
   the table shows (with --set, also "to" for each partition that changes). */
static void cp_print_json(const cp_run_t *r, int set)
{
    hf_buf_t b;
    char t[HF_TIME_FORMAT_MAX];
    hf_buf_init(&b);
    hf_buf_append(&b, "{", 1);
    cp_json_str(&b, "function", r->fn->name, 0);
    cp_json_str(&b, "eventHubName", r->cfg->hub, 1);
    cp_json_str(&b, "consumerGroup", r->cfg->consumer_group, 1);
    if (set) {
        const char *dry = r->opts->dry_run ? ",\"dryRun\":true" : ",\"dryRun\":false";
        hf_buf_append(&b, dry, strlen(dry));
    }
    hf_buf_append(&b, ",\"partitions\":[", 15);
    for (int i = 0; i < r->n; i++) {
        const cp_part_t *p = &r->parts[i];
        if (set && !p->change)
            continue;
        if (b.data[b.len - 1] != '[')
            hf_buf_append(&b, ",", 1);
        hf_buf_append(&b, "{", 1);
        cp_json_num(&b, "partition", i, 0);
        cp_json_num(&b, "checkpoint", p->checkpoint, 1);
        cp_json_num(&b, "oldest", p->lo < p->hi ? p->lo : -1, 1);
        cp_json_num(&b, "newest", p->lo < p->hi ? p->hi - 1 : -1, 1);
        cp_json_num(&b, "end", p->hi, 1);
        cp_json_num(&b, "behind", p->hi - p->start, 1);
        if (p->enqueued_ms >= 0) {
            hf_time_format(p->enqueued_ms, t);
            cp_json_str(&b, "checkpointEnqueuedTime", t, 1);
        } else {
            hf_buf_append(&b, ",\"checkpointEnqueuedTime\":null",
                          strlen(",\"checkpointEnqueuedTime\":null"));
        }
        cp_json_str(&b, "state", p->state, 1);
        if (set)
            cp_json_num(&b, "to", p->to, 1);
        hf_buf_append(&b, "}", 1);
    }
    hf_buf_append(&b, "]}\n", 3);
    fwrite(b.data, 1, b.len, stdout);
    hf_buf_free(&b);
}

/* The table of a --set: each partition that changes, from and to. */
static void cp_print_changes(const cp_run_t *r)
{
    char a[24], b[24], effect[96];
    printf("%9s  %10s  %14s  %16s\n", "partition", "checkpoint", "new checkpoint",
           "events to handle");
    for (int i = 0; i < r->n; i++) {
        const cp_part_t *p = &r->parts[i];
        if (!p->change)
            continue;
        int64_t delta = p->to - p->start;
        if (delta < 0)
            snprintf(effect, sizeof(effect), "  (%lld handled again)", (long long)-delta);
        else if (delta > 0)
            snprintf(effect, sizeof(effect), "  (%lld skipped)", (long long)delta);
        else
            effect[0] = 0;
        printf("%9d  %10s  %14s  %16lld%s\n", i, cp_num(p->checkpoint, a), cp_num(p->to, b),
               (long long)(p->hi - p->to), effect);
    }
}

/* ---------------------------------------------------------------------------------- */
/* The command                                                                         */

/* Load the app with only this function, and find its trigger. 0, or -1. */
static int cp_load(cp_run_t *r)
{
    char path[4096], err[2048];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", r->opts->app_dir, r->opts->function);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cp_say("%s: no function %s in app %s (a folder with a function.json)", path,
               r->opts->function, r->opts->app_dir);
        return -1;
    }
    hf_app_opts_t aopts = {1, 0, path};
    if (hf_app_load(&r->app, r->opts->app_dir, &aopts, err, sizeof(err)) != 0) {
        cp_say("%s", err);
        return -1;
    }
    if (r->app.functions_n != 1) {
        cp_say("%s: not a function folder (it needs a function.json)", path);
        return -1;
    }
    r->fn = &r->app.functions[0];
    if (r->fn->trigger.type != &hf_eventhub_trigger_type) {
        cp_say("function %s has no eventHubTrigger, so no checkpoints", r->fn->name);
        return -1;
    }
    r->cfg = hf_eventhub_cfg(&r->fn->trigger);
    if (!r->cfg->conn) {
        cp_say("function %s: its connection setting %s is not set", r->fn->name,
               r->cfg->connection ? r->cfg->connection : "?");
        return -1;
    }
    if (r->cfg->conn->kind == HF_CONN_EMBEDDED && !r->cfg->conn->bootstrap) {
        cp_say("function %s connects through setting %s = embedded: its checkpoints live in "
               "the broker of `hubfn start --embedded` and go with it; to read them while it "
               "runs, set %s to the address it printed (HubConnection=127.0.0.1:PORT hubfn "
               "checkpoints ...)", r->fn->name, r->cfg->connection, r->cfg->connection);
        return -1;
    }
    return 0;
}

/* Refuse while the group has members, naming them. 0 when it has none; -1 (exit 1). A
   broker that does not describe groups leaves the check to AlterConsumerGroupOffsets. */
static int cp_check_members(cp_run_t *r)
{
    char members[2048], state[64], err[1024];
    int count = 0;
    if (hf_hub_client_members(&r->hc, r->cfg->consumer_group, &count, members, sizeof(members),
                              state, sizeof(state), err, sizeof(err)) < 0) {
        cp_say("cannot list the members of consumer group %s (%s); the broker refuses the "
               "change if any is active", r->cfg->consumer_group, err);
        return 0;
    }
    if (count == 0)
        return 0;
    cp_say("%s consumer group %s of function %s has %d active member%s: %s. Checkpoints move "
           "only while no instance runs: stop every `hubfn start` of this app (or scale it to "
           "0), then run this again", r->opts->dry_run ? "would refuse:" : "refused:",
           r->cfg->consumer_group, r->fn->name, count, count == 1 ? "" : "s", members);
    return -1;
}

/* Apply the planned changes. 0, or -1. */
static int cp_apply(cp_run_t *r)
{
    int32_t *ids = hf_malloc((size_t)r->n * sizeof(*ids));
    int64_t *to = hf_malloc((size_t)r->n * sizeof(*to));
    int k = 0, rc;
    char err[1024];
    for (int i = 0; i < r->n; i++)
        if (r->parts[i].change) {
            ids[k] = i;
            to[k++] = r->parts[i].to;
        }
    rc = hf_hub_client_set_committed(&r->hc, r->cfg->consumer_group, ids, to, k, err,
                                     sizeof(err));
    if (rc < 0) {
        rd_kafka_resp_err_t e = r->hc.error;
        if (e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
            e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
            e == RD_KAFKA_RESP_ERR_GROUP_SUBSCRIBED_TO_TOPIC)
            cp_say("refused: consumer group %s of function %s has active members (%s); stop "
                   "every instance first", r->cfg->consumer_group, r->fn->name,
                   rd_kafka_err2name(e));
        else
            cp_say("%s", err);
    }
    free(ids);
    free(to);
    return rc;
}

int hf_checkpoints_main(const hf_checkpoints_opts_t *opts)
{
    cp_run_t r;
    char err[1024];
    int rc = 0;
    memset(&r, 0, sizeof(r));
    r.opts = opts;
    if (cp_load(&r) < 0) {
        hf_app_free(&r.app);
        return 2;
    }
    if (hf_hub_client_open(&r.hc, r.cfg->conn, &r.app.host, r.cfg->hub, err, sizeof(err)) < 0) {
        cp_say("%s", err);
        hf_app_free(&r.app);
        return 2;
    }
    if (hf_hub_client_partitions(&r.hc, 30, &r.n, err, sizeof(err)) < 0) {
        cp_say("function %s: %s", r.fn->name, err);
        rc = 1;
        goto done;
    }
    r.parts = hf_calloc((size_t)r.n, sizeof(*r.parts));
    if (cp_read(&r) < 0) {
        rc = 1;
        goto done;
    }
    if (!opts->set) {
        if (opts->json)
            cp_print_json(&r, 0);
        else
            cp_print_table(&r);
        goto done;
    }
    if (cp_plan(&r, opts->set) < 0) {
        rc = 2;
        goto done;
    }
    if (!opts->json) {
        char desc[256];
        hf_conn_describe(r.cfg->conn, desc, sizeof(desc));
        printf("function %s: hub %s, consumer group %s, %s%s\n", r.fn->name, r.cfg->hub,
               r.cfg->consumer_group, desc, opts->dry_run ? " (dry run: nothing changes)" : "");
        cp_print_changes(&r);
    }
    if (cp_check_members(&r) < 0) {
        rc = 1;
    } else if (!opts->dry_run && cp_apply(&r) < 0) {
        rc = 1;
    } else if (opts->json) {
        cp_print_json(&r, 1);
    } else if (!opts->dry_run) {
        int k = 0;
        for (int i = 0; i < r.n; i++)
            k += r.parts[i].change;
        printf("moved %d checkpoint%s of consumer group %s; the next start of %s begins there\n",
               k, k == 1 ? "" : "s", r.cfg->consumer_group, r.fn->name);
    }

done:
    fflush(stdout);
    hf_hub_client_close(&r.hc);
    free(r.parts);
    hf_app_free(&r.app);
    return rc;
}
