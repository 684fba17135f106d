#include "eventhub.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "config_json.h"

/* Event hub names as Kafka topics: 1-256 of letters, digits, '.', '-', '_'. */
static int valid_hub_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 256)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_')
            return 0;
    return 1;
}

int hf_eventhub_load(hf_binding_t *b, hf_load_ctx_t *ctx, char *err, size_t errsz)
{
    hf_eventhub_cfg_t *c = hf_eventhub_cfg(b);
    char field[96], desc[80];
    char *entity = NULL;
    snprintf(field, sizeof(field), "%sconnection", ctx->prefix);
    if (c->connection && !*c->connection) {
        free(c->connection);
        c->connection = NULL;
    }
    if (!c->connection && ctx->opts->resolve_connections) {
        snprintf(err, errsz, "%s: missing (name the app setting that holds the Event Hubs "
                 "connection string)", field);
        return -1;
    }
    if (c->connection &&
        ctx->connection(ctx, field, c->connection, ctx->fn->disabled, &c->conn, &entity, err,
                        errsz) < 0)
        return -1;
    snprintf(field, sizeof(field), "%seventHubName", ctx->prefix);
    if (entity) {
        if (c->hub && *c->hub && strcasecmp(c->hub, entity) != 0)
            ctx->warn(ctx, "%s: \"%s\" is overridden by EntityPath \"%s\" in app setting \"%s\"",
                      field, c->hub, entity, c->connection);
        free(c->hub);
        c->hub = entity;
    } else if (!c->hub || !*c->hub) {
        snprintf(err, errsz, "%s: missing eventHubName (name the event hub, or put EntityPath "
                 "in the connection string)", field);
        return -1;
    }
    if (!valid_hub_name(c->hub)) {
        const cJSON tmp = {.type = cJSON_String, .valuestring = c->hub};
        snprintf(err, errsz, "%s: %s is not a valid event hub name (1 to 256 letters, digits, "
                 "'.', '-' or '_')", field, hf_cfgjson_describe(&tmp, desc, sizeof(desc)));
        return -1;
    }
    return 0;
}

void hf_eventhub_unload(hf_binding_t *b)
{
    (void)b;                     /* the connection belongs to the app */
}

const char *hf_eventhub_describe(const hf_binding_t *b, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "hub %s", hf_eventhub_cfg(b)->hub ? hf_eventhub_cfg(b)->hub : "?");
    return buf;
}

void hf_eventhub_lua_fields(lua_State *L, const hf_binding_t *b)
{
    lua_pushstring(L, hf_eventhub_cfg(b)->hub ? hf_eventhub_cfg(b)->hub : "");
    lua_setfield(L, -2, "eventHubName");
}
