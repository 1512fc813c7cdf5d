"""Loads `northstar export --format clickhouse` rows into a real ClickHouse engine (chDB,
in-process) through the table `northstar export --schema` prints, and checks them: every row
inserted, timestamps exact to the nanosecond, payloads valid JSON.
Usage: validate_clickhouse.py SCHEMA_FILE ROWS_FILE EXPECTED_ROWS"""
import sys

from chdb import session

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
