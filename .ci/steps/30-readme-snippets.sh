#!/usr/bin/env bash
# The user-facing snippets, run exactly as written: README.md's "Instrumenting code" program
# (a ```toml Cargo.toml and a ```rust main.rs) is copied into a fresh crate next to a
# `northstar` checkout (the path its [dependencies] line names), built and run; then the
# `northstar` tool must find its events (at least two types, the user-defined one with typed
# fields) and verify the store clean. docs/TESTING.md's capture snippet runs the same way (its
# loom one: 32-loom-snippet.sh). Bounded: each cargo call builds a handful of crates.
set -euo pipefail
cd "$(dirname "$0")/../.."
# extract FILE SECTION N LANG OUT and snippet_workspace (shared with the other snippet steps).
source .ci/steps/lib/extract.sh
snippet_workspace

echo "--- README.md: Instrumenting code"
app="$work/kv-app"
mkdir -p "$app/src"
extract README.md "Instrumenting code" 0 toml "$app/Cargo.toml"
extract README.md "Instrumenting code" 0 rust "$app/src/main.rs"
(cd "$app" && CARGO_TARGET_DIR="$snippets_target" cargo run -j2 --release --quiet 2> "$work/app.stderr")
cat "$work/app.stderr"
if grep -q "northstar:" "$work/app.stderr"; then
    echo "the README program reported lost events" >&2
    exit 1
fi
cargo build -j2 --release --quiet -p northstar-cli
ns="$repo/target/release/northstar"
data="$app/northstar-data"
"$ns" verify --dir "$data"
"$ns" stats --dir "$data" --format json > "$work/stats.json"
python3 - "$work/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
per = s["events_per_type"]
assert len(per) >= 2, per
assert per.get("agent_operation") == 1000, per
assert per.get("perf_sample") == 1000, per
assert per.get("kv.wal_sync") == 1, per
print("stats:", per)
PY
"$ns" query --dir "$data" --type kv.wal_sync --format json > "$work/wal.json"
python3 - "$work/wal.json" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
e = json.loads(lines[0])
assert e["event_type"] == "kv.wal_sync", e
assert e["payload"] == {"bytes": 4096, "duration_ns": 1250000, "file": "wal-0001.log", "unit": "bytes"}, e
print("query:", lines[0])
PY

if [ -f docs/TESTING.md ]; then
    # "Inside a loom model" runs in .ci/steps/32-loom-snippet.sh.
    for section in "Capturing events in a test"; do
        grep -q "^## $section$" docs/TESTING.md || continue
        echo "--- docs/TESTING.md: $section"
        t="$work/testing-$(echo "$section" | tr ' ' '-')"
        mkdir -p "$t/tests"
        extract docs/TESTING.md "$section" 0 toml "$t/Cargo.toml"
        extract docs/TESTING.md "$section" 0 rust "$t/tests/capture.rs"
        mkdir -p "$t/src" && : > "$t/src/lib.rs"
        (cd "$t" && CARGO_TARGET_DIR="$snippets_target" cargo test -j2 --quiet)
    done
fi
echo "snippets ok"
