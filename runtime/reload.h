/*
 * Hot reload for `hubfn start`: saving a function's script or function.json reloads that
 * function between batches in every worker, with no restart and no event lost or run
 * twice; saving a module of APP/lib reloads the functions that required it. A script or
 * module that does not compile is reported with file:line and the running version keeps
 * serving. Changes to bindings (hubs, connections, consumer group, cardinality, dataType),
 * scriptFile and host.json need a restart, and hubfn says so.
 *
 * Thread: loop thread.
 */
#ifndef HF_RELOAD_H
#define HF_RELOAD_H

#include <ev.h>

#include "app.h"
#include "worker.h"

typedef struct hf_reload hf_reload_t;

/* Watch every enabled function's files of app (whose entryPoint a reload may change) on
   loop; reloads go to the workers. `embedded`: the app was loaded for --embedded. */
hf_reload_t *hf_reload_start(hf_app_t *app, struct ev_loop *loop, hf_workers_t *workers,
                             int embedded);
void hf_reload_stop(hf_reload_t *reload);

#endif
