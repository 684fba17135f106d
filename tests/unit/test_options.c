/*
 * Unit tests of the option tables (runtime/options.c): defaults, values and their checks,
 * unknown keys with the nearest known one, and that docs/configuration.md's settings
 * tables and `hubfn new`'s host.json come from the same tables.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "binding.h"
#include "options.h"
#include "test.h"

typedef struct sample {
    char *name;
    int count;
    int flag;
    long long wait_ms;
    int color;
    hf_strings_t props;
} sample_t;

static const char *const colors[] = {"red", "green", "blue", NULL};

static const hf_option_t sample_options[] = {
    {"name", HF_OPT_STRING, offsetof(sample_t, name), "\"anon\"", .help = "a name"},
    {"count", HF_OPT_INT, offsetof(sample_t, count), "3", 1, 10, .aliases = "legacy.cnt",
     .help = "how many"},
    {"flag", HF_OPT_BOOL, offsetof(sample_t, flag), "false", .help = "on or off"},
    {"wait", HF_OPT_DURATION, offsetof(sample_t, wait_ms), "\"00:00:05\"", 0, 60000,
     .use = "00:00:05", .help = "how long"},
    {"color", HF_OPT_ENUM, offsetof(sample_t, color), "\"green\"", 0, 0, colors,
     HF_OPT_SHAPES, .noun = "a color", .use = "use red, green or blue", .help = "which"},
    {"props", HF_OPT_STRINGS, offsetof(sample_t, props), .help = "more"},
    {NULL}
};

static char warned[4096];

static void warn_cb(void *ud, const char *line)
{
    (void)ud;
    strncat(warned, line, sizeof(warned) - strlen(warned) - 2);
    strcat(warned, "\n");
}

static int read_json(const char *json, sample_t *s, char *err, size_t errsz)
{
    hf_opt_ctx_t ctx = {.file = "x.json", .prefix = "bindings[0].", .err = err,
                        .errsz = errsz, .warn = warn_cb};
    cJSON *obj = cJSON_Parse(json);
    memset(s, 0, sizeof(*s));
    hf_options_defaults(sample_options, s);
    warned[0] = 0;
    int rc = hf_options_read(sample_options, obj, s, &ctx);
    if (rc == 0)
        rc = hf_options_check_keys((const hf_option_t *const[]){sample_options, NULL}, obj, &ctx);
    cJSON_Delete(obj);
    return rc;
}

TEST(defaults_and_values)
{
    sample_t s;
    char err[512];
    CHECK_INT(read_json("{}", &s, err, sizeof(err)), 0);
    CHECK_STR(s.name, "anon");
    CHECK_INT(s.count, 3);
    CHECK_INT(s.wait_ms, 5000);
    CHECK_INT(s.color, 1);
    hf_options_free(sample_options, &s);
    CHECK_INT(read_json("{\"NAME\":\"x\",\"count\":\"7\",\"flag\":\"TRUE\",\"wait\":\"00:01:00\","
                        "\"color\":\"Blue\",\"props\":{\"a\":1,\"b\":true}}", &s, err, sizeof(err)),
              0);
    CHECK_STR(s.name, "x");                    /* keys in any case, as Azure reads them */
    CHECK_INT(s.count, 7);                     /* numeric strings, as overrides give them */
    CHECK_INT(s.flag, 1);
    CHECK_INT(s.wait_ms, 60000);
    CHECK_INT(s.color, 2);
    CHECK_INT(s.props.n, 2);
    CHECK_STR(hf_strings_get(&s.props, "b", 0), "true");
    hf_options_free(sample_options, &s);
}

TEST(alias_read_first_so_the_name_wins)
{
    sample_t s;
    char err[512];
    CHECK_INT(read_json("{\"legacy\":{\"cnt\":4}}", &s, err, sizeof(err)), 0);
    CHECK_INT(s.count, 4);
    hf_options_free(sample_options, &s);
    CHECK_INT(read_json("{\"legacy\":{\"cnt\":4},\"count\":9}", &s, err, sizeof(err)), 0);
    CHECK_INT(s.count, 9);
    hf_options_free(sample_options, &s);
}

