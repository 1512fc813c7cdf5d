"""Loads `northstar export --format clickhouse` rows into a real ClickHouse engine (chDB,
in-process) through the table `northstar export --schema` prints, and checks them: every row
inserted, timestamps exact to the nanosecond, payloads valid JSON.
With EVENTS_JSONL (`northstar query --format json`): the rows per event type (user-defined
types included) equal the store's, and user events' typed fields read back with ClickHouse's
JSON functions as the stored values (integers as integers, floats as floats, strings).
Usage: validate_clickhouse.py SCHEMA_FILE ROWS_FILE EXPECTED_ROWS [EVENTS_JSONL]"""
import collections
import json
import sys

from chdb import session

STANDARD = {"agent_session_started", "agent_session_ended", "agent_operation", "review_note",
            "review_summary", "perf_sample", "perf_regression", "debug_session", "debug_snapshot",
            "vcs_commit", "vcs_branch"}
schema, rows, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = session.Session()
s.query("CREATE DATABASE IF NOT EXISTS ci")
s.query(open(schema).read().replace("northstar_events", "ci.northstar_events"))
columns = s.query(
    "SELECT name, type FROM system.columns WHERE database = 'ci' AND table = 'northstar_events' "
    "ORDER BY position",
    "TabSeparated",
).bytes().decode().strip().splitlines()
# TabSeparated output escapes quotes (`Enum8(\'public\' = 0, ...)`), as a SQL string literal needs.
structure = ", ".join(line.replace("\t", " ") for line in columns)
s.query(f"INSERT INTO ci.northstar_events SELECT * FROM file('{rows}', 'JSONEachRow', '{structure}')")


def one(sql):
    return int(s.query(sql, "TabSeparated").bytes().decode().strip())


count = one("SELECT count() FROM ci.northstar_events")
inexact = one("SELECT countIf(toUnixTimestamp64Nano(timestamp) != timestamp_ns) FROM ci.northstar_events")
bad_json = one("SELECT countIf(NOT isValidJSON(payload)) FROM ci.northstar_events")
if (count, inexact, bad_json) != (expected, 0, 0):
    sys.exit(f"ClickHouse: {count} rows (expected {expected}), {inexact} inexact timestamps, {bad_json} invalid payloads")
print(f"ClickHouse export: {count} rows loaded through the printed DDL, timestamps exact, payloads valid JSON")

if len(sys.argv) > 4:
    want = collections.Counter()
    user = []
    with open(sys.argv[4]) as f:
        for line in f:
            e = json.loads(line)
            want[e["event_type"]] += 1
            if e.get("event_id") is not None and len(user) < 200 and any(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in e["payload"].values()
            ) and e["event_type"] not in ("agent_operation", "perf_sample"):
                user.append(e)
    got = collections.Counter()
    for line in s.query("SELECT event_type, count() FROM ci.northstar_events GROUP BY event_type", "TabSeparated").bytes().decode().splitlines():
        t, n = line.split("\t")
        got[t] = int(n)
    if got != want:
        sys.exit(f"ClickHouse: rows per type {dict(got)} differ from the store's {dict(want)}")
    checked = 0
    for e in user:
        for k, v in e["payload"].items():
            if isinstance(v, bool):
                sql, conv = f"JSONExtractBool(payload, '{k}')", lambda x: x == "1"
            elif isinstance(v, int):
                sql, conv = f"JSONExtract(payload, '{k}', '{'UInt64' if v >= 0 else 'Int64'}')", int
            elif isinstance(v, float):
                sql, conv = f"JSONExtractFloat(payload, '{k}')", float
            elif isinstance(v, str) and "\\" not in v and "\t" not in v and "\n" not in v:
                sql, conv = f"JSONExtractString(payload, '{k}')", str
            else:
                continue
            typ = s.query(f"SELECT JSONType(payload, '{k}') FROM ci.northstar_events WHERE event_id = {e['event_id']}", "TabSeparated").bytes().decode().strip()
            out = s.query(f"SELECT {sql} FROM ci.northstar_events WHERE event_id = {e['event_id']}", "TabSeparated").bytes().decode().strip()
            if conv(out) != v:
                sys.exit(f"ClickHouse: event {e['event_id']} ({e['event_type']}) field {k}: {out!r} ({typ}), stored {v!r}")
            if isinstance(v, int) and not isinstance(v, bool) and typ not in ("Int64", "UInt64"):
                sys.exit(f"ClickHouse: event {e['event_id']} field {k} is {typ} in the payload, stored as an integer")
            checked += 1
    types = sum(1 for t in got if t not in STANDARD)
    print(f"ClickHouse export: rows per type match the store ({types} user-defined types, "
          f"{sum(n for t, n in got.items() if t not in STANDARD)} user events); {checked} typed user-event values read back exactly")
