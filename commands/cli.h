/* Help texts of the command line. */
#ifndef HF_CLI_H
#define HF_CLI_H

#include <stdio.h>

/* Print help for one command (or the overview when cmd is NULL). 0, or 2 for unknown. */
int hf_cli_help(const char *cmd, FILE *out);

#endif