TEST(errors_name_file_key_and_range)
{
    sample_t s;
    char err[512];
    CHECK_INT(read_json("{\"count\":11}", &s, err, sizeof(err)), -1);
    CHECK_STR(err, "x.json: bindings[0].count: expected an integer from 1 to 10, got 11");
    hf_options_free(sample_options, &s);
    CHECK_INT(read_json("{\"count\":1e20}", &s, err, sizeof(err)), -1);
    CHECK_HAS(err, "expected an integer from 1 to 10");
    hf_options_free(sample_options, &s);
    CHECK_INT(read_json("{\"wait\":\"00:02:00\"}", &s, err, sizeof(err)), -1);
    CHECK_STR(err, "x.json: bindings[0].wait: \"00:02:00\" is more than the maximum of 00:01:00");
    hf_options_free(sample_options, &s);
    CHECK_INT(read_json("{\"color\":\"pink\"}", &s, err, sizeof(err)), -1);
    CHECK_STR(err, "x.json: bindings[0].color: \"pink\" is not a color (use red, green or blue)");
    hf_options_free(sample_options, &s);
    CHECK_INT(read_json("{\"flag\":2}", &s, err, sizeof(err)), -1);
    CHECK_HAS(err, "flag: expected true or false, got 2");
    hf_options_free(sample_options, &s);
}

TEST(unknown_keys_warn_with_the_nearest)
{
    sample_t s;
    char err[512];
    CHECK_INT(read_json("{\"cuont\":2,\"zzzzzz\":1}", &s, err, sizeof(err)), 0);
    CHECK_HAS(warned, "x.json: bindings[0].cuont is not a setting hubfn knows; ignored (did you "
                      "mean count?)");
    CHECK_HAS(warned, "bindings[0].zzzzzz is not a setting hubfn knows; ignored\n");
    hf_options_free(sample_options, &s);
}

TEST(typo_of_a_key_that_shapes_the_input_is_an_error)
{
    sample_t s;
    char err[512];
    CHECK_INT(read_json("{\"colour\":\"red\"}", &s, err, sizeof(err)), -1);
    CHECK_HAS(err, "x.json: bindings[0].colour: not a key hubfn knows (did you mean color?");
    hf_options_free(sample_options, &s);
}

TEST(equal_compares_every_option)
{
    sample_t a, b;
    char err[512];
    read_json("{\"props\":{\"a\":\"1\"}}", &a, err, sizeof(err));
    read_json("{\"props\":{\"a\":\"1\"}}", &b, err, sizeof(err));
    CHECK(hf_options_equal(sample_options, &a, &b));
    hf_options_free(sample_options, &b);
    read_json("{\"props\":{\"a\":\"2\"}}", &b, err, sizeof(err));
    CHECK(!hf_options_equal(sample_options, &a, &b));
    hf_options_free(sample_options, &a);
    hf_options_free(sample_options, &b);
}

/* Every settings table of docs/configuration.md equals `hubfn help TOPIC`, and every binding
   type has one. */
