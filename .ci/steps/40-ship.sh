#!/usr/bin/env bash
# Export and ship (issue 13), against real receivers:
# - a Perfetto trace checked with Perfetto's own protos against the store's events;
# - OTLP exports (JSON and protobuf) parsed strictly with opentelemetry-proto;
# - `northstar ship` into a local OTLP/HTTP receiver that injects 503 + Retry-After, 429, a
#   partial success and a dropped connection, killed with SIGKILL mid-batch and restarted:
#   every event arrives, duplicates at most one batch, a second --once sends nothing;
# - every comparison is against all stored events, user-defined ones included;
# - `northstar ship` into Debian's clickhouse-server (18.16) on a free loopback port, killed
#   with SIGKILL mid-way and restarted: count = stored, no duplicate event_id, a second --once
#   sends nothing; a table with fewer columns gets only those.
# Bounded: every step runs under `timeout`; the whole script takes about two minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

python3 -m pip install --quiet --disable-pip-version-check perfetto opentelemetry-proto
if ! command -v clickhouse-server >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server >/dev/null
fi
cargo build -j2 --release -p northstar-cli
ns="$PWD/target/release/northstar"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

store="$work/store"
timeout 120 "$ns" demo --dir "$store" --duration 0.5 --threads 2 >/dev/null
# Every check below compares against every stored event, user-defined ones (the demo's
# kv.wal_sync and kv.btree_apply) included.
"$ns" query --dir "$store" --format json >"$work/events.jsonl"
events=$(wc -l <"$work/events.jsonl")
users=$(grep -c '"event_type":"kv\.' "$work/events.jsonl" || true)
echo "store: $events events, $users of them user-defined"
[ "$users" -gt 0 ] || { echo "the demo store holds no user-defined events: nothing to test"; exit 1; }

echo "--- Perfetto: the whole store, and a type filter"
timeout 120 "$ns" export --dir "$store" --format perfetto --out "$work/trace.perfetto"
timeout 300 python3 .ci/validate_perfetto.py "$work/trace.perfetto" "$work/events.jsonl"
"$ns" export --dir "$store" --format perfetto --type agent_session_started --type perf_sample --type kv.wal_sync --out "$work/some.perfetto"
"$ns" query --dir "$store" --type agent_session_started --type perf_sample --type kv.wal_sync --format json >"$work/some.jsonl"
timeout 120 python3 .ci/validate_perfetto.py "$work/some.perfetto" "$work/some.jsonl"

echo "--- OTLP export: JSON and protobuf, every event on its signal"
timeout 120 "$ns" export --dir "$store" --format otlp --out "$work/otlp.jsonl"
timeout 120 "$ns" export --dir "$store" --format otlp-proto --out "$work/otlp"
timeout 600 python3 .ci/validate_otlp.py "$work/otlp.jsonl" "$events" "$work/events.jsonl" "$work/otlp"

echo "--- ship to an OTLP/HTTP receiver with injected faults, SIGKILL mid-batch"
touch "$work/otlp.log"
python3 .ci/otlp_receiver.py "$work/otlp.port" "$work/otlp.log" 0.1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/otlp.port" ] && break; sleep 0.1; done
otlp="http://127.0.0.1:$(cat "$work/otlp.port")"
batch=50
"$ns" ship --dir "$store" --otlp "$otlp" --once --batch "$batch" --cursor "$work/otlp.cursor" &
shipper=$!
for _ in $(seq 1 600); do
    [ "$(wc -l <"$work/otlp.log" 2>/dev/null || echo 0)" -ge 12 ] && break
    sleep 0.05
done
if ! kill -KILL "$shipper" 2>/dev/null; then
    echo "the OTLP shipper finished before the kill: nothing was tested"
    exit 1
