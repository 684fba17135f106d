/*
 * `hubfn checkpoints [APP] FUNCTION`: the checkpoints (committed offsets) of a function's
 * consumer group on its input hub, per partition, next to the hub's oldest and newest
 * offsets; with --set, move them (earliest, latest, a point in time, or given offsets)
 * while no instance runs. docs/capture.md describes it.
 */
#ifndef HF_CHECKPOINTS_H
#define HF_CHECKPOINTS_H

typedef struct hf_checkpoints_opts {
    const char *app_dir;         /* the app folder */
    const char *function;        /* the function's name (its folder in app_dir) */
    const char *set;             /* earliest | latest | TIME | P:OFFSET[,P:OFFSET...], or NULL */
    int dry_run;                 /* with set: say what would change, change nothing */
    int json;                    /* one JSON document on stdout instead of a table */
} hf_checkpoints_opts_t;

/* 1 when spec is a --set value (its syntax; partitions and offsets are checked against
   the hub later). */
int hf_checkpoints_valid_spec(const char *spec);

/* Run `hubfn checkpoints`; returns the exit code: 0 done, 1 the hub or group could not be
   read or changed (or the group has active members), 2 usage and configuration errors. */
int hf_checkpoints_main(const hf_checkpoints_opts_t *opts);

#endif
