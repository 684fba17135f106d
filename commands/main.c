/*
 * hubfn: command-line entry. The commands and their options are in commands.c.
 */
#include <unistd.h>

#include "commands.h"
#include "log.h"

int main(int argc, char **argv)
{
    /* Readable text on a terminal; JSON lines for log collectors (containers, CI). */
    hf_log_setup(isatty(2) ? HF_LOG_TEXT : HF_LOG_JSON, isatty(2));
    return hf_commands_main(argc, argv);
}
