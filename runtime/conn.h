/*
 * Connections: the four forms a binding's "connection" setting may hold, turned into the
 * librdkafka properties that reach that namespace, and the masking that keeps secrets out
 * of every line hubfn prints.
 */
#ifndef HF_CONN_H
#define HF_CONN_H

#include <stddef.h>

typedef enum {
    HF_CONN_EVENTHUBS,   /* Endpoint=sb://NS/;SharedAccessKeyName=K;SharedAccessKey=S[;EntityPath=H] */
    HF_CONN_EMULATOR,    /* ...;UseDevelopmentEmulator=true; */
    HF_CONN_BOOTSTRAP,   /* host:port[,host:port...] */
    HF_CONN_EMBEDDED     /* "embedded": the in-process broker of hubfn start --embedded */
} hf_conn_kind_t;

typedef struct hf_conn {
    hf_conn_kind_t kind;
    char *setting;       /* the setting name it came from ("" for a literal value) */
    char *bootstrap;     /* bootstrap.servers; for EMBEDDED filled in when the broker starts */
    char *namespace_;    /* Endpoint host (Event Hubs, emulator), else NULL */
    char *key_name;      /* SharedAccessKeyName, else NULL */
    char *password;      /* the whole connection string (a secret), else NULL */
    char *entity_path;   /* EntityPath, else NULL */
} hf_conn_t;

/*
 * Parse a connection value. `setting` names where it came from, for messages.
 * 0 on success; -1 with one line in err (never containing the key).
 * Every SharedAccessKey value parsed is registered with hf_secret_add().
 */
int hf_conn_parse(hf_conn_t *conn, const char *setting, const char *value, char *err,
                  size_t errsz);
void hf_conn_free(hf_conn_t *conn);

/* Apply the connection's librdkafka properties (bootstrap.servers, security.protocol,
   sasl.*) through set(key, value, ud). Returns the first non-zero set() result, or 0. */
int hf_conn_apply(const hf_conn_t *conn, int (*set)(void *ud, const char *k, const char *v),
                  void *ud);

/* A short description for logs: "Event Hubs namespace NS (policy K)", "Kafka at H:P",
   "the embedded broker", "the Event Hubs emulator at H". Never holds a secret. */
const char *hf_conn_describe(const hf_conn_t *conn, char *buf, size_t bufsz);

/* Secrets: every registered string is replaced by "***" in hf_secret_mask(). Thread-safe. */
void hf_secret_add(const char *secret);
/* Copy `in` into out (NUL-terminated, truncated to outsz) with secrets masked, including
   any "SharedAccessKey=..." value up to ';' whether registered or not. */
void hf_secret_mask(const char *in, char *out, size_t outsz);

/* Forget every registered secret. For tests and fuzzers only (a running host
   never forgets a secret). Strings shorter than 4 bytes are never registered (they would
   mangle ordinary text); at most 4096 distinct secrets are kept. */
void hf_secret_reset(void);

#endif
