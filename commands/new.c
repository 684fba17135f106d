#include "new.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "app.h"
#include "cmdline.h"

/*
 * Templates. "{{NAME}}" stands for the function name everywhere. Each template must run as
 * written under `hubfn run` and `hubfn start --embedded`: tests/integration/120_new.sh
 * creates and runs every one of them.
 */

static const char passthrough_function_json[] =
    "{\n"
    "  \"scriptFile\": \"handler.lua\",\n"
    "  \"bindings\": [\n"
    "    { \"type\": \"eventHubTrigger\", \"direction\": \"in\", \"name\": \"events\",\n"
    "      \"eventHubName\": \"{{NAME}}-in\", \"connection\": \"HubConnection\",\n"
    "      \"consumerGroup\": \"{{NAME}}\", \"cardinality\": \"many\",\n"
    "      \"dataType\": \"string\" },\n"
    "    { \"type\": \"eventHub\", \"direction\": \"out\", \"name\": \"out\",\n"
    "      \"eventHubName\": \"{{NAME}}-out\", \"connection\": \"HubConnection\" }\n"
    "  ]\n"
    "}\n";

static const char passthrough_handler_lua[] =
    "-- {{NAME}}: every event of hub {{NAME}}-in, unchanged, to hub {{NAME}}-out.\n"
    "--\n"
    "-- dataType \"string\" in function.json hands each body over as its raw text, and a string\n"
    "-- is sent as it is, so the bytes go through untouched whatever they hold. The partition\n"
    "-- key and the properties go along, so the order per key holds on the output hub too.\n"
    "-- To work on JSON instead, remove dataType: ev.body is then the decoded value.\n"
    "\n"
    "return function(events, context)\n"
    "  for _, ev in ipairs(events) do\n"
    "    context.bindings.out:send(ev.body, { partitionKey = ev.partitionKey,\n"
    "                                         properties = ev.properties })\n"
    "  end\n"
    "  context.log((\"%d events -> {{NAME}}-out\"):format(#events))\n"
    "end\n";

static const char aep_function_json[] =
    "{\n"
    "  \"scriptFile\": \"handler.lua\",\n"
    "  \"bindings\": [\n"
    "    { \"type\": \"eventHubTrigger\", \"direction\": \"in\", \"name\": \"events\",\n"
    "      \"eventHubName\": \"aep-activations\", \"connection\": \"HubConnection\",\n"
    "      \"consumerGroup\": \"{{NAME}}\", \"cardinality\": \"many\" },\n"
    "    { \"type\": \"eventHub\", \"direction\": \"out\", \"name\": \"crm\",\n"
    "      \"eventHubName\": \"crm-updates\", \"connection\": \"HubConnection\" }\n"
    "  ]\n"
    "}\n";

static const char aep_handler_lua[] =
    "-- {{NAME}}: Adobe Experience Platform audience activations -> hub crm-updates.\n"
    "--\n"
    "-- AEP sends a profile whenever one of its mapped audiences changes status, and the payload\n"
    "-- lists every audience the profile holds: `realized` means it entered the audience,\n"
    "-- `exited` that it left, `existing` that nothing changed. So only the first two become\n"
    "-- messages. ev.activation is hubfn's view of the payload (docs/lua-api.md).\n"
    "\n"
    "-- The partition key is the profile's best identity: the CRM's own id, then the email, then\n"
    "-- the ECID every visitor has. One profile's updates then stay in order in one partition.\n"
    "local KEY_ORDER = { \"crmid\", \"email\", \"ecid\" }\n"
    "\n"
    "local CHANGES = { realized = \"entered\", exited = \"left\" }\n"
    "\n"
    "local function profile_key(identities)\n"
    "  for _, ns in ipairs(KEY_ORDER) do\n"
    "    local ids = identities[ns]\n"
    "    if ids and ids[1] then return ns, ids[1] end\n"
    "  end\n"
    "  return nil, nil\n"
    "end\n"
    "\n"
    "return function(events, context)\n"
    "  for _, ev in ipairs(events) do\n"
    "    local a = ev.activation\n"
    "    local ns, id\n"
    "    if a then ns, id = profile_key(a.identities) end\n"
    "    if not id then\n"
    "      context.log.warn((\"offset %d: no AEP profile with a crmid, email or ecid, skipped\")\n"
    "                       :format(ev.offset))\n"
    "    else\n"
    "      for _, segment in ipairs(a.segments) do\n"
    "        local change = CHANGES[segment.status]\n"
    "        if change then\n"
    "          context.bindings.crm:send({\n"
    "            profile = { namespace = ns, id = id },\n"
    "            audience = { id = segment.id, name = segment.name },\n"
    "            change = change,\n"
    "            qualifiedAt = segment.lastQualificationTime,\n"
    "          }, { partitionKey = id })\n"
    "          context.log((\"%s:%s %s audience %s\")\n"
    "                      :format(ns, id, change, segment.name or segment.id))\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n";

