/*
 * hubfn new NAME [--template T]: write a function from a template into the current folder
 * (the app folder): NAME/function.json and NAME/handler.lua, plus host.json and
 * local.settings.json when the folder has no host.json yet. Never overwrites a function.
 */
#ifndef HF_NEW_H
#define HF_NEW_H

/* Write function `name` from template `tname` ("passthrough", "aep-activation",
   "rudderstack"). Returns the exit code: 0 written, 2 for a usage error or when something
   is in the way (one line on stderr). */
int hf_new_main(const char *name, const char *tname);

#endif
