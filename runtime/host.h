/*
 * The host of `hubfn start`: one libev loop on the main thread that owns the binding types'
 * clients (through bindings/binding.h), timers and signals; Lua workers; the batch pipeline
 * between them. runtime/core.h is what binding types see of it; docs/architecture.md
 * describes the whole path of an event.
 */
#ifndef HF_HOST_H
#define HF_HOST_H

typedef struct hf_host_opts {
    const char *app_dir;
    int embedded;
    int exit_on_eof;
    int workers;                 /* 0 = number of cores */
    int partitions;              /* embedded: partitions per hub */
    int embedded_port;           /* embedded: the port on 127.0.0.1 (0: any free port) */
    const char *const *embedded_hubs;  /* embedded: more hubs, "NAME[:PARTITIONS]" */
    int embedded_hubs_n;
    int http_port;               /* -1 = off; 0 = any free port */
    const char *http_address;    /* NULL = 0.0.0.0 */
    double drain_timeout_s;      /* grace period for SIGTERM drain */
} hf_host_opts_t;

/* Run `hubfn start`; returns the process exit code. */
int hf_host_main(const hf_host_opts_t *opts);

#endif
