/*
 * The embedded broker of `hubfn start --embedded` (see embedded.c): librdkafka's mock
 * cluster run in-process, reached on a fixed loopback port through a relay on the event
 * loop. The host reaches it as a service in the binding registry; these calls are for tools
 * and tests that want one of their own, and for `hubfn send embedded`.
 *
 * Thread: created, served and destroyed on the loop thread; the mock cluster runs its own.
 */
#ifndef HF_EMBEDDED_H
#define HF_EMBEDDED_H

#include <ev.h>
#include <stddef.h>

#include "app.h"

/* The port the embedded broker listens on unless --embedded-port or HUBFN_EMBEDDED_PORT
   says otherwise: clear of Kafka (9092), Event Hubs (9093) and the test broker (19092-4). */
#define HF_EMBEDDED_DEFAULT_PORT 9192

typedef struct hf_embedded hf_embedded_t;

typedef struct hf_embedded_opts {
    int partitions;              /* partitions of a hub that does not say (>= 1) */
    int port;                    /* the port on 127.0.0.1 (0: any free port) */
    const char *const *hubs;     /* hubs besides the app's: "NAME" or "NAME:PARTITIONS" */
    int hubs_n;
} hf_embedded_opts_t;

/* Start the broker on `loop`: listen on 127.0.0.1:opts->port, create the hubs of
   opts->hubs and every hub the app names, and point every embedded connection at it. A
   client that asks for any other hub is told it does not exist (UNKNOWN_TOPIC_OR_PART), as
   Event Hubs tells it. -1 with one line in err. */
int hf_embedded_start(hf_embedded_t **out, hf_app_t *app, struct ev_loop *loop,
                      const hf_embedded_opts_t *opts, char *err, size_t errsz);
/* "127.0.0.1:PORT": where clients reach it. */
const char *hf_embedded_bootstrap(const hf_embedded_t *emb);
/* Create one more hub (no-op when it exists). */
int hf_embedded_create_hub(hf_embedded_t *emb, const char *hub, int partitions);
void hf_embedded_stop(hf_embedded_t *emb);

/* The port `embedded` means: $HUBFN_EMBEDDED_PORT, else HF_EMBEDDED_DEFAULT_PORT. -1 with
   one line in err when the variable is set but not a port number. */
int hf_embedded_port(int *port, char *err, size_t errsz);
/* Is s a --hub value: an event hub name, optionally followed by ":PARTITIONS" (1-65535)? */
int hf_embedded_valid_hub_arg(const char *s);

#endif
