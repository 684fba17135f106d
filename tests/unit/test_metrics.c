/* The metrics registry and its Prometheus text rendering (runtime/metrics.c). */
#include <math.h>
#include <time.h>

#include "metrics.h"
#include "test.h"

static char *render(hf_metrics_t *reg)
{
    size_t len = 0;
    char *text = hf_metrics_render(reg, &len);
    if (text && strlen(text) != len) {
        free(text);
        return NULL;
    }
    return text;
}

TEST(counter_with_labels)
{
    hf_metrics_t *reg = hf_metrics_new();
    hf_metric_def_t def = {"hubfn_things_total", HF_METRIC_COUNTER, "function, partition",
                           NULL, 0, "Things."};
    hf_metric_t *m = hf_metrics_define(reg, &def);
    CHECK(m != NULL);
    hf_series_t *a = hf_metric_series(m, "f1", "0");
    hf_series_t *b = hf_metric_series(m, "f1", "1");
    CHECK(a && b && a != b);
    CHECK(hf_metric_series(m, "f1", "0") == a);   /* found again, not made twice */
    hf_series_add(a, 3);
    hf_series_add(a, 2);
    hf_series_add(b, 1);
    hf_series_add(b, -5);                          /* a counter never goes down */
    CHECK_INT(hf_series_value(a), 5);
    CHECK_INT(hf_series_value(b), 1);
    char *text = render(reg);
    CHECK_STR(text, "# HELP hubfn_things_total Things.\n"
                    "# TYPE hubfn_things_total counter\n"
                    "hubfn_things_total{function=\"f1\",partition=\"0\"} 5\n"
                    "hubfn_things_total{function=\"f1\",partition=\"1\"} 1\n");
    free(text);
    hf_metrics_free(reg);
}

TEST(no_labels_shows_zero)
{
    hf_metrics_t *reg = hf_metrics_new();
    hf_metric_def_t def = {"up_total", HF_METRIC_COUNTER, "", NULL, 0, "Ups."};
    CHECK(hf_metrics_define(reg, &def) != NULL);
    char *text = render(reg);
    CHECK_STR(text, "# HELP up_total Ups.\n# TYPE up_total counter\nup_total 0\n");
    free(text);
    hf_metrics_free(reg);
}

TEST(label_values_and_help_escaped)
{
    hf_metrics_t *reg = hf_metrics_new();
    hf_metric_def_t def = {"x_total", HF_METRIC_COUNTER, "binding", NULL, 0,
                           "A \\ backslash\nand a newline."};
    hf_metric_t *m = hf_metrics_define(reg, &def);
    hf_series_add(hf_metric_series(m, "a\"b\\c\nd"), 1);
    char *text = render(reg);
    CHECK_STR(text, "# HELP x_total A \\\\ backslash\\nand a newline.\n"
                    "# TYPE x_total counter\n"
                    "x_total{binding=\"a\\\"b\\\\c\\nd\"} 1\n");
    free(text);
    hf_metrics_free(reg);
}

TEST(histogram_cumulative_with_inf_sum_count)
{
    static const double b[] = {0.1, 1, 2.5};
    hf_metrics_t *reg = hf_metrics_new();
    hf_metric_def_t def = {"d_seconds", HF_METRIC_HISTOGRAM, "function", b, 3, "Durations."};
    hf_metric_t *m = hf_metrics_define(reg, &def);
    hf_series_t *s = hf_metric_series(m, "f");
    hf_series_observe(s, 0.05);
    hf_series_observe(s, 0.1);     /* on the bound: counted in le="0.1" */
    hf_series_observe(s, 2);
    hf_series_observe(s, 7);       /* above every bound: only +Inf */
    hf_series_observe_n(s, 0.5, 2);
    hf_series_observe(s, NAN);     /* ignored */
    CHECK_INT(hf_series_value(s), 6);
    char *text = render(reg);
    CHECK_STR(text, "# HELP d_seconds Durations.\n"
                    "# TYPE d_seconds histogram\n"
                    "d_seconds_bucket{function=\"f\",le=\"0.1\"} 2\n"
                    "d_seconds_bucket{function=\"f\",le=\"1\"} 4\n"
                    "d_seconds_bucket{function=\"f\",le=\"2.5\"} 5\n"
                    "d_seconds_bucket{function=\"f\",le=\"+Inf\"} 6\n"
                    "d_seconds_sum{function=\"f\"} 10.15\n"
                    "d_seconds_count{function=\"f\"} 6\n");
    free(text);
    hf_metrics_free(reg);
}

TEST(histogram_without_labels)
{
    static const double b[] = {1};
    hf_metrics_t *reg = hf_metrics_new();
    hf_metric_def_t def = {"h", HF_METRIC_HISTOGRAM, NULL, b, 1, "H."};
    hf_metric_t *m = hf_metrics_define(reg, &def);
    hf_series_observe(hf_metric_series(m), 3);
    char *text = render(reg);
    CHECK_STR(text, "# HELP h H.\n# TYPE h histogram\n"
                    "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n");
    free(text);
    hf_metrics_free(reg);
}

