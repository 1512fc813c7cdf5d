#!/usr/bin/env python3
"""Reads `northstar export --format parquet` with DuckDB and compares it with the store as
`northstar query --format json` prints it (events.jsonl): the row count, counts per type, every
event id, time and payload, the sum of perf_sample values, a user event's field, and the
promised order (every row group one type, sorted by time within).

usage: validate_parquet.py FILE.parquet events.jsonl
"""
import collections
import json
import sys

import duckdb

path, events_path = sys.argv[1], sys.argv[2]
events = [json.loads(line) for line in open(events_path)]
by_id = {e["event_id"]: e for e in events}
con = duckdb.connect()
src = f"read_parquet('{path}', file_row_number = true)"


def fail(msg):
    print(f"validate_parquet: {msg}")
    sys.exit(1)


(rows,) = con.execute(f"select count(*) from {src}").fetchone()
if rows != len(events):
    fail(f"{rows} rows, {len(events)} stored events")

want = collections.Counter(e["event_type"] for e in events)
got = dict(con.execute(f"select event_type, count(*) from {src} group by 1").fetchall())
if got != dict(want):
    fail(f"counts per type differ: parquet {got}, store {dict(want)}")

# Every row against its stored event.
seen = set()
for eid, ty, code, ts, ts_ns, actor, sessions, vis, payload in con.execute(
    f"select event_id, event_type, event_code, epoch_ns(timestamp), timestamp_ns, actor_id,"
    f" session_ids, visibility, payload from {src}"
).fetchall():
    e = by_id.get(eid)
    if e is None or eid in seen:
        fail(f"event_id {eid} unknown or repeated")
    seen.add(eid)
    if ty != e["event_type"] or ts != e["timestamp"] or ts_ns != e["timestamp"]:
        fail(f"event {eid}: type/time {ty} {ts} {ts_ns}, stored {e}")
    if actor != e.get("actor_id", e.get("agent_id", 0)) or vis != e.get("visibility", "public"):
        fail(f"event {eid}: actor/visibility {actor} {vis}, stored {e}")
    if json.loads(payload) != e["payload"]:
        fail(f"event {eid}: payload {payload}, stored {e['payload']}")
    if "session_id" in e and e["session_id"] not in sessions:
        fail(f"event {eid}: session_ids {sessions} lack {e['session_id']}")
    if ty.startswith("kv.") and (code != 224 or sessions):
        fail(f"user event {eid}: code {code}, sessions {sessions}")

# Typed reads through DuckDB's JSON functions.
want_sum = sum(e["payload"]["value"] for e in events if e["event_type"] == "perf_sample")
(got_sum,) = con.execute(
    f"select sum((payload->>'$.value')::double) from {src} where event_type = 'perf_sample'"
).fetchone()
if want_sum and abs((got_sum or 0) - want_sum) > 1e-6 * abs(want_sum):
    fail(f"sum of perf_sample values {got_sum}, stored {want_sum}")
want_bytes = sum(e["payload"]["bytes"] for e in events if e["event_type"] == "kv.wal_sync")
(got_bytes,) = con.execute(
    f"select sum((payload->>'$.bytes')::ubigint) from {src} where event_type = 'kv.wal_sync'"
).fetchone()
if (got_bytes or 0) != want_bytes:
    fail(f"sum of kv.wal_sync bytes {got_bytes}, stored {want_bytes}")

# The order the exporter documents: each row group holds one type, sorted by
# (timestamp, event_id); row groups in file order.
groups = con.execute(
    f"select row_group_id, any_value(row_group_num_rows) from parquet_metadata('{path}')"
    " group by 1 order by 1"
).fetchall()
if sum(n for _, n in groups) != rows:
    fail(f"row groups hold {sum(n for _, n in groups)} rows, file {rows}")
ordered = con.execute(
    f"select event_type, timestamp_ns, event_id from {src} order by file_row_number"
).fetchall()
start = 0
for gid, n in groups:
    part = ordered[start : start + n]
    start += n
    types = {t for t, _, _ in part}
    if len(types) != 1:
        fail(f"row group {gid} holds types {types}")
    keys = [(ts, eid) for _, ts, eid in part]
    if keys != sorted(keys):
        fail(f"row group {gid} is not sorted by (timestamp, event_id)")
print(
    f"validate_parquet: {rows} rows in {len(groups)} row groups, {len(want)} types, every"
    f" event and payload as stored; perf_sample value sum {got_sum}, kv.wal_sync bytes {got_bytes}"
)
