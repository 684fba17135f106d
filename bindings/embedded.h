/*
 * The embedded broker of `hubfn start --embedded` (see embedded.c): librdkafka's mock
 * cluster run in-process, a Kafka-protocol broker on loopback. The host reaches it as a
 * service in the binding registry; these calls are for tools and tests that want one of
 * their own.
 *
 * Thread: created and destroyed on one thread; the mock cluster runs its own thread.
 */
#ifndef HF_EMBEDDED_H
#define HF_EMBEDDED_H

#include <stddef.h>

#include "app.h"

typedef struct hf_embedded hf_embedded_t;

/* Start the broker, create every hub of the app with `partitions` partitions, and point
   every embedded connection at it. -1 with one line in err. */
int hf_embedded_start(hf_embedded_t **out, hf_app_t *app, int partitions, char *err,
                      size_t errsz);
const char *hf_embedded_bootstrap(const hf_embedded_t *emb);
/* Create one more hub (no-op when it exists). */
int hf_embedded_create_hub(hf_embedded_t *emb, const char *hub, int partitions);
void hf_embedded_stop(hf_embedded_t *emb);

#endif
