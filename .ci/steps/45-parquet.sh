#!/usr/bin/env bash
# Parquet export (issue 13 §2): `northstar export --format parquet` of a short demo store,
# read back with DuckDB and compared with `northstar query --format json`: counts per type,
# every event id, time and payload, typed sums through DuckDB's JSON functions (perf_sample
# values, kv.wal_sync bytes), and the documented order (one type per row group, sorted by time).
# Bounded: every step runs under `timeout`; about a minute once the CLI is built.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m pip install --quiet --disable-pip-version-check duckdb \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages duckdb
timeout 1800 cargo build -j2 --release -p northstar-cli
ns="$PWD/target/release/northstar"

store="$work/store"
timeout 120 "$ns" demo --dir "$store" --duration 0.5 --threads 2 >/dev/null
timeout 120 "$ns" query --dir "$store" --format json >"$work/events.jsonl"
users=$(grep -c '"event_type":"kv\.' "$work/events.jsonl" || true)
echo "store: $(wc -l <"$work/events.jsonl") events, $users of them user-defined"
[ "$users" -gt 0 ] || { echo "the demo store holds no user-defined events: nothing to test"; exit 1; }

timeout 120 "$ns" export --dir "$store" --format parquet --out "$work/events.parquet"
timeout 300 python3 .ci/validate_parquet.py "$work/events.parquet" "$work/events.jsonl"

# A filtered export holds exactly the selected events.
timeout 120 "$ns" export --dir "$store" --format parquet --type perf_sample --type kv.wal_sync --out "$work/some.parquet"
timeout 120 "$ns" query --dir "$store" --type perf_sample --type kv.wal_sync --format json >"$work/some.jsonl"
timeout 300 python3 .ci/validate_parquet.py "$work/some.parquet" "$work/some.jsonl"
