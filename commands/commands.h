/*
 * hubfn's commands: start, run, send, new and help, declared in one table (name,
 * summary, arguments, options, help text, handler; commands.c). The help texts come from
 * that table (cmdline.h).
 */
#ifndef HF_COMMANDS_H
#define HF_COMMANDS_H

#include "cmdline.h"

/* Every command, in the order `hubfn help` lists them; hf_commands_n of them. */
extern const hf_cmd_t hf_commands[];
extern const size_t hf_commands_n;

/* The command called name, or NULL. */
const hf_cmd_t *hf_commands_find(const char *name);

/* Run hubfn with main's arguments; returns the exit code (2 for usage errors). */
int hf_commands_main(int argc, char **argv);

#endif