fi
wait "$shipper" 2>/dev/null || true
echo "killed the shipper after $(wc -l <"$work/otlp.log") acknowledged requests"
timeout 300 "$ns" ship --dir "$store" --otlp "$otlp" --once --batch "$batch" --cursor "$work/otlp.cursor"
before=$(wc -l <"$work/otlp.log")
timeout 60 "$ns" ship --dir "$store" --otlp "$otlp" --once --batch "$batch" --cursor "$work/otlp.cursor" 2>"$work/again.txt"
cat "$work/again.txt"
grep -q "^shipped 0 events" "$work/again.txt"
[ "$(wc -l <"$work/otlp.log")" -eq "$before" ] || { echo "a second --once sent requests"; exit 1; }
python3 - "$work/otlp.log" "$work/events.jsonl" "$batch" "$store" <<'PY'
import collections, glob, json, struct, sys
log, events, batch, store = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
want = {json.loads(l)["event_id"] for l in open(events)}
# (signal path, event id) -> requests holding it: a user event may be on metrics and logs, and
# on several metric points of one request (one per numeric field).
seen = collections.Counter()
faults = collections.Counter()
for line in open(log):
    d = json.loads(line)
    if "error" in d:
        sys.exit(f"the receiver could not decode a request: {d['error']}")
    seen.update((d["path"], i) for i in set(d["ids"]))
    faults[d["fault"]] += 1
ids = {i for _, i in seen}
missing = want - ids
if missing:
    sys.exit(f"{len(missing)} events never reached the receiver")
if ids - want:
    sys.exit("the receiver got events the store does not hold")
dups = sum(n - 1 for n in seen.values())
# One batch: whole blocks from the cursor (a block boundary) until it holds --batch events.
# The largest batch the shipper can send is read from the store's block headers
# (docs/FORMAT.md: segment header_len at byte 24; block body_len at +8, record_count at +12,
# 48-byte header), and a user event may travel on two signals (metrics and logs).
counts = []
for path in sorted(glob.glob(f"{store}/*.nss")):
    data = open(path, "rb").read()
    at = struct.unpack_from("<I", data, 24)[0]
    while at + 48 <= len(data) and data[at:at + 4] == b"NBLK":
        body_len, records = struct.unpack_from("<II", data, at + 8)
        counts.append(records)
        at += 48 + body_len
largest = 0
for i in range(len(counts)):
    total = 0
    for n in counts[i:]:
        total += n
        if total >= batch:
            break
    largest = max(largest, total)
if not counts or sum(counts) != len(want):
    sys.exit(f"block headers count {sum(counts)} events, the store holds {len(want)}")
if dups > 2 * largest:
    sys.exit(f"{dups} duplicates: more than one batch re-sent (the largest batch holds {largest} events)")
if faults["partial"] != 1:
    sys.exit("the partial success was not exercised")
print(f"OTLP receiver: all {len(want)} events (user-defined ones included) arrived through 503/429/partial success/dropped connection and a SIGKILL; {dups} duplicates (one batch at most: the largest holds {largest} events)")
PY

echo "--- ship to ClickHouse 18.16, SIGKILL mid-way"
ch="$work/clickhouse"
mkdir -p "$ch/data" "$ch/tmp" "$ch/log" "$ch/user_files"
http_port=$(free_port)
tcp_port=$(free_port)
cat >"$ch/users.xml" <<'XML'
<yandex>
  <profiles><default></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
XML
cat >"$ch/config.xml" <<XML
<yandex>
  <logger><level>warning</level><log>$ch/log/server.log</log><errorlog>$ch/log/error.log</errorlog><console>0</console></logger>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$ch/data/</path>
  <tmp_path>$ch/tmp/</tmp_path>
  <user_files_path>$ch/user_files/</user_files_path>
  <users_config>$ch/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>20</max_concurrent_queries>
  <timezone>UTC</timezone>
