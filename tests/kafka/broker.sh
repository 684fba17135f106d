#!/usr/bin/env bash
# A local Apache Kafka 3.9.1 broker (KRaft, one node) for hubfn's integration tests, with a
# listener that behaves like the Azure Event Hubs Kafka endpoint. See tests/kafka/README.md.
#
#   broker.sh start [--keep]        fetch/cache Kafka, format a fresh data dir (--keep: reuse it),
#                                   start, wait until ready, print the env file
#   broker.sh stop | kill           clean stop (SIGTERM, wait) | SIGKILL
#   broker.sh restart [SECONDS]     stop, wait SECONDS (default 0), start again keeping the data
#   broker.sh pause | resume        SIGSTOP | SIGCONT the broker JVM
#   broker.sh status | env          is it running | print the env file tests source
#   broker.sh topic [--config KEY=VALUE]... NAME PARTITIONS [NAME PARTITIONS ...]
#                                   create topics (with topic configs, e.g.
#                                   --config cleanup.policy=compact for a state hub)
#   broker.sh policy NAME KEY [listen|send|manage ...] [--topic HUB]
#                                   add an Event Hubs SAS policy; prints its connection string
#   broker.sh tool CLASS ARGS...    run a Kafka tool class (e.g. kafka.admin.AclCommand) from the cache
#
# Environment (defaults): HF_KAFKA_CACHE ($HOME/.cache/hubfn/kafka-3.9.1), HF_KAFKA_DIR
# (/tmp/hubfn-kafka), HF_KAFKA_BIND (127.0.0.1), HF_KAFKA_PLAIN_PORT (19092), HF_KAFKA_SASL_PORT
# (19093), HF_KAFKA_CONTROLLER_PORT (19094), HF_KAFKA_SASL_HOST (localhost), HF_EH_KEY (random),
# HF_KAFKA_HEAP (512m), HF_KAFKA_JAVA_OPTS, HF_KAFKA_START_TIMEOUT (90 seconds), HF_KAFKA_CDS (1),
# HF_KAFKA_SASL_IPV6 (auto). Jars come from Maven Central once; later runs stay offline.
set -euo pipefail

KAFKA_VERSION=3.9.1
SCALA_VERSION=2.13
CACHE=${HF_KAFKA_CACHE:-${HOME:-/root}/.cache/hubfn/kafka-$KAFKA_VERSION}
DIR=${HF_KAFKA_DIR:-/tmp/hubfn-kafka}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
JAVA=${JAVA:-java}
ROOT_POLICY=RootManageSharedAccessKey
USERNAME='$ConnectionString'   # literally; Event Hubs' fixed SASL username
MARKER=$CACHE/.complete-kafka_$SCALA_VERSION-$KAFKA_VERSION

die() { echo "broker.sh: $*" >&2; exit 1; }
note() { echo "broker.sh: $*" >&2; }
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }   # single-quote for sh

case "$DIR" in /|"") die "refusing HF_KAFKA_DIR='$DIR'" ;; esac

# Settings of the running (or last) broker, written by start; restart reuses them.
load_config() {
    if [ -f "$DIR/config.sh" ]; then
        # shellcheck source=/dev/null
        . "$DIR/config.sh"
    fi
    BIND=${BIND:-${HF_KAFKA_BIND:-127.0.0.1}}
    PLAIN_PORT=${PLAIN_PORT:-${HF_KAFKA_PLAIN_PORT:-19092}}
    SASL_PORT=${SASL_PORT:-${HF_KAFKA_SASL_PORT:-19093}}
    CTRL_PORT=${CTRL_PORT:-${HF_KAFKA_CONTROLLER_PORT:-19094}}
    SASL_HOST=${SASL_HOST:-${HF_KAFKA_SASL_HOST:-localhost}}
    # Where "localhost" also resolves to ::1 (most /etc/hosts), clients try ::1 first and would log
    # "Connection refused" before falling back to 127.0.0.1: then also listen on [::1]:SASL_PORT.
    SASL_V6=${SASL_V6:-${HF_KAFKA_SASL_IPV6:-auto}}
    if [ "$SASL_V6" = auto ]; then
        SASL_V6=0
        if [ "$BIND" = 127.0.0.1 ] && grep -qs '^00000000000000000000000000000001 ' /proc/net/if_inet6 &&
           getent ahosts "$SASL_HOST" 2>/dev/null | grep -q '^::1 '; then
            SASL_V6=1
        fi
    fi
    PLAIN=$BIND:$PLAIN_PORT
}