TEST(gauge_set_and_hide)
{
    hf_metrics_t *reg = hf_metrics_new();
    hf_metric_def_t def = {"lag", HF_METRIC_GAUGE, "partition", NULL, 0, "Lag."};
    hf_metric_t *m = hf_metrics_define(reg, &def);
    hf_series_t *p0 = hf_metric_series(m, "0"), *p1 = hf_metric_series(m, "1");
    hf_series_set(p0, 12);
    hf_series_set(p1, -1.5);
    hf_series_add(p0, 1);
    hf_series_hide(p1);
    char *text = render(reg);
    CHECK_STR(text, "# HELP lag Lag.\n# TYPE lag gauge\nlag{partition=\"0\"} 13\n");
    free(text);
    hf_series_set(p1, 0.25);
    text = render(reg);
    CHECK_HAS(text, "lag{partition=\"1\"} 0.25\n");
    free(text);
    hf_metrics_free(reg);
}

static int collected;
static void collect(void *ud)
{
    collected++;
    hf_series_set(ud, 42);
}

TEST(collect_hook_runs_before_render)
{
    hf_metrics_t *reg = hf_metrics_new();
    hf_metric_def_t def = {"g", HF_METRIC_GAUGE, "", NULL, 0, "G."};
    hf_series_t *s = hf_metric_series(hf_metrics_define(reg, &def));
    hf_metrics_on_collect(reg, collect, s);
    collected = 0;
    char *text = render(reg);
    CHECK_INT(collected, 1);
    CHECK_HAS(text, "\ng 42\n");
    free(text);
    hf_metrics_free(reg);
}

TEST(invalid_definitions_refused)
{
    static const double down[] = {2, 1};
    hf_metrics_t *reg = hf_metrics_new();
    hf_metric_def_t ok = {"a_total", HF_METRIC_COUNTER, "x", NULL, 0, ""};
    hf_metric_def_t dup = ok;
    hf_metric_def_t bad_name = {"9lives", HF_METRIC_COUNTER, "", NULL, 0, ""};
    hf_metric_def_t bad_label = {"b", HF_METRIC_COUNTER, "ok,not-ok", NULL, 0, ""};
    hf_metric_def_t reserved = {"c", HF_METRIC_COUNTER, "__x", NULL, 0, ""};
    hf_metric_def_t le = {"d", HF_METRIC_HISTOGRAM, "le", down, 1, ""};
    hf_metric_def_t no_buckets = {"e", HF_METRIC_HISTOGRAM, "", NULL, 0, ""};
    hf_metric_def_t unsorted = {"f", HF_METRIC_HISTOGRAM, "", down, 2, ""};
    CHECK(hf_metrics_define(reg, &ok) != NULL);
    CHECK(hf_metrics_define(reg, &dup) == NULL);
    CHECK(hf_metrics_define(reg, &bad_name) == NULL);
    CHECK(hf_metrics_define(reg, &bad_label) == NULL);
    CHECK(hf_metrics_define(reg, &reserved) == NULL);
    CHECK(hf_metrics_define(reg, &le) == NULL);
    CHECK(hf_metrics_define(reg, &no_buckets) == NULL);
    CHECK(hf_metrics_define(reg, &unsorted) == NULL);
    CHECK(hf_metrics_find(reg, "a_total") != NULL);
    CHECK(hf_metrics_find(reg, "b") == NULL);
    hf_metrics_free(reg);
}

TEST(null_is_a_no_op)
{
    hf_series_t *s = hf_metric_series(hf_metrics_get(NULL, HF_M_EVENTS_RECEIVED), "f", "0");
    CHECK(s == NULL);
    hf_series_add(s, 1);
    hf_series_set(s, 1);
    hf_series_observe(s, 1);
    hf_series_hide(s);
    CHECK(hf_metrics_render(NULL, NULL) == NULL);
    hf_metrics_free(NULL);
}

TEST(values_formatted_for_prometheus)
{
    hf_metrics_t *reg = hf_metrics_new();
    hf_metric_def_t def = {"v", HF_METRIC_GAUGE, "k", NULL, 0, ""};
    hf_metric_t *m = hf_metrics_define(reg, &def);
    hf_series_set(hf_metric_series(m, "big"), 12345678901.0);
    hf_series_set(hf_metric_series(m, "frac"), 0.1);
    hf_series_set(hf_metric_series(m, "inf"), INFINITY);
    hf_series_set(hf_metric_series(m, "nan"), NAN);
    char *text = render(reg);
    CHECK_HAS(text, "v{k=\"big\"} 12345678901\n");
    CHECK_HAS(text, "v{k=\"frac\"} 0.1\n");
    CHECK_HAS(text, "v{k=\"inf\"} +Inf\n");
    CHECK_HAS(text, "v{k=\"nan\"} NaN\n");
    free(text);
    hf_metrics_free(reg);
}