static const char rudderstack_function_json[] =
    "{\n"
    "  \"scriptFile\": \"handler.lua\",\n"
    "  \"bindings\": [\n"
    "    { \"type\": \"eventHubTrigger\", \"direction\": \"in\", \"name\": \"events\",\n"
    "      \"eventHubName\": \"rudderstack-events\", \"connection\": \"HubConnection\",\n"
    "      \"consumerGroup\": \"{{NAME}}\", \"cardinality\": \"many\" },\n"
    "    { \"type\": \"eventHub\", \"direction\": \"out\", \"name\": \"out\",\n"
    "      \"eventHubName\": \"{{NAME}}-out\", \"connection\": \"HubConnection\" }\n"
    "  ]\n"
    "}\n";

static const char rudderstack_handler_lua[] =
    "-- {{NAME}}: RudderStack events -> hub {{NAME}}-out.\n"
    "--\n"
    "-- RudderStack's Event Hubs destination writes each event's whole message, keyed by\n"
    "-- userId, else anonymousId; sending on with the same key keeps one user's events in\n"
    "-- order. The type goes along as a property, so consumers can filter without parsing.\n"
    "-- To route by type, add an eventHub output per hub to function.json and choose the\n"
    "-- binding here, e.g.\n"
    "--   context.bindings[msg.type == \"track\" and \"tracks\" or \"out\"]:send(...)\n"
    "\n"
    "-- userId || anonymousId as RudderStack computes it: an empty string does not count, and\n"
    "-- JSON null arrives as hubfn.null (truthy in Lua), hence the type tests.\n"
    "local function usable(id)\n"
    "  if type(id) == \"string\" and id ~= \"\" then return id end\n"
    "  if math.type(id) == \"integer\" then return tostring(id) end\n"
    "  return nil\n"
    "end\n"
    "\n"
    "return function(events, context)\n"
    "  for _, ev in ipairs(events) do\n"
    "    local msg = ev.body\n"
    "    if type(msg) == \"table\" and type(msg.type) == \"string\" then\n"
    "      local key = usable(msg.userId) or usable(msg.anonymousId)\n"
    "      context.bindings.out:send(msg, { partitionKey = key,\n"
    "                                       properties = { type = msg.type } })\n"
    "      local what = msg.type\n"
    "      if type(msg.event) == \"string\" then\n"
    "        what = ('%s \"%s\"'):format(msg.type, msg.event)\n"
    "      end\n"
    "      context.log((\"%s from %s\"):format(what, key or \"(no userId or anonymousId)\"))\n"
    "    else\n"
    "      context.log.warn((\"offset %d: not a RudderStack event (%s), skipped\")\n"
    "                       :format(ev.offset, ev.decodeError or \"no type\"))\n"
    "    end\n"
    "  end\n"
    "end\n";

static const char local_settings_json[] =
    "{\n"
    "  \"IsEncrypted\": false,\n"
    "  \"Values\": {\n"
    "    \"HubConnection\": \"embedded\"\n"
    "  }\n"
    "}\n";

