#!/usr/bin/env python3
"""Benchmark peer for hubfn (tests/bench/consume.sh): the plain Python consumer a user would
write instead of a hubfn function. confluent-kafka (librdkafka underneath), every message's
value decoded with json.loads, every segmentMembership.ups.*.status read, the "realized"
ones counted.

    python consumer.py BOOTSTRAP TOPIC GROUP

Consumer group GROUP with confluent-kafka's defaults (auto commit every 5 s, offsets stored
when a message is handed to the application) plus auto.offset.reset=earliest,
enable.partition.eof and fetch.queue.backoff.ms=10 (see below); messages are taken with consume() in batches of at most 100 (hubfn's
maxEventBatchSize). consume() waits for a full batch until its timeout, so the timeout is
short (0.1 s): the last, partial batch is not held for long. Writes "start" on stdout at the first message and, once every partition
of TOPIC reported its end (partition EOF), "realized R events N"; then closes the consumer,
which commits the stored offsets and leaves the group. An error: one line on stderr, exit 1.
confluent-kafka comes from the venv that install.sh beside this file makes.
"""
import json
import sys

try:
    from confluent_kafka import Consumer, KafkaError
except ImportError:
    sys.exit("consumer.py: confluent_kafka not found; run with the python printed by "
             "tests/bench/python/install.sh")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: consumer.py BOOTSTRAP TOPIC GROUP")
    bootstrap, topic, group = sys.argv[1:]
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "client.id": "hubfn-bench-python",
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
        # librdkafka 2.4+ (the wheel bundles 2.16) postpones the next fetch of a partition by
        # fetch.queue.backoff.ms, 1000 by default, whenever its local queue is over
        # queued.max.messages.kbytes; a consumer slower than the fetcher then idles for up to a
        # second at a time (about 80k events/s instead of 140k/s here, at the same CPU). 10 ms
        # keeps it fed, as librdkafka before 2.4 (hubfn's) does.
        "fetch.queue.backoff.ms": 10,
    })
    meta = consumer.list_topics(topic, timeout=30).topics[topic]
    if meta.error is not None:
        sys.exit(f"consumer.py: topic {topic}: {meta.error}")
    partitions = len(meta.partitions)
    consumer.subscribe([topic])
    at_end = set()
    realized = events = not_json = 0
    while len(at_end) < partitions:
        for msg in consumer.consume(num_messages=100, timeout=0.1):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                    continue
                sys.exit(f"consumer.py: {err}")
            if events == 0:
                print("start", flush=True)
            events += 1
            try:
                body = json.loads(msg.value())
            except ValueError:
                not_json += 1
                continue
            ups = body.get("segmentMembership", {}).get("ups", {})
            for aud in ups.values():
                if aud.get("status") == "realized":
                    realized += 1
    print(f"realized {realized} events {events}", flush=True)
    if not_json:
        print(f"consumer.py: {not_json} messages were not JSON", file=sys.stderr)
    consumer.close()


if __name__ == "__main__":
    main()
