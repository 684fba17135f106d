/* Unit tests of connections (the four forms, their librdkafka properties, descriptions and
   errors) and of secret masking. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "test.h"

#define KEY "c2VjcmV0LWtleS1ub3QtdG8tc2hvdy0xMjM0NTY3ODk="
#define EH "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=listen;" \
           "SharedAccessKey=" KEY

static hf_conn_t c;
static char err[600];
static char props[2048];

/* set() for hf_conn_apply: collect "k=v\n" lines. */
static int collect(void *ud, const char *k, const char *v)
{
    size_t l = strlen(props);
    (void)ud;
    snprintf(props + l, sizeof(props) - l, "%s=%s\n", k, v);
    return 0;
}

static int parse(const char *setting, const char *value)
{
    hf_conn_free(&c);
    err[0] = '\0';
    return hf_conn_parse(&c, setting, value, err, sizeof(err));
}

static const char *apply(void)
{
    props[0] = '\0';
    if (hf_conn_apply(&c, collect, NULL) != 0)
        return "(failed)";
    return props;
}

__attribute__((destructor)) static void cleanup(void)
{
    hf_conn_free(&c);
    hf_secret_reset();
}

TEST(event_hubs_connection_string)
{
    CHECK_INT(parse("Hub", EH), 0);
    CHECK_INT(c.kind, HF_CONN_EVENTHUBS);
    CHECK_STR(c.setting, "Hub");
    CHECK_STR(c.bootstrap, "ns1.servicebus.windows.net:9093");
    CHECK_STR(c.namespace_, "ns1.servicebus.windows.net");
    CHECK_STR(c.key_name, "listen");
    CHECK_STR(c.password, EH);
    CHECK(c.entity_path == NULL);
    CHECK_STR(apply(), "bootstrap.servers=ns1.servicebus.windows.net:9093\n"
                       "security.protocol=SASL_SSL\nsasl.mechanisms=PLAIN\n"
                       "sasl.username=$ConnectionString\nsasl.password=" EH "\n");
}

TEST(keys_case_insensitive_order_free_whitespace)
{
    const char *v = "  sharedaccesskey = " KEY " ; ENTITYPATH=orders ;"
                    "  SharedAccessKeyName=send;endpoint=sb://ns2.servicebus.windows.net ;\n";
    CHECK_INT(parse("Hub", v), 0);
    CHECK_INT(c.kind, HF_CONN_EVENTHUBS);
    CHECK_STR(c.bootstrap, "ns2.servicebus.windows.net:9093");
    CHECK_STR(c.key_name, "send");
    CHECK_STR(c.entity_path, "orders");
    /* the password is the string as given, without the surrounding whitespace */
    CHECK(c.password[0] == 's' && c.password[strlen(c.password) - 1] == ';');
}

TEST(explicit_port_and_unknown_keys)
{
    CHECK_INT(parse("Hub", "Endpoint=sb://localhost:19093/;SharedAccessKeyName=k;"
                           "SharedAccessKey=" KEY ";TransportType=Amqp"), 0);
    CHECK_STR(c.bootstrap, "localhost:19093");
    CHECK_STR(c.namespace_, "localhost");
    char d[200];
    CHECK_STR(hf_conn_describe(&c, d, sizeof(d)),
              "Event Hubs namespace localhost (policy k, port 19093)");
}

TEST(emulator_string)
{
    const char *v = "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;"
                    "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;";
    char d[200];
    CHECK_INT(parse("Emu", v), 0);
    CHECK_INT(c.kind, HF_CONN_EMULATOR);
    CHECK_STR(c.bootstrap, "localhost:9092");
    CHECK_STR(apply(), "bootstrap.servers=localhost:9092\nsecurity.protocol=SASL_PLAINTEXT\n"
                       "sasl.mechanisms=PLAIN\nsasl.username=$ConnectionString\n"
                       "sasl.password=Endpoint=sb://localhost;SharedAccessKeyName="
                       "RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;"
                       "UseDevelopmentEmulator=true;\n");
    CHECK_STR(hf_conn_describe(&c, d, sizeof(d)), "the Event Hubs emulator at localhost:9092");
    CHECK_INT(parse("Emu", "Endpoint=sb://emu:5300;UseDevelopmentEmulator=TRUE"), 0);
    CHECK_INT(c.kind, HF_CONN_EMULATOR);
    CHECK_STR(c.bootstrap, "emu:5300");
}

