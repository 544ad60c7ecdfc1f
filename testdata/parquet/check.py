"""Reads a topic's Parquet objects (tier/columnar, layout version 1) with DuckDB and with pyarrow,
checks the two agree, and prints the records as JSON lines for the Go test to compare with what a
Kafka consumer reads.

usage: check.py DIR JSON_FIELD...

DIR holds the objects as the bucket does (topics/<topic-id>/<partition>/*.parquet). Control
records (transaction markers: batch_attributes & 32) are left out, as a consumer never sees them.
Each line: {"partition", "offset", "key", "value" (hex, or null), "timestamp" (ms), "json": {field:
value of column value_<field>}}.
"""
import datetime
import json
import sys

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def hexed(b):
    return None if b is None else bytes(b).hex()


def ms(ts):
    if isinstance(ts, datetime.datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=datetime.timezone.utc)
        return round(ts.timestamp() * 1000)
    return ts


def main():
    root, fields = sys.argv[1], sys.argv[2:]
    glob = f"{root}/**/*.parquet"
    cols = ", ".join(f'"value_{f}"' for f in fields)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        f"""SELECT "partition", "offset", "key", "value", epoch_ms("timestamp"), {cols}
            FROM read_parquet('{glob}', union_by_name = true)
            WHERE ("batch_attributes" & 32) = 0
            ORDER BY "partition", "offset" """
    ).fetchall()
    duck = [
        {"partition": r[0], "offset": r[1], "key": hexed(r[2]), "value": hexed(r[3]), "timestamp": r[4],
         "json": dict(zip(fields, r[5:]))}
        for r in rows
    ]

    # pyarrow: the same files as one dataset, schemas unified by name.
    files = ds.dataset(root, format="parquet").files
    tables = [pq.read_table(f) for f in files]
    table = pa.concat_tables(tables, promote_options="default")
    arrow = []
    for r in table.to_pylist():
        if r["batch_attributes"] & 32:
            continue
        arrow.append({"partition": r["partition"], "offset": r["offset"], "key": hexed(r["key"]),
                      "value": hexed(r["value"]), "timestamp": ms(r["timestamp"]),
                      "json": {f: r.get("value_" + f) for f in fields}})
    arrow.sort(key=lambda r: (r["partition"], r["offset"]))
    if duck != arrow:
        for a, b in zip(duck, arrow):
            if a != b:
                sys.exit(f"DuckDB and pyarrow disagree:\n duckdb  {a}\n pyarrow {b}")
        sys.exit(f"DuckDB read {len(duck)} records, pyarrow {len(arrow)}")
    for r in duck:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
