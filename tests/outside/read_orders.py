"""An outside Kafka client (confluent-kafka for Python, its own librdkafka)
reads shop.orders and checks that what shopflow produced is CloudEvents JSON
exactly as contract/events.md says, keyed by orderId.

usage: python3 read_orders.py BROKERS EXPECTED.ndjson

EXPECTED.ndjson is `shopflow generate --out` of the same run that was
produced into Kafka; every valid shop.orders record in it must be read back
byte for byte, and every record read with one of its ids must be valid.
"""

import json
import re
import sys
import time

from confluent_kafka import Consumer, TopicPartition

ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
ORDER_TYPES = {"Order.Created", "Order.Cancelled", "Order.ReturnRequested"}


def check_event(key, value):
    """Returns a list of what is wrong with one record."""
    problems = []
    try:
        event = json.loads(value)
    except ValueError as e:
        return [f"not JSON: {e}"]
    for field in ("specversion", "id", "source", "type", "time", "subject", "data"):
        if field not in event:
            problems.append(f"missing {field}")
    if problems:
        return problems
    if event["specversion"] != "1.0":
        problems.append("specversion is not 1.0")
    if event.get("datacontenttype", "application/json") != "application/json":
        problems.append("datacontenttype is not application/json")
    if event["type"] not in ORDER_TYPES:
        problems.append(f"type {event['type']} does not belong on shop.orders")
    if not ID.match(event["id"]):
        problems.append("bad id")
    if not TIME.match(event["time"]):
        problems.append(f"time {event['time']} is not RFC 3339 UTC")
    data = event["data"]
    if event["subject"] != data.get("orderId"):
        problems.append("subject is not data.orderId")
    if key != event["subject"]:
        problems.append(f"key {key!r} is not the subject")
    if event["type"] == "Order.Created":
        for money in ("subtotal", "discount", "shipping", "total"):
            if not isinstance(data.get(money), int):
                problems.append(f"{money} is not an integer")
        for item in data.get("items", []):
            if not isinstance(item.get("unitPrice"), int) or not isinstance(item.get("quantity"), int):
                problems.append("item price or quantity is not an integer")
        if data["subtotal"] - data["discount"] + data["shipping"] != data["total"]:
            problems.append("total does not add up")
    return problems


def main():
    brokers, expected_path = sys.argv[1], sys.argv[2]
    expected = {}
    with open(expected_path) as f:
        for line in f:
            record = json.loads(line)
            if record["topic"] != "shop.orders":
                continue
            try:
                event = json.loads(record["value"])
            except ValueError:
                continue  # a malformed record of the run: not for this check
            if isinstance(event, dict) and event.get("type") in ORDER_TYPES and "data" in event:
                expected[event["id"]] = (record["key"], record["value"])
    assert expected, "the expected file has no shop.orders events"

    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"outside-{time.time_ns()}",
                         "enable.auto.commit": False})
    metadata = consumer.list_topics("shop.orders", timeout=30)
    partitions = sorted(metadata.topics["shop.orders"].partitions)
    consumer.assign([TopicPartition("shop.orders", p, 0) for p in partitions])

    seen, bad, checked = set(), set(), 0
    deadline = time.monotonic() + 120
    while len(seen) < len(expected) and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None or message.error():
            continue
        value = message.value().decode("utf-8", "replace")
        key = (message.key() or b"").decode("utf-8", "replace")
        try:
            event_id = json.loads(value).get("id")
        except ValueError:
            continue
        if event_id not in expected:
            continue  # another run's record
        checked += 1
        problems = check_event(key, value)
        want_key, want_value = expected[event_id]
        if (key, value) != (want_key, want_value):
            problems.append("bytes differ from what shopflow generated")
        if problems:
            bad.add(event_id)
            print(f"FAIL {event_id} (partition {message.partition()} offset {message.offset()}): {problems}")
        seen.add(event_id)
    consumer.close()
    missing = len(expected) - len(seen)
    if missing:
        print(f"FAIL {missing} of {len(expected)} shop.orders events never arrived")
    print(f"outside client: read {checked} shop.orders records of this run ({len(expected)} events)")
    failed = len(bad) + missing
    print(f"{len(seen) - len(bad)} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