typedef struct hf_new_template {
    const char *name;
    const char *function_json;
    const char *handler_lua;
    const char *route;           /* "hub A -> hub B", with {{NAME}} */
    const char *sample;          /* one event body for the "try it" line */
} hf_new_template_t;

static const hf_new_template_t templates[] = {
    {"passthrough", passthrough_function_json, passthrough_handler_lua,
     "hub {{NAME}}-in -> hub {{NAME}}-out", "{\"hello\":\"world\"}"},
    {"aep-activation", aep_function_json, aep_handler_lua,
     "hub aep-activations -> hub crm-updates",
     "{\"segmentMembership\":{\"ups\":{\"5b998cb9-9488-4ec3-8d95-fa8338ced490\":"
     "{\"status\":\"realized\",\"lastQualificationTime\":\"2024-05-02T08:15:00Z\"}}},"
     "\"identityMap\":{\"email\":[{\"id\":\"ana@example.com\"}]}}"},
    {"rudderstack", rudderstack_function_json, rudderstack_handler_lua,
     "hub rudderstack-events -> hub {{NAME}}-out",
     "{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"user-1001\"}"},
};
#define TEMPLATES_N (sizeof(templates) / sizeof(templates[0]))

/* Files and folders written so far, removed again if a later step fails. */
typedef struct hf_new_undo {
    const char *paths[6];
    int is_dir[6];
    int n;
} hf_new_undo_t;