TEST(docs_tables_match_the_option_tables)
{
    FILE *f = fopen("docs/configuration.md", "r");
    CHECK(f != NULL);
    static char doc[1 << 20];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = 0;
    int blocks = 0;
    for (const char *p = doc; (p = strstr(p, "<!-- hubfn help ")) != NULL;) {
        char topic[64];
        CHECK(sscanf(p, "<!-- hubfn help %63s -->", topic) == 1);
        const char *body = strchr(p, '\n') + 1;
        const char *end = strstr(body, "<!-- end hubfn help -->");
        CHECK(end != NULL);
        char *want = NULL;
        size_t want_n = 0;
        FILE *mem = open_memstream(&want, &want_n);
        CHECK(hf_app_settings_doc(topic, mem) == 0);
        fclose(mem);
        if (want_n != (size_t)(end - body) || memcmp(want, body, want_n) != 0) {
            snprintf(hf_test_why, sizeof(hf_test_why), "docs/configuration.md: the table of "
                     "`hubfn help %s` is out of date (run tools/docs-tables.sh)", topic);
            hf_test_failed = 1;
            free(want);
            return;
        }
        free(want);
        blocks++;
        p = end;
    }
    CHECK(blocks >= 4);
    for (size_t i = 0; hf_binding_types[i]; i++) {
        if (!hf_binding_types[i]->name)
            continue;
        char marker[128];
        snprintf(marker, sizeof(marker), "<!-- hubfn help %s -->", hf_binding_types[i]->name);
        if (!strstr(doc, marker)) {
            snprintf(hf_test_why, sizeof(hf_test_why), "docs/configuration.md has no table "
                     "for binding type %s (add \"%s\" and run tools/docs-tables.sh)",
                     hf_binding_types[i]->name, marker);
            hf_test_failed = 1;
            return;
        }
    }
}

/* The README's table of settings names host.json keys that exist, with their defaults. */
TEST(readme_settings_match_the_option_table)
{
    FILE *f = fopen("README.md", "r");
    CHECK(f != NULL);
    char line[1024];
    int rows = 0;
    while (fgets(line, sizeof(line), f)) {
        char key[200], def[100];
        if (sscanf(line, "| `%199[^`]` | `%99[^`]` |", key, def) != 2 || strchr(key, ' '))
            continue;
        if (strncmp(key, "extensions.", 11) != 0 && strcmp(key, "functionTimeout") != 0)
            continue;
        const hf_option_t *o = hf_app_host_options();
        while (o->name && strcmp(o->name, key) != 0)
            o++;
        if (!o->name || !o->def) {
            snprintf(hf_test_why, sizeof(hf_test_why), "README.md names host.json key %s, "
                     "which hubfn does not have", key);
            hf_test_failed = 1;
            fclose(f);
            return;
        }
        /* the default as JSON text, without quotes */
        char want[100];
        snprintf(want, sizeof(want), "%s", o->def[0] == '"' ? o->def + 1 : o->def);
        size_t wn = strlen(want);
        if (o->def[0] == '"' && wn)
            want[wn - 1] = 0;
        if (strcmp(want, def) != 0) {
            snprintf(hf_test_why, sizeof(hf_test_why), "README.md: %s defaults to %s, not %s",
                     key, want, def);
            hf_test_failed = 1;
            fclose(f);
            return;
        }
        rows++;
    }
    fclose(f);
    CHECK(rows >= 5);
}

/* The host.json `hubfn new` writes is valid and holds the defaults. */
TEST(template_loads_with_the_defaults)
{
    char dir[] = "/tmp/hf-opt-XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/host.json", dir);
    FILE *f = fopen(path, "w");
    hf_options_template(hf_app_host_options(), f);
    fclose(f);
    hf_app_t app, defaults;
    char err[512];
    hf_app_opts_t o = {0};
    int rc = hf_app_load(&app, dir, &o, err, sizeof(err));
    CHECK_INT(rc, 0);
    memset(&defaults, 0, sizeof(defaults));
    hf_options_defaults(hf_app_host_options(), &defaults.host);
    CHECK(hf_options_equal(hf_app_host_options(), &app.host, &defaults.host));
    for (size_t i = 0; i < app.warnings_n; i++)      /* only "no functions found" */
        CHECK(!strstr(app.warnings[i], "host.json"));
    hf_options_free(hf_app_host_options(), &defaults.host);
    hf_app_free(&app);
    unlink(path);
    rmdir(dir);
}

TEST_MAIN()
