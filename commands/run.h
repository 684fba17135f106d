/*
 * `hubfn run FUNCTION_DIR --events FILE|-` and `--captured FILE|-`: one function, no
 * broker. Events come from a file (one body per line, or capture records as `hubfn capture`
 * writes them), outputs go to stdout as JSON lines, logs to stderr.
 */
#ifndef HF_RUN_H
#define HF_RUN_H

/* Returns the exit code: 0 all invocations succeeded, 1 one failed, 2 usage/config (or a
   line of a --captured file that is no capture record). `captured`: events_path holds
   capture records, whose partition, offset, enqueuedTime, key and properties the handler
   sees. `live`: besides printing them, deliver the outputs of binding types that can
   (http). `state_path` (--state, or NULL): load what eventHubState bindings keep from this
   file of JSON lines before the first event, and write it back after the last. */
int hf_run_main(const char *function_dir, const char *events_path, int captured, int live,
                const char *state_path);

#endif