/* One line on stderr, "hubfn new: ..."; returns the exit code 2. */
static __attribute__((format(printf, 1, 2))) int problem(const char *fmt, ...)
{
    va_list ap;
    fputs("hubfn new: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

/* Does path exist (following links)? Fills *st when st is not NULL. */
static int exists(const char *path, struct stat *st)
{
    struct stat tmp;
    return stat(path, st ? st : &tmp) == 0;
}

/* An existing function whose name equals `name` ignoring case (Azure compares names so). */
static const char *same_name_function(const char *name, char *found, size_t foundsz)
{
    DIR *d = opendir(".");
    struct dirent *de;
    char path[300];
    if (!d)
        return NULL;
    while ((de = readdir(d))) {
        if (strcasecmp(de->d_name, name) != 0 || strcmp(de->d_name, name) == 0)
            continue;
        snprintf(path, sizeof(path), "%s/function.json", de->d_name);
        if (exists(path, NULL)) {
            snprintf(found, foundsz, "%s", de->d_name);
            closedir(d);
            return found;
        }
    }
    closedir(d);
    return NULL;
}

/* Write text to a new file (never over an existing one), with {{NAME}} replaced. */
static int write_new(const char *path, const char *text, const char *name)
{
    FILE *f = fopen(path, "wx");
    if (!f)
        return -1;
    const char *p = text, *hit;
    while ((hit = strstr(p, "{{NAME}}"))) {
        fwrite(p, 1, (size_t)(hit - p), f);
        fputs(name, f);
        p = hit + 8;
    }
    fputs(p, f);
    if (fclose(f) != 0) {
        int e = errno;
        unlink(path);
        errno = e;
        return -1;
    }
    return 0;
}

/* Print text with {{NAME}} replaced. */
static void put_named(const char *text, const char *name)
{
    const char *p = text, *hit;
    while ((hit = strstr(p, "{{NAME}}"))) {
        fwrite(p, 1, (size_t)(hit - p), stdout);
        fputs(name, stdout);
        p = hit + 8;
    }
    fputs(p, stdout);
}

/* Remember a file or folder this run created. */
static void undo_add(hf_new_undo_t *u, const char *path, int is_dir)
{
    if (u->n < 6) {
        u->paths[u->n] = path;
        u->is_dir[u->n] = is_dir;
        u->n++;
    }
}

/* Remove what this run created, newest first (a folder is empty by then). */
static void undo_all(hf_new_undo_t *u)
{
    while (u->n > 0) {
        u->n--;
        if (u->is_dir[u->n])
            rmdir(u->paths[u->n]);
        else
            unlink(u->paths[u->n]);
    }
}

/* Write a function from a template; see new.h. */
int hf_new_main(const char *name, const char *tname)
{
    const hf_new_template_t *t = NULL;
    for (size_t i = 0; i < TEMPLATES_N; i++)
        if (strcmp(templates[i].name, tname) == 0)
            t = &templates[i];
    if (!t)
        return hf_cmdline_usage_error("new", "unknown template \"%s\" (use aep-activation, "
                                      "rudderstack or passthrough)", tname);
    for (const char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return hf_cmdline_usage_error("new", "NAME holds control characters; a function "
                                          "name is a letter, then letters, digits, '-' or "
                                          "'_'");
    if (!hf_app_valid_function_name(name))
        return hf_cmdline_usage_error("new", "\"%s\" is not a valid function name (a letter, "
                                      "then letters, digits, '-' or '_', at most 128)", name);
    if (strcmp(name, "lib") == 0)
        return hf_cmdline_usage_error("new", "\"lib\" is the app's folder of shared Lua "
                                      "modules, not a function");

    /* Refuse anything in the way before writing a byte. */
    char fj[200], lua[200], other[200];
    struct stat st;
    snprintf(fj, sizeof(fj), "%s/function.json", name);
    snprintf(lua, sizeof(lua), "%s/handler.lua", name);
    if (exists("function.json", NULL))
        return problem("this folder holds a function.json, so it is a function folder: run "
                       "hubfn new in the app folder (its parent)");
    if (exists(name, &st) && !S_ISDIR(st.st_mode))
        return problem("%s exists and is not a folder", name);
    if (exists(fj, NULL))
        return problem("%s already exists: hubfn new never overwrites a function", fj);
    if (exists(lua, NULL))
        return problem("%s already exists: hubfn new never overwrites a function", lua);
    if (same_name_function(name, other, sizeof(other)))
        return problem("function %s already exists (function names ignore case)", other);

    hf_new_undo_t undo = {0};
    int new_app = !exists("host.json", NULL);
    int new_settings = new_app && !exists("local.settings.json", NULL);
    const char *failed = NULL;
    if (new_app) {
        char *host_json = NULL;
        size_t host_json_len = 0;
        FILE *mem = open_memstream(&host_json, &host_json_len);
        if (!mem)
            hf_oom_at(0, __FILE__, __LINE__);
        hf_options_template(hf_app_host_options(), mem);
        /* a memory stream fails only for want of memory */
        if (ferror(mem) || fclose(mem) != 0)
            hf_oom_at(host_json_len, __FILE__, __LINE__);
        int bad = write_new("host.json", host_json, name) != 0;
        free(host_json);
        if (bad)
            failed = "host.json";
        else
            undo_add(&undo, "host.json", 0);
    }
    if (!failed && new_settings) {
        if (write_new("local.settings.json", local_settings_json, name) != 0)
            failed = "local.settings.json";
        else
            undo_add(&undo, "local.settings.json", 0);
    }
    if (!failed && !exists(name, NULL)) {
        if (mkdir(name, 0777) != 0)
            failed = name;
        else
            undo_add(&undo, name, 1);
    }
    if (!failed) {
        if (write_new(fj, t->function_json, name) != 0)
            failed = fj;
        else
            undo_add(&undo, fj, 0);
    }
    if (!failed && write_new(lua, t->handler_lua, name) != 0)
        failed = lua;
    if (failed) {
        int e = errno;
        undo_all(&undo);
        return problem("cannot create %s: %s", failed, strerror(e));
    }

    if (new_app)
        printf("created host.json\n");
    if (new_settings)
        printf("created local.settings.json (HubConnection = embedded, the broker of "
               "`hubfn start --embedded`)\n");
    printf("created %s: ", fj);
    put_named(t->route, name);
    printf(", consumer group %s\n", name);
    printf("created %s (template %s)\n", lua, t->name);
    printf("try it:  echo '%s' | hubfn run %s --events -\n", t->sample, name);
    printf("host it: hubfn start . --embedded\n");
    return 0;
}