TEST(bootstrap_lists)
{
    char d[200];
    CHECK_INT(parse("Local", "localhost:9092"), 0);
    CHECK_INT(c.kind, HF_CONN_BOOTSTRAP);
    CHECK_STR(c.bootstrap, "localhost:9092");
    CHECK(c.password == NULL && c.namespace_ == NULL);
    CHECK_STR(apply(), "bootstrap.servers=localhost:9092\nsecurity.protocol=plaintext\n");
    CHECK_INT(parse("Local", " k1:9092 , 10.0.0.2:19092,[::1]:9092 "), 0);
    CHECK_STR(c.bootstrap, "k1:9092,10.0.0.2:19092,[::1]:9092");
    CHECK_STR(hf_conn_describe(&c, d, sizeof(d)), "Kafka at k1:9092,10.0.0.2:19092,[::1]:9092");
    CHECK_INT(parse("Local", "k1:9092,k2"), -1);
    CHECK_HAS(err, "app setting \"Local\" is not a valid bootstrap list: entry 2 is not "
                   "host:port");
    CHECK_INT(parse("Local", "k1:99999"), -1);
    CHECK_INT(parse("Local", "k1:9092,"), -1);
}

TEST(embedded_keyword)
{
    char d[200];
    CHECK_INT(parse("Hub", " Embedded "), 0);
    CHECK_INT(c.kind, HF_CONN_EMBEDDED);
    CHECK(c.bootstrap == NULL);
    CHECK_STR(hf_conn_describe(&c, d, sizeof(d)), "the embedded broker");
    CHECK_INT(hf_conn_apply(&c, collect, NULL), -1);       /* no address until it starts */
    c.bootstrap = strdup("127.0.0.1:40001");
    CHECK_STR(apply(), "bootstrap.servers=127.0.0.1:40001\nsecurity.protocol=plaintext\n");
    CHECK_STR(hf_conn_describe(&c, d, sizeof(d)), "the embedded broker");
}

