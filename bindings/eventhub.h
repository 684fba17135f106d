/*
 * What the Event Hubs binding types share (eventHubTrigger, eventHub, and any type of the
 * HF_FAMILY_EVENTHUB family): the options that name a hub and the connection that reaches
 * it, their checks at load time (the connection resolved, EntityPath applied, the hub name
 * valid), and how they are shown in messages and Lua.
 */
#ifndef HF_EVENTHUB_H
#define HF_EVENTHUB_H

#include "binding.h"

/* The start of b->cfg of every HF_FAMILY_EVENTHUB type. */
typedef struct hf_eventhub_cfg {
    char *hub;                   /* eventHubName (v1: path), %SETTING% resolved; EntityPath wins */
    char *connection;            /* the app setting named by "connection" */
    char *consumer_group;        /* triggers: consumerGroup */
    hf_conn_t *conn;             /* the resolved connection (owned by the app), or NULL when
                                    connections are not resolved (hubfn run) or a disabled
                                    function's setting is missing */
} hf_eventhub_cfg_t;

static inline hf_eventhub_cfg_t *hf_eventhub_cfg(const hf_binding_t *b)
{
    return (hf_eventhub_cfg_t *)b->cfg;
}

/* The option rows every Event Hubs binding has. */
#define HF_EVENTHUB_OPTIONS                                                                 \
    {"eventHubName", HF_OPT_STRING, offsetof(hf_eventhub_cfg_t, hub), .aliases = "path",    \
     .help = "the hub (%SETTING% expressions resolved); EntityPath in the connection wins"},   \
    {"connection", HF_OPT_STRING, offsetof(hf_eventhub_cfg_t, connection),                  \
     .help = "the app setting holding the connection string (or host:port, or embedded)"}

extern const hf_binding_type_t hf_eventhub_trigger_type;
extern const hf_binding_type_t hf_eventhub_output_type;

/* load: resolve the connection, apply EntityPath, check the hub name. */
int hf_eventhub_load(hf_binding_t *b, hf_load_ctx_t *ctx, char *err, size_t errsz);
/* unload */
void hf_eventhub_unload(hf_binding_t *b);
/* describe: "hub NAME" */
const char *hf_eventhub_describe(const hf_binding_t *b, char *buf, size_t bufsz);
/* lua_fields: eventHubName */
void hf_eventhub_lua_fields(lua_State *L, const hf_binding_t *b);

#endif
