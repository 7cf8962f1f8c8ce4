"""A data engineer's tools read `shopflow export` with no schema of their own:
pyarrow reads the Parquet and Arrow IPC datasets (hive partitions by day) and
this script checks them against the events the test expects.

usage: python read_export.py EXPECTED.ndjson PARQUET_DIR ARROW_DIR NDJSON_DIR

EXPECTED.ndjson holds one line per distinct event of the range:
{"topic": "shop.orders", "event": {...the CloudEvents envelope...}}.

Checked: every expected event is exactly one row (no duplicate ids, none
missing, none extra) of the dataset of its type, under the day of its time;
each row's envelope and every field of its `data` equal the event's (nested
objects as `outer_inner` columns, times as UTC timestamps, money as int64);
the Arrow IPC file and the NDJSON file of each dataset day hold the same rows,
in the same order, as its Parquet file. Prints a one-line summary; exits 1
with the first problems otherwise.
"""

import json
import os
import re
import sys
from collections import Counter

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

ENVELOPE = ["id", "type", "source", "time", "subject"]
KAFKA = ["kafkaTopic", "kafkaPartition", "kafkaOffset", "kafkaTimestamp"]
TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$")
MONEY = {"price", "subtotal", "discount", "shipping", "total", "amount", "unitPrice", "minSubtotal", "amountOff"}

problems = []


def problem(text):
    problems.append(text)
    if len(problems) >= 20:
        finish()


def finish():
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)


def nanos(text):
    """RFC 3339 UTC text to nanoseconds since the epoch (exact, unlike datetime)."""
    import calendar

    m = TIME.match(text)
    if not m:
        raise ValueError(f"not an RFC 3339 UTC time: {text!r}")
    y, mo, d, h, mi, s, frac = m.groups()
    seconds = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s)))
    return seconds * 10**9 + int((frac or "").ljust(9, "0"))


def plain(table):
    """Rows as Python values, with timestamp columns as integer nanoseconds."""
    columns = {}
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_timestamp(field.type):
            if field.type.unit != "ns" or field.type.tz != "UTC":
                problem(f"{field.name}: a time column is {field.type}, not timestamp[ns, tz=UTC]")
            column = column.cast(pa.int64())
        columns[field.name] = column.to_pylist()
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def expected_cell(data, name, columns):
    """What the column `name` holds for `data`, found independently of the exporter."""
    key = name[len("data_"):] if name.startswith("data_") and name[len("data_"):] in data else name
    if key in data:
        return data[key]
    if "_" in key:
        outer, inner = key.split("_", 1)
        if isinstance(data.get(outer), dict):
            return data[outer].get(inner)
    return None


def check_row(row, event, topic, schema):
    data = event["data"]
    where = f"{event['type']} {event['id']}"
    for name in ENVELOPE:
        want = nanos(event[name]) if name == "time" else event[name]
        if row[name] != want:
            problem(f"{where}: {name} is {row[name]!r}, the event says {want!r}")
    if not row["kafkaTopic"].endswith("." + topic) and row["kafkaTopic"] != topic:
        problem(f"{where}: read from {row['kafkaTopic']}, expected {topic}")
    data_columns = [f.name for f in schema if f.name not in ENVELOPE + KAFKA + ["day"]]
    for name in data_columns:
        want = expected_cell(data, name, data_columns)
        got = row[name]
        field = schema.field(name)
        if pa.types.is_timestamp(field.type) and isinstance(want, str):
            want = nanos(want)
        if pa.types.is_map(field.type) and got is not None:
            got = dict(got)
        if got != want:
            problem(f"{where}: column {name} is {got!r}, the event's data says {want!r}")
        if name in MONEY and not pa.types.is_int64(field.type):
            problem(f"{where}: money column {name} is {field.type}, not int64")
    for key, value in data.items():
        covered = any(
            n == key or n == "data_" + key or (isinstance(value, dict) and n.startswith(key + "_")) for n in data_columns
        )
        if not covered:
            problem(f"{where}: data field {key} has no column")


def main():
    expected_path, parquet_dir, arrow_dir, ndjson_dir = sys.argv[1:5]
    expected = {}
    for line in open(expected_path):
        line = json.loads(line)
        expected[line["event"]["id"]] = (line["topic"], line["event"])

    seen = Counter()
    types = 0
    files = 0
    for type_name in sorted(os.listdir(parquet_dir)):
        path = os.path.join(parquet_dir, type_name)
        if not os.path.isdir(path):
            continue
        types += 1
        # The dataset as a DuckDB or pandas user opens it: one directory, days as hive partitions.
        table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
        for row in plain(table):
            seen[row["id"]] += 1
            if row["id"] not in expected:
                problem(f"{type_name}: row {row['id']} is not an event of the range")
                continue
            topic, event = expected[row["id"]]
            if event["type"] != type_name:
                problem(f"{row['id']}: in dataset {type_name}, but it is a {event['type']}")
            if row["day"] != event["time"][:10]:
                problem(f"{row['id']}: under day {row['day']}, its time is {event['time']}")
            check_row(row, event, topic, table.schema)
        # Each day's file in the other formats holds the same rows in the same order.
        for day in sorted(os.listdir(path)):
            files += 1
            parquet = pq.ParquetFile(os.path.join(path, day, "part-0.parquet")).read()
            with pa.memory_map(os.path.join(arrow_dir, type_name, day, "part-0.arrow")) as source:
                arrow = ipc.open_file(source).read_all()
            if not arrow.equals(parquet, check_metadata=False):
                problem(f"{type_name}/{day}: the Arrow IPC file differs from the Parquet file")
            with open(os.path.join(ndjson_dir, type_name, day, "part-0.ndjson")) as lines:
                ndjson_ids = [json.loads(line)["id"] for line in lines]
            if ndjson_ids != parquet.column("id").to_pylist():
                problem(f"{type_name}/{day}: the NDJSON file holds other rows than the Parquet file")
            ids = parquet.column("id").to_pylist()
            times = parquet.column("time").cast(pa.int64()).to_pylist()
            if list(zip(times, ids)) != sorted(zip(times, ids)):
                problem(f"{type_name}/{day}: rows are not in (time, id) order")

    duplicates = [i for i, n in seen.items() if n > 1]
    if duplicates:
        problem(f"{len(duplicates)} ids are in more than one row, as {duplicates[:3]}")
    missing = [i for i in expected if i not in seen]
    if missing:
        problem(f"{len(missing)} events of the range have no row, as {missing[:3]}")
    finish()
    print(f"ok: {len(seen)} events, {types} event types, {files} files")


if __name__ == "__main__":
    main()