</yandex>
XML
clickhouse-server --config-file="$ch/config.xml" >"$ch/stdout" 2>&1 &
pids+=($!)
chq() { curl -sS --fail-with-body "http://127.0.0.1:$http_port/" --data-binary "$1"; }
for _ in $(seq 1 120); do curl -s "http://127.0.0.1:$http_port/ping" >/dev/null 2>&1 && break; sleep 0.5; done
echo "ClickHouse $(chq 'SELECT version()') on 127.0.0.1:$http_port"
# `export --schema` prints the DDL for current servers; 18.16 has no DateTime64 nor TTL, so the
# table is the compatible layout (the shipper describes it and sends what it has).
chq "$(cat <<'SQL'
CREATE TABLE northstar_events
(
    event_id     UInt64,
    event_type   String,
    event_code   UInt16,
    timestamp    DateTime('UTC'),
    timestamp_ns UInt64,
    actor_id     UInt64,
    session_ids  Array(UInt64),
    visibility   Enum8('public' = 0, 'team' = 1, 'private' = 2),
    payload      String
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(timestamp)
ORDER BY event_id
SQL
)"
"$ns" ship --dir "$store" --clickhouse "http://127.0.0.1:$http_port" --table northstar_events \
    --once --batch 100 --cursor "$work/ch.cursor" &
shipper=$!
for _ in $(seq 1 600); do
    n=$(chq "SELECT count() FROM northstar_events")
    [ "$n" -gt 0 ] && break
    sleep 0.02
done
kill -KILL "$shipper" 2>/dev/null || true
wait "$shipper" 2>/dev/null || true
at_kill=$(chq "SELECT count() FROM northstar_events")
echo "killed the shipper with $at_kill of $events rows in the table"
[ "$at_kill" -lt "$events" ] || { echo "the shipper finished before the kill: nothing was tested"; exit 1; }
timeout 300 "$ns" ship --dir "$store" --clickhouse "http://127.0.0.1:$http_port" --table northstar_events \
    --once --batch 100 --cursor "$work/ch.cursor"
timeout 60 "$ns" ship --dir "$store" --clickhouse "http://127.0.0.1:$http_port" --table northstar_events \
    --once --batch 100 --cursor "$work/ch.cursor" 2>"$work/again.txt"
cat "$work/again.txt"
grep -q "^shipped 0 events" "$work/again.txt"
read -r count uniq sum_ns < <(chq "SELECT count(), uniqExact(event_id), sum(timestamp_ns) FROM northstar_events FORMAT TabSeparated")
want_sum=$(python3 -c 'import json,sys; print(sum(json.loads(l)["timestamp"] for l in open(sys.argv[1])) % 2**64)' "$work/events.jsonl")
echo "ClickHouse: $count rows, $uniq distinct event ids (stored: $events)"
[ "$count" -eq "$events" ] && [ "$uniq" -eq "$events" ] || { echo "not exactly once"; exit 1; }
[ "$sum_ns" = "$want_sum" ] || { echo "timestamps differ: $sum_ns vs $want_sum"; exit 1; }
read -r ch_users ch_bytes < <(chq "SELECT count(), sum(visitParamExtractUInt(payload, 'bytes')) FROM northstar_events WHERE event_type = 'kv.wal_sync' FORMAT TabSeparated")
read -r want_users want_bytes < <(python3 -c 'import json,sys; w=[json.loads(l) for l in open(sys.argv[1])]; w=[e for e in w if e["event_type"] == "kv.wal_sync"]; print(len(w), sum(e["payload"]["bytes"] for e in w))' "$work/events.jsonl")
echo "ClickHouse: $ch_users kv.wal_sync rows, sum(bytes) $ch_bytes (stored: $want_users, $want_bytes)"
[ "$ch_users" -eq "$want_users" ] && [ "$ch_bytes" -eq "$want_bytes" ] || { echo "user events differ"; exit 1; }

echo "--- a table with fewer columns gets only those"
chq "CREATE TABLE slim (event_id UInt64, event_type String, timestamp_ns UInt64, payload String) ENGINE = MergeTree ORDER BY event_id"
timeout 120 "$ns" ship --dir "$store" --clickhouse "http://127.0.0.1:$http_port" --table slim --once --cursor "$work/slim.cursor"
read -r count ops < <(chq "SELECT count(), countIf(event_type = 'agent_operation') FROM slim FORMAT TabSeparated")
want_ops=$(grep -c '"event_type":"agent_operation"' "$work/events.jsonl")
[ "$count" -eq "$events" ] && [ "$ops" -eq "$want_ops" ] || { echo "slim table: $count rows, $ops operations"; exit 1; }
echo "slim table: $count rows, $ops operations"
echo "40-ship: all checks passed"
