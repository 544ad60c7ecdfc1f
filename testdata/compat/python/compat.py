"""Compatibility scenario with confluent-kafka (librdkafka); see ../README.md.

    python compat.py --bootstrap HOST:PORT --topic T [--group G] [--count N] [--partitions P]
"""

import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT_S = 120.0
IDLE_S = 20.0


def log(msg):
    print(f"python-compat: {msg}", file=sys.stderr, flush=True)


class Tally:
    """Everything both consumers saw."""

    def __init__(self):
        self.seen = set()
        self.duplicates = 0
        self.consumed = 0
        self.in_order = True
        self.last_offset = {}
        self.last_seq = {}

    def record(self, partition, offset, value):
        seq = int(value[1:])
        self.consumed += 1
        if seq in self.seen:
            self.duplicates += 1
        else:
            self.seen.add(seq)
        lo = self.last_offset.get(partition)
        ls = self.last_seq.get(partition)
        if (lo is not None and offset <= lo) or (ls is not None and seq <= ls):
            self.in_order = False
        self.last_offset[partition] = offset
        self.last_seq[partition] = seq


def create_topic(args):
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    futures = admin.create_topics(
        [NewTopic(args.topic, num_partitions=args.partitions, replication_factor=1)],
        operation_timeout=30,
        request_timeout=30,
    )
    for f in futures.values():
        f.result(timeout=60)


def produce(args):
    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 60000,
        }
    )
    acked = set()
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acked.add(int(msg.value()[1:]))

    for i in range(args.count):
        while True:
            try:
                producer.produce(
                    args.topic, key=f"k{i % 100}", value=f"v{i}", on_delivery=on_delivery
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(60)
    if errors or remaining:
        log(f"produce: {len(errors)} delivery errors (first: {errors[:1]}), {remaining} unflushed")
    return acked


def consume(args, tally, want, produced, label):
    """One group member: processes records until it has processed `want` of them (or every
    produced record was seen), committing processed offsets synchronously after each batch."""
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000,
        }
    )
    consumer.subscribe([args.topic])
    processed = 0
    deadline = time.monotonic() + TIMEOUT_S
    last_progress = time.monotonic()
    try:
        while processed < want and len(tally.seen) < produced:
            now = time.monotonic()
            if now > deadline or now - last_progress > IDLE_S:
                log(f"{label}: giving up after {processed} records (timeout)")
                break
            msgs = consumer.consume(num_messages=500, timeout=0.5)
            commit = {}
            for m in msgs:
                if m.error() is not None:
                    raise KafkaException(m.error())
                tally.record(m.partition(), m.offset(), m.value().decode())
                processed += 1
                commit[m.partition()] = m.offset() + 1
            if commit:
                consumer.commit(
                    offsets=[TopicPartition(args.topic, p, o) for p, o in commit.items()],
                    asynchronous=False,
                )
                last_progress = time.monotonic()
    finally:
        consumer.close()
    log(f"{label}: processed {processed}")
    return processed


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group")
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--partitions", type=int, default=3)
    args = p.parse_args()
    args.group = args.group or f"{args.topic}-group"

    create_topic(args)
    acked = produce(args)
    produced = len(acked)
    tally = Tally()
    first = consume(args, tally, produced // 2, produced, "first")
    second = consume(args, tally, float("inf"), produced, "second")
    missing = len(acked - tally.seen)
    summary = {
        "client": "confluent-kafka-python",
        "produced": produced,
        "consumed": tally.consumed,
        "first_consumer": first,
        "second_consumer": second,
        "duplicates": tally.duplicates,
        "missing": missing,
        "per_partition_in_order": tally.in_order,
    }
    print(json.dumps(summary), flush=True)
    ok = produced == args.count and missing == 0 and tally.duplicates == 0 and tally.in_order
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - report any failure as a non-zero exit
        log(f"fatal: {e!r}")
        sys.exit(2)