/* Every family hubfn exports is valid, and docs/operations.md describes it. */
TEST(host_families_defined_and_documented)
{
    hf_metrics_t *reg = hf_metrics_new_host();
    CHECK(reg != NULL);
    const hf_metric_def_t *defs = hf_metrics_host_defs();
    FILE *f = fopen("docs/operations.md", "r");
    CHECK(f != NULL);
    static char doc[65536];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = 0;
    for (int i = 0; i < HF_M__COUNT; i++) {
        CHECK(hf_metrics_get(reg, (hf_metric_id_t)i) == hf_metrics_find(reg, defs[i].name));
        CHECK(strncmp(defs[i].name, "hubfn_", 6) == 0 ||
              strncmp(defs[i].name, "process_", 8) == 0);
        char want[128];
        snprintf(want, sizeof(want), "`%s`", defs[i].name);
        CHECK_HAS(doc, want);
    }
    hf_series_add(hf_metric_series(hf_metrics_get(reg, HF_M_EVENTS_RECEIVED), "f", "3"), 7);
    char *text = render(reg);
    CHECK_HAS(text, "hubfn_events_received_total{function=\"f\",partition=\"3\"} 7\n");
    CHECK_HAS(text, "# TYPE hubfn_invocation_duration_seconds histogram\n");
    free(text);
    hf_metrics_free(reg);
}

/* The duration buckets reach functionTimeout; process_* come from /proc. */
TEST(duration_buckets_and_process)
{
    hf_metrics_t *reg = hf_metrics_new_host();
    char *text;
    hf_series_observe(hf_metric_series(hf_metrics_get(reg, HF_M_INVOCATION_DURATION), "d"), 200);
    text = render(reg);
    /* the default reaches the default timeout of 5 minutes */
    CHECK_HAS(text, "hubfn_invocation_duration_seconds_bucket{function=\"d\",le=\"120\"} 0\n"
                    "hubfn_invocation_duration_seconds_bucket{function=\"d\",le=\"300\"} 1\n");
    free(text);
    /* too late once a series exists */
    CHECK_INT(hf_metrics_set_function_timeout(reg, 420), -1);
    hf_metrics_free(reg);

    reg = hf_metrics_new_host();
    CHECK_INT(hf_metrics_set_function_timeout(reg, 420), 0);
    hf_series_observe(hf_metric_series(hf_metrics_get(reg, HF_M_INVOCATION_DURATION), "d"), 419);
    text = render(reg);
    CHECK_HAS(text, "le=\"60\"} 0\nhubfn_invocation_duration_seconds_bucket{function=\"d\",le="
                    "\"120\"} 0\nhubfn_invocation_duration_seconds_bucket{function=\"d\",le=\"300\"}"
                    " 0\nhubfn_invocation_duration_seconds_bucket{function=\"d\",le=\"420\"} 1\n"
                    "hubfn_invocation_duration_seconds_bucket{function=\"d\",le=\"+Inf\"} 1\n");
    free(text);
    hf_metrics_free(reg);

    reg = hf_metrics_new_host();
    CHECK_INT(hf_metrics_set_function_timeout(reg, 10), 0);   /* short: the 60 s scale stays */
    hf_series_observe(hf_metric_series(hf_metrics_get(reg, HF_M_INVOCATION_DURATION), "d"), 1);
    text = render(reg);
    CHECK_HAS(text, "le=\"60\"} 1\nhubfn_invocation_duration_seconds_bucket{function=\"d\",le="
                    "\"+Inf\"} 1\n");
    free(text);
    hf_metrics_free(reg);

    reg = hf_metrics_new_host();
    CHECK_INT(hf_metrics_set_function_timeout(reg, -1), 0);   /* none: up to an hour */
    hf_series_observe(hf_metric_series(hf_metrics_get(reg, HF_M_INVOCATION_DURATION), "d"), 1);
    text = render(reg);
    CHECK_HAS(text, "le=\"1800\"} 1\nhubfn_invocation_duration_seconds_bucket{function=\"d\",le="
                    "\"3600\"} 1\nhubfn_invocation_duration_seconds_bucket{function=\"d\",le="
                    "\"+Inf\"} 1\n");
    free(text);

    hf_metrics_collect_process(reg);
    const double rss = hf_series_value(hf_metric_series(hf_metrics_get(reg, HF_M_PROCESS_RSS)));
    const double fds = hf_series_value(hf_metric_series(hf_metrics_get(reg, HF_M_PROCESS_FDS)));
    const double start =
        hf_series_value(hf_metric_series(hf_metrics_get(reg, HF_M_PROCESS_START)));
    CHECK(rss > 100000 && rss < 4e9);
    CHECK(fds >= 3 && fds < 1000);
    double now = (double)time(NULL);
    CHECK(start > now - 3600 && start <= now + 1);
    FILE *extra = fopen("/dev/null", "r");
    hf_metrics_collect_process(reg);
    CHECK(hf_series_value(hf_metric_series(hf_metrics_get(reg, HF_M_PROCESS_FDS))) == fds + 1);
    fclose(extra);
    text = render(reg);
    CHECK_HAS(text, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ");
    CHECK_HAS(text, "process_max_fds ");
    free(text);
    hf_metrics_free(reg);
}

TEST_MAIN()
