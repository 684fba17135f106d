/*
 * hubfn new NAME [--template T]: write a function from a template into the current folder
 * (the app folder): NAME/function.json and NAME/handler.lua, plus host.json and
 * local.settings.json when the folder has no host.json yet. Never overwrites a function.
 */
#ifndef HF_NEW_H
#define HF_NEW_H

/* Help texts, in the shape of the command table in cli.c. */
#define HF_NEW_SUMMARY "create a function from a template in the current app folder"
#define HF_NEW_USAGE "hubfn new NAME [--template aep-activation|rudderstack|passthrough]"
#define HF_NEW_DETAILS                                                                      \
    "Writes NAME/function.json and NAME/handler.lua into the current folder (the app\n"     \
    "folder). When the folder has no host.json, it also writes host.json with the\n"        \
    "defaults and local.settings.json with HubConnection = embedded. An existing\n"         \
    "function is never overwritten. NAME: a letter, then letters, digits, '-' or '_'\n"     \
    "(at most 128); it is also the consumer group. Every template connects through the\n"   \
    "setting HubConnection and runs as written:\n"                                          \
    "  passthrough     (default) every event of hub NAME-in, unchanged (raw bytes, key\n"   \
    "                  and properties), to hub NAME-out\n"                                  \
    "  aep-activation  AEP profiles from hub aep-activations: each audience entered or\n"   \
    "                  left, to hub crm-updates keyed by crmid, else email, else ecid\n"    \
    "  rudderstack     RudderStack events from hub rudderstack-events to hub NAME-out,\n"   \
    "                  keyed by userId, else anonymousId\n"                                 \
    "Then: hubfn run NAME --events FILE, or hubfn start . --embedded.\n"                    \
    "Exit 0 when written, 2 for usage errors or when something is in the way.\n"

/* Run `hubfn new` with the arguments after "new". Returns the exit code (0 or 2). */
int hf_new_main(int argc, char **argv);

#endif
