/*
 * libFuzzer target for configuration input: arbitrary bytes as a connection value and as
 * host.json / function.json / local.settings.json contents (through hf_app_load_mem, no
 * file I/O), plus durations, times and masking. Checks that nothing crashes (ASan, UBSan)
 * and that no error line or description holds a registered secret: masking an error line
 * again must not change it.
 *
 *   tests/fuzz/run.sh SECONDS config   (builds it with clang-14 and the whole library)
 *   build/fuzz_config -max_total_time=300 CORPUS_DIR
 *
 * Input layout: parts separated by the line "\n~~\n":
 *   [0] a connection value   [1] host.json   [2] function.json   [3] local.settings.json
 *   [4] flags: first byte bit 0 = resolve connections, bit 1 = embedded
 * Missing parts get a valid default, so each part can be explored on its own.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "conn.h"
#include "eventhub.h"

#define SEP "\n~~\n"
#define NPARTS 5

/* Fail loudly: libFuzzer records the input. */
static void leak(const char *what, const char *line)
{
    fprintf(stderr, "secret left in %s: %s\n", what, line);
    abort();
}

/* A line holding a registered secret changes when masked again. Inputs with '*' are not
   checked: "***" plus neighbouring text could spell another secret by accident. */
static void check_masked(const char *what, const char *line, int has_star)
{
    char again[4096];
    if (has_star || !line)
        return;
    hf_secret_mask(line, again, sizeof(again));
    if (strlen(line) < sizeof(again) - 1 && strcmp(again, line) != 0)
        leak(what, line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *defaults[NPARTS] = {
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;"
        "SharedAccessKey=ZnV6ei1rZXktZGVmYXVsdA==",
        "{\"version\":\"2.0\"}",
        "{\"bindings\":[{\"type\":\"eventHubTrigger\",\"name\":\"e\",\"eventHubName\":\"%HUB%\","
        "\"connection\":\"Conn\"},{\"type\":\"eventHub\",\"name\":\"o\",\"connection\":\"Conn\"}]}",
        "{\"Values\":{\"HUB\":\"in\",\"Conn\":\"localhost:9092\"}}",
        "\x01",
    };
    const char *part[NPARTS];
    size_t plen[NPARTS];
    char *buf = malloc(size + 1), err[1024], desc[512], small[16];
    const char *p, *end;
    int has_star, flags;
    size_t n = 0;
    hf_conn_t conn;
    hf_app_t app;
    long long ms;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    has_star = memchr(data, '*', size) != NULL;
    hf_secret_reset();

    /* split (memmem: parts may hold NUL bytes, which the JSON reader must survive) */
    p = buf;
    end = buf + size;
    while (n < NPARTS) {
        const char *s = memmem(p, (size_t)(end - p), SEP, strlen(SEP));
        part[n] = p;
        plen[n] = s ? (size_t)(s - p) : (size_t)(end - p);
        n++;
        if (!s)
            break;
        p = s + strlen(SEP);
    }
    for (size_t i = n; i < NPARTS; i++) {
        part[i] = defaults[i];
        plen[i] = strlen(defaults[i]);
    }

    /* connection value (NUL-terminated copy of part 0) */
    {
        char *v = strndup(part[0], plen[0]);
        if (v) {
            if (hf_conn_parse(&conn, "Fuzz", v, err, sizeof(err)) == 0) {
                hf_conn_describe(&conn, desc, sizeof(desc));
                check_masked("hf_conn_describe", desc, has_star);
                hf_conn_free(&conn);
            } else {
                check_masked("hf_conn_parse error", err, has_star);
            }
            hf_duration_parse(v, &ms);
            hf_time_parse(v, &ms);
            hf_secret_mask(v, small, sizeof(small));
            hf_secret_mask(v, desc, sizeof(desc));
            free(v);
        }
    }

    /* the app */
    flags = plen[4] ? (unsigned char)part[4][0] : 0;
    {
        hf_app_file_t files[] = {
            { "host.json", part[1], plen[1] },
            { "f/function.json", part[2], plen[2] },
            { "f/handler.lua", "", 0 },
            { "local.settings.json", part[3], plen[3] },
        };
        hf_app_opts_t opts = { .resolve_connections = flags & 1, .embedded = (flags >> 1) & 1 };
        if (hf_app_load_mem(&app, "/fuzz", files, 4, &opts, err, sizeof(err)) == 0) {
            for (size_t i = 0; i < app.warnings_n; i++)
                check_masked("a warning", app.warnings[i], has_star);
            for (size_t i = 0; i < app.conns_n; i++) {
                hf_conn_describe(app.conns[i], desc, sizeof(desc));
                check_masked("hf_conn_describe", desc, has_star);
            }
            for (size_t i = 0; i < app.functions_n; i++) {
                const hf_binding_t *t = &app.functions[i].trigger;
                if (t->type && t->type->family == HF_FAMILY_EVENTHUB)
                    (void)hf_app_setting(&app, hf_eventhub_cfg(t)->connection);
            }
            (void)hf_app_log_level(&app, "Function.f.User");
            hf_app_free(&app);
        } else {
            check_masked("hf_app_load error", err, has_star);
        }
    }
    free(buf);
    return 0;
}
