/*
 * The binding types hubfn knows, one line each, in the order the host starts them (a
 * service that sets connections up comes before the types that use them). Adding a type:
 * one file under bindings/ and one line here (bindings/README.md).
 */
#include <stdio.h>
#include <strings.h>

#include "binding.h"

extern const hf_binding_type_t hf_embedded_service;
extern const hf_binding_type_t hf_eventhub_trigger_type;
extern const hf_binding_type_t hf_eventhub_output_type;
extern const hf_binding_type_t hf_eventhub_state_type;
extern const hf_binding_type_t hf_http_output_type;

const hf_binding_type_t *const hf_binding_types[] = {
    &hf_embedded_service,        /* --embedded: the in-process broker, before the hubs' users */
    &hf_eventhub_trigger_type,   /* eventHubTrigger */
    &hf_eventhub_output_type,    /* eventHub */
    &hf_eventhub_state_type,     /* eventHubState */
    &hf_http_output_type,        /* http */
    NULL
};

const hf_binding_type_t *hf_binding_type_find(const char *name)
{
    for (size_t i = 0; hf_binding_types[i]; i++)
        if (hf_binding_types[i]->name && strcasecmp(hf_binding_types[i]->name, name) == 0)
            return hf_binding_types[i];
    return NULL;
}

const char *hf_binding_types_list(char *buf, size_t bufsz)
{
    static const char *const dirs[] = {"in", "out", "inout"};
    size_t n = 0, count = 0, k = 0;
    for (size_t i = 0; hf_binding_types[i]; i++)
        count += hf_binding_types[i]->name != NULL;
    buf[0] = 0;
    for (size_t i = 0; hf_binding_types[i]; i++) {
        const hf_binding_type_t *t = hf_binding_types[i];
        if (!t->name)
            continue;
        k++;
        n += (size_t)snprintf(buf + n, n < bufsz ? bufsz - n : 0, "%s%s (direction %s)",
                              k == 1 ? "" : k == count ? " and " : ", ", t->name,
                              dirs[t->direction]);
    }
    return buf;
}