LOCK_FDS=()
with_lock() {  # with_lock FILE CMD...: run CMD (in a subshell) holding an exclusive flock on FILE
    local f=$1; shift
    if command -v flock >/dev/null 2>&1; then
        local fd rc=0
        exec {fd}>"$f"
        set +e   # (not "|| rc=$?": that would switch off errexit inside the subshell)
        (LOCK_FDS+=("$fd"); flock "$fd"; "$@")
        rc=$?
        set -e
        exec {fd}>&-
        return $rc
    else
        "$@"
    fi
}

# ---------------------------------------------------------------------------- jars (cache)
fetch_jars() {
    [ -f "$MARKER" ] && return 0
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    note "fetching Kafka $KAFKA_VERSION jars from Maven Central into $CACHE (once)"
    local tmp
    tmp=$(mktemp -d /tmp/hubfn-kafka-fetch.XXXXXX)
    cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>hubfn.tests</groupId><artifactId>kafka-broker-jars</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_$SCALA_VERSION</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
        <exclusion><groupId>com.fasterxml.jackson.jaxrs</groupId><artifactId>jackson-jaxrs-json-provider</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
EOF
    if ! (cd "$tmp" && mvn -B -Dstyle.color=never -f pom.xml \
            org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
            -DoutputDirectory="$tmp/jars" -DincludeScope=runtime >"$tmp/mvn.log" 2>&1); then
        grep -E 'ERROR|BUILD' "$tmp/mvn.log" | head -n 20 >&2
        rm -rf "$tmp"
        die "maven could not fetch org.apache.kafka:kafka_$SCALA_VERSION:$KAFKA_VERSION"
    fi
    mkdir -p "$CACHE"
    rm -f "$CACHE"/*.jar
    mv "$tmp"/jars/*.jar "$CACHE"/
    rm -rf "$tmp"
    touch "$MARKER"
}

# The Event Hubs SASL provider and the admin helper, compiled once per source version.
build_ext() {
    local src=$HERE/java/hubfn/kafka sum jar
    sum=$(cat "$src"/*.java | sha256sum | cut -c1-12)
    jar=$CACHE/hubfn-kafka-ext-$sum.jar
    [ -f "$jar" ] && return 0
    command -v javac >/dev/null || die "javac not found (apt-get install default-jdk-headless)"
    note "compiling $src into $jar"
    local tmp
    tmp=$(mktemp -d /tmp/hubfn-kafka-javac.XXXXXX)
    if ! javac -nowarn --release 11 -cp "$CACHE/*" -d "$tmp/classes" "$src"/*.java >"$tmp/log" 2>&1; then
        cat "$tmp/log" >&2; rm -rf "$tmp"; die "javac failed"
    fi
    (cd "$tmp/classes" && jar cf "$tmp/ext.jar" .)
    rm -f "$CACHE"/hubfn-kafka-ext-*.jar
    mv "$tmp/ext.jar" "$jar"
    rm -rf "$tmp"
}

ensure_cache() {
    mkdir -p "$CACHE"
    with_lock "$CACHE/.lock" fetch_jars
    with_lock "$CACHE/.lock" build_ext
}

# Short-lived Kafka tools: lean JVM flags, log4j warnings to stderr.
tool_java() {  # tool_java CLASS ARGS...
    local rc=0
    cds_opts "tool-$1${2:+-$2}"
    "$JAVA" "${CDS_OPTS[@]}" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx256m -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$DIR/tools-log4j.properties" -cp "$CACHE/*" "$@" || rc=$?
    cds_done "$CDS_PENDING"
    return $rc
}

# Class-data sharing: the first run of each JVM kind (broker, each tool) dumps the classes it loaded
# into an archive in the cache (-XX:ArchiveClassesAtExit); later runs map it (-XX:SharedArchiveFile),
# which takes about 1.5s off the broker's start and halves a tool's. The archive name hashes the
# classpath and the JVM, so a changed jar or JDK just makes a new one. HF_KAFKA_CDS=0 turns it off.
CDS_OPTS=() CDS_PENDING=
cds_opts() {  # cds_opts NAME: sets CDS_OPTS and CDS_PENDING (a temp archive to publish after exit)
    CDS_OPTS=(-Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off) CDS_PENDING=
    [ "${HF_KAFKA_CDS:-1}" != 0 ] || return 0
    local key jsa
    key=$( { printf '%s\n' "$CACHE"/*.jar; readlink -f "$(command -v "$JAVA")"; stat -c %Y "$MARKER"; } |
           sha256sum | cut -c1-12)
    mkdir -p "$CACHE/cds"
    jsa=$CACHE/cds/${1//[^A-Za-z0-9_.-]/_}-$key.jsa
    if [ -s "$jsa" ]; then
        CDS_OPTS+=(-XX:SharedArchiveFile="$jsa")
    else
        CDS_PENDING=$jsa.tmp.$$.$RANDOM
        CDS_OPTS+=(-XX:ArchiveClassesAtExit="$CDS_PENDING")
    fi
}
cds_done() {  # cds_done PENDING: publish a freshly dumped archive
    local p=${1:-}
    [ -n "$p" ] || return 0
    local final=${p%.tmp.*} f
    if [ -s "$p" ]; then
        mv -f "$p" "$final"
        for f in "${final%-*}"-*.jsa; do   # archives of this kind for older jars/JDKs
            [ "$f" = "$final" ] || rm -f "$f"
        done
    else
        rm -f "$p"
    fi
}

# ---------------------------------------------------------------------------- process state
PIDFILE=$DIR/kafka.pid
broker_pid() {  # prints the pid of this DIR's broker JVM if it is alive
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$DIR/server.properties" || return 1
    alive "$pid" || return 1
    echo "$pid"
}

alive() {  # alive PID: running or stopped, not gone and not a zombie (the JVM is our child in start)
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# ---------------------------------------------------------------------------- configuration
gen_tls() {
    local t=$DIR/tls
    mkdir -p "$t"
    cat >"$t/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = hubfn test CA
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1$([ "$SASL_HOST" = localhost ] || echo ",DNS:$SASL_HOST")
authorityKeyIdentifier = keyid
EOF
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    openssl req -x509 -config "$t/openssl.cnf" -extensions v3_ca "${ec[@]}" -days 3650 \
        -keyout "$t/ca.key" -out "$t/ca.pem" 2>/dev/null
    openssl req -new -config "$t/openssl.cnf" "${ec[@]}" -subj "/CN=$SASL_HOST" \
        -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
        -days 3650 -extfile "$t/openssl.cnf" -extensions v3_server -out "$t/server.pem" 2>/dev/null
    KS_PASS=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
    openssl pkcs12 -export -in "$t/server.pem" -inkey "$t/server.key" -certfile "$t/ca.pem" \
        -name kafka -out "$t/server.p12" -passout "pass:$KS_PASS"
    chmod 600 "$t"/*.key "$t/server.p12"
}

write_config() {
    local t=$DIR/tls
    mkdir -p "$DIR/data" "$DIR/logs"
    {
        echo "# written by tests/kafka/broker.sh start"
        echo "BIND=$(q "$BIND")"
        echo "PLAIN_PORT=$(q "$PLAIN_PORT")"
        echo "SASL_PORT=$(q "$SASL_PORT")"
        echo "CTRL_PORT=$(q "$CTRL_PORT")"
        echo "SASL_HOST=$(q "$SASL_HOST")"
        echo "SASL_V6=$(q "$SASL_V6")"
        echo "EH_KEY=$(q "$EH_KEY")"
        echo "KS_PASS=$(q "$KS_PASS")"
    } >"$DIR/config.sh"
    local names=(sasl_ssl) v6l= v6a= v6m=
    if [ "$SASL_V6" = 1 ]; then
        names+=(sasl_ssl6)
        v6l=",SASL_SSL6://[::1]:$SASL_PORT" v6a=",SASL_SSL6://$SASL_HOST:$SASL_PORT" v6m=",SASL_SSL6:SASL_SSL"
    fi
    cat >"$DIR/server.properties" <<EOF
# written by tests/kafka/broker.sh: one KRaft node, broker + controller
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$BIND:$CTRL_PORT
listeners=PLAINTEXT://$BIND:$PLAIN_PORT,SASL_SSL://$BIND:$SASL_PORT,CONTROLLER://$BIND:$CTRL_PORT$v6l
advertised.listeners=PLAINTEXT://$BIND:$PLAIN_PORT,SASL_SSL://$SASL_HOST:$SASL_PORT$v6a
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT$v6m
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$DIR/data

# The Event Hubs-like listener: SASL_SSL, PLAIN with username \$ConnectionString and a connection
# string as the password, checked against $DIR/policies by hubfn.kafka.EventHubsSasl (a JCA
# provider that Kafka puts in front of its own PLAIN server through security.providers).
security.providers=hubfn.kafka.EventHubsSasl
sasl.enabled.mechanisms=PLAIN
$(for n in "${names[@]}"; do cat <<EOL
listener.name.$n.sasl.enabled.mechanisms=PLAIN
listener.name.$n.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required;
listener.name.$n.ssl.keystore.type=PKCS12
listener.name.$n.ssl.keystore.location=$t/server.p12
listener.name.$n.ssl.keystore.password=$KS_PASS
listener.name.$n.ssl.key.password=$KS_PASS
listener.name.$n.ssl.client.auth=none
EOL
done)

# ACLs: policies get rights through ACLs on User:<policy name>.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:$ROOT_POLICY
allow.everyone.if.no.acl.found=false

# Fast start, small footprint.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
# After a SIGKILL the controller refuses the restarted broker's registration
# (DUPLICATE_BROKER_REGISTRATION) until the old session expires: keep that short.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=2
log.cleaner.threads=1
# Compacted topics (state hubs) with a short segment.ms are cleaned within seconds.
log.cleaner.backoff.ms=1000
log.cleaner.dedupe.buffer.size=8388608
log.segment.bytes=67108864
EOF
    cat >"$DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$DIR/logs/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.authorizer.logger=INFO
log4j.logger.org.apache.kafka.controller=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.hubfn=INFO
EOF
    write_tools_log4j
}

write_tools_log4j() {
    cat >"$DIR/tools-log4j.properties" <<EOF
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

conn_string() {  # conn_string POLICY KEY [HUB]
    printf 'Endpoint=sb://%s:%s/;SharedAccessKeyName=%s;SharedAccessKey=%s%s' \
        "$SASL_HOST" "$SASL_PORT" "$1" "$2" "${3:+;EntityPath=$3}"
}

write_env() {
    local conn ca=$DIR/tls/ca.pem
    conn=$(conn_string "$ROOT_POLICY" "$EH_KEY")
    local kcat="-X security.protocol=SASL_SSL -X sasl.mechanisms=PLAIN -X sasl.username=$USERNAME -X sasl.password=$conn -X ssl.ca.location=$ca"
    {
        echo "security.protocol=SASL_SSL"
        echo "sasl.mechanisms=PLAIN"
        echo "sasl.username=$USERNAME"
        echo "sasl.password=$conn"
        echo "ssl.ca.location=$ca"
    } >"$DIR/kcat-sasl.conf"
    {
        echo "# Kafka test broker (tests/kafka/broker.sh); source this file"
        echo "export HF_KAFKA_DIR=$(q "$DIR")"
        echo "export HF_KAFKA_PLAIN=$(q "$PLAIN")"
        echo "export HF_KAFKA_SASL=$(q "$SASL_HOST:$SASL_PORT")"
        echo "export HF_KAFKA_CONTROLLER=$(q "$BIND:$CTRL_PORT")"
        echo "export HF_EH_POLICY=$(q "$ROOT_POLICY")"
        echo "export HF_EH_KEY=$(q "$EH_KEY")"
        echo "export HF_EH_CONN=$(q "$conn")"
        echo "export HF_KAFKA_CA=$(q "$ca")"
        echo "export SSL_CERT_FILE=$(q "$ca")"
        echo "export KCAT_SASL=$(q "$kcat")"
        echo "export HF_KCAT_SASL_CONF=$(q "$DIR/kcat-sasl.conf")"
        echo "export HF_KAFKA_LOG=$(q "$DIR/logs/server.log")"
    } >"$DIR/env.tmp"
    mv "$DIR/env.tmp" "$DIR/env"
}

wait_ready() {  # wait_ready PID: both listeners accept and serve metadata with a registered broker
    local pid=$1 deadline=$((SECONDS + ${HF_KAFKA_START_TIMEOUT:-90})) conn
    conn=$(conn_string "$ROOT_POLICY" "$EH_KEY")
    local stage=plain
    while :; do
        if ! alive "$pid"; then
            note "Kafka exited during start; last log lines:"
            tail -n 30 "$DIR/logs/server.log" "$DIR/logs/kafka.out" >&2 2>/dev/null || true
            return 1
        fi
        if [ "$stage" = plain ] && port_busy "$BIND" "$PLAIN_PORT" &&
           kcat -b "$PLAIN" -L -m 2 2>/dev/null | grep -q '^ 1 brokers:'; then
            stage=sasl
        fi
        if [ "$stage" = sasl ] && port_busy "$BIND" "$SASL_PORT" &&
           kcat -b "$SASL_HOST:$SASL_PORT" -X security.protocol=SASL_SSL -X sasl.mechanisms=PLAIN \
                -X "sasl.username=$USERNAME" -X "sasl.password=$conn" \
                -X "ssl.ca.location=$DIR/tls/ca.pem" -L -m 5 2>/dev/null | grep -q '^ 1 brokers:'; then
            return 0
        fi
        if [ $SECONDS -ge $deadline ]; then
            note "Kafka did not become ready within ${HF_KAFKA_START_TIMEOUT:-90}s (stage $stage); log: $DIR/logs/server.log"
            tail -n 30 "$DIR/logs/server.log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.2
    done
}

launch() {
    local heap=${HF_KAFKA_HEAP:-512m}
    # setsid: the broker outlives the shell that started it and ignores its terminal's ^C.
    local fd
    for fd in "${LOCK_FDS[@]}"; do exec {fd}>&-; done   # the broker must not hold our locks
    cds_opts broker
    # A new archive is dumped when the broker exits cleanly; stop publishes it.
    if [ -n "$CDS_PENDING" ]; then echo "$CDS_PENDING" >"$DIR/cds-pending"; else rm -f "$DIR/cds-pending"; fi
    # C1 only (TieredStopAtLevel=1): starts ~1.5s faster on 2 busy cores, and kcat-sized loads do
    # not notice; HF_KAFKA_JAVA_OPTS=-XX:TieredStopAtLevel=4 brings the full JIT back.
    setsid "$JAVA" -Xmx"$heap" -Xms128m -Xss512k -XX:TieredStopAtLevel=1 -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
        -XX:+ExitOnOutOfMemoryError "${CDS_OPTS[@]}" -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$DIR/log4j.properties" -Dkafka.logs.dir="$DIR/logs" \
        -Dhubfn.policies="$DIR/policies" ${HF_KAFKA_JAVA_OPTS:-} \
        -cp "$CACHE/*" kafka.Kafka "$DIR/server.properties" \
        >"$DIR/logs/kafka.out" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
}

do_start() {  # do_start [keep]
    local keep=${1:-}
    local t0=$SECONDS pid
    if pid=$(broker_pid); then
        note "already running (pid $pid)"
        cat "$DIR/env"
        return 0
    fi
    command -v kcat >/dev/null || die "kcat not found (apt-get install kcat)"
    command -v openssl >/dev/null || die "openssl not found"
    ensure_cache
    if [ -n "$keep" ] && [ -f "$DIR/config.sh" ] && [ -f "$DIR/data/meta.properties" ]; then
        load_config
        [ -n "${EH_KEY:-}" ] || die "$DIR/config.sh has no key; start without --keep"
    else
        keep=
        rm -rf "$DIR/data" "$DIR/logs" "$DIR/tls"
        rm -f "$DIR/env" "$DIR/config.sh" "$DIR/policies" "$DIR/server.properties" \
              "$DIR/kcat-sasl.conf" "$PIDFILE"
        mkdir -p "$DIR"
        EH_KEY=${HF_EH_KEY:-$(head -c 32 /dev/urandom | base64)}
        case "$EH_KEY" in *[[:space:]]*|"") die "HF_EH_KEY must be non-empty without spaces" ;; esac
        load_config
        KS_PASS=
    fi
    local p
    for p in "$PLAIN_PORT" "$SASL_PORT" "$CTRL_PORT"; do
        port_busy "$BIND" "$p" && die "port $BIND:$p is in use (another broker? HF_KAFKA_DIR=$DIR)"
    done
    [ -f "$DIR/tls/server.p12" ] && [ -n "${KS_PASS:-}" ] || gen_tls
    write_config
    # The root policy (Manage, a super user) is always there; tests add more with `policy`.
    if ! grep -q "^$ROOT_POLICY " "$DIR/policies" 2>/dev/null; then
        echo "$ROOT_POLICY $EH_KEY" >>"$DIR/policies"
    fi
    if [ -z "$keep" ]; then
        local cid
        # A Kafka cluster id is 16 random bytes in URL-safe base64; one starting with '-' would
        # read as an option to the format tool, so draw again.
        cid=-
        while [ "${cid#-}" != "$cid" ]; do
            cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        done
        tool_java kafka.tools.StorageTool format --cluster-id "$cid" \
            --config "$DIR/server.properties" >"$DIR/logs/format.log" 2>&1 ||
            { cat "$DIR/logs/format.log" >&2; die "formatting $DIR/data failed"; }
    fi
    launch
    pid=$(cat "$PIDFILE")
    if ! wait_ready "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        die "start failed"
    fi
    write_env
    note "Kafka $KAFKA_VERSION ready in $((SECONDS - t0))s (pid $pid, dir $DIR)"
    cat "$DIR/env"
}

wait_exit() {  # wait_exit PID SECONDS
    local pid=$1 n=$(( $2 * 10 ))
    while alive "$pid"; do
        n=$((n - 1))
        [ $n -gt 0 ] || return 1
        sleep 0.1
    done
}

do_stop() {
    local pid
    pid=$(broker_pid) || { note "not running"; return 0; }
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_exit "$pid" "${HF_KAFKA_STOP_TIMEOUT:-30}"; then
        note "Kafka (pid $pid) did not stop in time; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        wait_exit "$pid" 10 || die "pid $pid will not die"
    fi
    rm -f "$PIDFILE"
    if [ -f "$DIR/cds-pending" ]; then cds_done "$(cat "$DIR/cds-pending")"; rm -f "$DIR/cds-pending"; fi
    note "stopped (pid $pid)"
}

do_kill() {
    local pid
    pid=$(broker_pid) || { note "not running"; return 0; }
    kill -KILL "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true
    wait_exit "$pid" 10 || die "pid $pid will not die"
    rm -f "$PIDFILE"
    if [ -f "$DIR/cds-pending" ]; then rm -f "$(cat "$DIR/cds-pending")" "$DIR/cds-pending"; fi
    note "killed (pid $pid)"
}

need_running() {
    broker_pid >/dev/null || die "the broker is not running (HF_KAFKA_DIR=$DIR); run: $0 start"
    load_config
}

do_topic() {
    local usage="usage: broker.sh topic [--config KEY=VALUE]... NAME PARTITIONS [NAME PARTITIONS ...]"
    local n=$# args=("$@") i=0
    while [ $i -lt $n ] && [ "${args[$i]}" = --config ]; do
        [ $((i + 1)) -lt $n ] || die "$usage"
        case "${args[$((i + 1))]}" in ?*=*) ;; *) die "--config needs KEY=VALUE" ;; esac
        i=$((i + 2))
    done
    [ $((n - i)) -ge 2 ] && [ $(((n - i) % 2)) -eq 0 ] || die "$usage"
    need_running
    tool_java hubfn.kafka.HubfnAdmin topics "$PLAIN" "$@" >&2
}

do_policy() {
    [ $# -ge 2 ] || die "usage: broker.sh policy NAME KEY [listen|send|manage ...] [--topic HUB]"
    local name=$1 key=$2 hub= rights=()
    shift 2
    while [ $# -gt 0 ]; do
        case "$1" in
            --topic) [ $# -ge 2 ] || die "--topic needs a name"; hub=$2; shift 2 ;;
            --topic=*) hub=${1#--topic=}; shift ;;
            listen|send|manage) rights+=("$1"); shift ;;
            Listen|Send|Manage) rights+=("${1,,}"); shift ;;
            *) die "unknown right '$1' (listen, send, manage)" ;;
        esac
    done
    case "$name$key" in *[[:space:]]*) die "policy name and key must not contain spaces" ;; esac
    [ -n "$name" ] && [ -n "$key" ] || die "policy name and key must not be empty"
    need_running
    # Policies file: NAME KEY lines, read by the broker on every authentication.
    local tmp=$DIR/policies.tmp.$$
    { grep -v "^$name " "$DIR/policies" 2>/dev/null || true; echo "$name $key"; } >"$tmp"
    mv "$tmp" "$DIR/policies"

    local topic=${hub:-*} args=() r
    local p=(--add --allow-principal "User:$name" --force)
    for r in "${rights[@]}"; do
        [ ${#args[@]} -eq 0 ] || args+=(--and)
        case "$r" in
            listen) args+=("${p[@]}" --operation Read --operation Describe --topic "$topic" --group '*') ;;
            send)   args+=("${p[@]}" --operation Write --operation Describe --topic "$topic") ;;
            manage)
                args+=("${p[@]}" --operation All --topic "$topic" --group '*')
                [ -n "$hub" ] || args+=(--and "${p[@]}" --operation All --cluster --transactional-id '*')
                ;;
        esac
    done
    if [ ${#args[@]} -gt 0 ]; then
        if ! tool_java hubfn.kafka.HubfnAdmin acls "$PLAIN" "${args[@]}" >"$DIR/logs/acl.log" 2>&1; then
            cat "$DIR/logs/acl.log" >&2
            die "adding ACLs for User:$name failed"
        fi
    fi
    conn_string "$name" "$key" "$hub"
    echo
}

do_status() {
    local pid st
    if pid=$(broker_pid); then
        load_config
        st=$(awk '{print $3}' "/proc/$pid/stat")
        if [ "$st" = T ]; then
            echo "paused (pid $pid) plaintext $PLAIN, sasl_ssl $SASL_HOST:$SASL_PORT, dir $DIR"
        else
            echo "running (pid $pid) plaintext $PLAIN, sasl_ssl $SASL_HOST:$SASL_PORT, dir $DIR"
        fi
        return 0
    fi
    echo "not running (dir $DIR)"
    return 1
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    start)
        keep=
        case "${1:-}" in --keep) keep=1 ;; "") ;; *) die "usage: broker.sh start [--keep]" ;; esac
        mkdir -p "$DIR"
        with_lock "$DIR/.lock" do_start "$keep"
        ;;
    restart)
        secs=${1:-0}
        mkdir -p "$DIR"
        with_lock "$DIR/.lock" do_stop
        [ "$secs" = 0 ] || sleep "$secs"
        with_lock "$DIR/.lock" do_start keep
        ;;
    stop) with_lock "$DIR/.lock" do_stop ;;
    kill) with_lock "$DIR/.lock" do_kill ;;
    pause)
        pid=$(broker_pid) || die "not running"
        kill -STOP "$pid"; note "paused (pid $pid)" ;;
    resume)
        pid=$(broker_pid) || die "not running"
        kill -CONT "$pid"; note "resumed (pid $pid)" ;;
    status) do_status ;;
    env) [ -f "$DIR/env" ] || die "no env file; run: $0 start"; cat "$DIR/env" ;;
    topic|topics) do_topic "$@" ;;
    policy) do_policy "$@" ;;
    tool)
        [ $# -ge 1 ] || die "usage: broker.sh tool CLASS ARGS..."
        load_config; ensure_cache
        [ -f "$DIR/tools-log4j.properties" ] || { mkdir -p "$DIR"; write_tools_log4j; }
        HF_KAFKA_CDS=0 tool_java "$@" ;;
    ""|-h|--help|help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (try: $0 help)" ;;
esac