TEST(missing_parts_named_without_the_key)
{
    CHECK_INT(parse("Hub", "SharedAccessKeyName=k;SharedAccessKey=" KEY), -1);
    CHECK_STR(err, "app setting \"Hub\" is not a valid connection string: it has no Endpoint "
                   "(expected Endpoint=sb://NAMESPACE.servicebus.windows.net/;"
                   "SharedAccessKeyName=POLICY;SharedAccessKey=KEY)");
    CHECK_INT(parse("Hub", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=" KEY), -1);
    CHECK_HAS(err, "app setting \"Hub\" is not a valid connection string: it has no "
                   "SharedAccessKeyName");
    CHECK(!strstr(err, KEY));
    CHECK_INT(parse("Hub", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k"), -1);
    CHECK_HAS(err, "it has no SharedAccessKey (expected");
    CHECK_INT(parse("Hub", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;"
                           "SharedAccessKey="), -1);
    CHECK_HAS(err, "it has no SharedAccessKey (expected");
}

TEST(endpoint_must_be_sb)
{
    CHECK_INT(parse("Hub", "Endpoint=https://ns.servicebus.windows.net/;SharedAccessKeyName=k;"
                           "SharedAccessKey=" KEY), -1);
    CHECK_STR(err, "app setting \"Hub\" is not a valid connection string: Endpoint must start "
                   "with sb:// (got \"https://ns.servicebus.windows.net/\")");
    CHECK_INT(parse("Hub", "Endpoint=sb://;SharedAccessKeyName=k;SharedAccessKey=" KEY), -1);
    CHECK_HAS(err, "Endpoint \"sb://\" is not sb://HOST[:PORT]/");
    CHECK_INT(parse("Hub", "Endpoint=sb://ns:port/;SharedAccessKeyName=k;SharedAccessKey=" KEY), -1);
    CHECK_HAS(err, "is not sb://HOST[:PORT]/");
    CHECK(!strstr(err, KEY));
}

TEST(sas_tokens_refused)
{
    const char *sas = "SharedAccessSignature sr=sb%3a%2f%2fns.servicebus.windows.net&"
                      "sig=U2lnbmF0dXJlLXNlY3JldA%3d&se=1700000000&skn=send";
    char v[400], masked[400];
    snprintf(v, sizeof(v), "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessSignature=%s",
             sas);
    CHECK_INT(parse("Hub", v), -1);
    CHECK_STR(err, "app setting \"Hub\" holds a SharedAccessSignature: SAS tokens are not "
                   "supported by the Event Hubs Kafka endpoint; use a connection string with "
                   "SharedAccessKeyName and SharedAccessKey");
    hf_secret_mask(v, masked, sizeof(masked));
    CHECK(!strstr(masked, "U2lnbmF0dXJl"));
}

TEST(value_of_no_known_form)
{
    CHECK_INT(parse("Hub", "just some words"), -1);
    CHECK_STR(err, "app setting \"Hub\" is not a connection: expected an Event Hubs connection "
                   "string (Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...), "
                   "the emulator's (...;UseDevelopmentEmulator=true), a Kafka bootstrap list "
                   "host:port[,host:port...] or \"embedded\"");
    CHECK(!strstr(err, "just some words"));
    CHECK_INT(parse("Hub", "   "), -1);
    CHECK_HAS(err, "app setting \"Hub\" is empty");
    CHECK_INT(parse("", "nonsense"), -1);
    CHECK_HAS(err, "the connection value is not a connection");
    CHECK_INT(parse("Hub", "Endpoint=sb://ns/;c2VjcmV0bm9lcXVhbHNrZXk"), -1);  /* a bare key */
    CHECK_HAS(err, "part 2 has no '='");
    CHECK(!strstr(err, "c2VjcmV0bm9lcXVhbHNrZXk"));
    /* a key pasted without its name: the part has '=' (base64 padding) but no known name */
    CHECK_INT(parse("Hub", "Endpoint=sb://ns/;SharedAccessKeyName=k;" KEY), -1);
    CHECK_HAS(err, "it has no SharedAccessKey (expected");
    CHECK(!strstr(err, "c2VjcmV0LWtleS"));
    CHECK_INT(parse("Hub", NULL), -1);
    CHECK_HAS(err, "app setting \"Hub\" is not set");
}

TEST(describe_never_holds_secrets)
{
    char d[300];
    CHECK_INT(parse("Hub", EH ";EntityPath=orders"), 0);
    CHECK_STR(hf_conn_describe(&c, d, sizeof(d)),
              "Event Hubs namespace ns1.servicebus.windows.net (policy listen)");
    CHECK(!strstr(d, KEY));
    CHECK_STR(hf_conn_describe(NULL, d, sizeof(d)), "no connection");
}

TEST(every_key_registered_as_secret)
{
    char out[600];
    CHECK_INT(parse("Hub", EH), 0);
    hf_conn_free(&c);
    hf_secret_mask("log: " KEY " and " EH " end", out, sizeof(out));
    CHECK_STR(out, "log: *** and *** end");
    hf_secret_mask("x=" KEY "y", out, sizeof(out));
    CHECK_STR(out, "x=***y");
}

TEST(mask_patterns_without_registration)
{
    char out[300];
    hf_secret_mask("Endpoint=sb://a/;SharedAccessKeyName=k;SharedAccessKey=abc;EntityPath=h",
                   out, sizeof(out));
    CHECK_STR(out, "Endpoint=sb://a/;SharedAccessKeyName=k;SharedAccessKey=***;EntityPath=h");
    hf_secret_mask("sharedaccesskey = zz", out, sizeof(out));
    CHECK_STR(out, "sharedaccesskey = ***");
    hf_secret_mask("set sasl.password=Endpoint=sb://x/;SharedAccessKey=q failed", out,
                   sizeof(out));
    CHECK_STR(out, "set sasl.password=*** failed");
    hf_secret_mask("{\"sasl.password\": \"p;w d\", \"a\": 1}", out, sizeof(out));
    CHECK_STR(out, "{\"sasl.password\": \"***\", \"a\": 1}");
    hf_secret_mask("SharedAccessKey=tail", out, sizeof(out));
    CHECK_STR(out, "SharedAccessKey=***");
    /* placeholders in help text stay readable; prose "Name: x" is not an assignment */
    hf_secret_mask("(SharedAccessKey=KEY) or SharedAccessKey=...), SharedAccessSignature: no",
                   out, sizeof(out));
    CHECK_STR(out, "(SharedAccessKey=KEY) or SharedAccessKey=...), SharedAccessSignature: no");
    hf_secret_mask("{\"SharedAccessKey\": \"k3y+/=\"}", out, sizeof(out));
    CHECK_STR(out, "{\"SharedAccessKey\": \"***\"}");
    hf_secret_mask("nothing to hide", out, sizeof(out));
    CHECK_STR(out, "nothing to hide");
    hf_secret_mask(NULL, out, sizeof(out));
    CHECK_STR(out, "");
}

TEST(plain_values_are_not_secrets)
{
    char out[200];
    CHECK_INT(parse("A", "embedded"), 0);
    CHECK_INT(parse("B", "kafka-1.internal:9092,kafka-2.internal:9092"), 0);
    CHECK_INT(parse("C", "bogus value"), -1);
    hf_secret_mask("the embedded broker; Kafka at kafka-1.internal:9092,kafka-2.internal:9092; "
                   "bogus value", out, sizeof(out));
    CHECK_STR(out, "the embedded broker; Kafka at kafka-1.internal:9092,kafka-2.internal:9092; "
                   "bogus value");
}

TEST(mask_truncates_safely)
{
    char out[8];
    hf_secret_add("ZZZZ-truncation-secret");
    hf_secret_mask("ab ZZZZ-truncation-secret and more text", out, sizeof(out));
    CHECK_STR(out, "ab *** ");
    hf_secret_mask("ab ZZZZ-truncation-secret", out, 5);
    CHECK_STR(out, "ab *");
    out[0] = 'x';
    hf_secret_mask("abc", out, 1);
    CHECK_STR(out, "");
    hf_secret_add("ab");                    /* too short to register */
    hf_secret_mask("abc", out, sizeof(out));
    CHECK_STR(out, "abc");
}

TEST(longest_secret_first)
{
    char out[200];
    hf_secret_add("prefix-secret-XYZ");
    hf_secret_add("prefix-secret-XYZ-and-a-longer-one");
    hf_secret_mask("[prefix-secret-XYZ-and-a-longer-one]", out, sizeof(out));
    CHECK_STR(out, "[***]");
}

static void *mask_worker(void *arg)
{
    char in[128], out[256];
    long id = (long)arg;
    for (int i = 0; i < 2000; i++) {
        snprintf(in, sizeof(in), "thread-%ld-secret-%d", id, i % 50);
        hf_secret_add(in);
        hf_secret_mask(in, out, sizeof(out));
        if (strcmp(out, "***") != 0)
            return (void *)1;
    }
    return NULL;
}

TEST(secrets_thread_safe)
{
    pthread_t th[4];
    void *rv;
    int bad = 0;
    for (long i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, mask_worker, (void *)i) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], &rv);
        bad |= rv != NULL;
    }
    CHECK_INT(bad, 0);
}

static int stop_at_protocol(void *ud, const char *k, const char *v)
{
    (*(int *)ud)++;
    (void)v;
    return strcmp(k, "security.protocol") == 0 ? 7 : 0;
}

TEST(apply_stops_at_first_failure)
{
    int calls = 0;
    CHECK_INT(parse("Hub", EH), 0);
    CHECK_INT(hf_conn_apply(&c, stop_at_protocol, &calls), 7);
    CHECK_INT(calls, 2);
    CHECK_INT(hf_conn_apply(NULL, stop_at_protocol, &calls), -1);
}

TEST_MAIN()
