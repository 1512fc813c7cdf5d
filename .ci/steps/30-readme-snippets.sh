#!/usr/bin/env bash
# The user-facing snippets, run exactly as written: README.md's "Instrumenting code" program
# (a ```toml Cargo.toml and a ```rust main.rs) is copied into a fresh crate next to a
# `northstar` checkout (the path its [dependencies] line names), built and run; then the
# `northstar` tool must find its events (at least two types, the user-defined one with typed
# fields) and verify the store clean. docs/TESTING.md's snippets run the same way (the loom one
# under --cfg loom). Bounded: each cargo call builds a handful of crates.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$(pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The snippets' crates build apart from the workspace (their own lock file and target).
snippets_target="$repo/target/snippets"

# extract FILE SECTION N LANG OUT: the N-th ```LANG block (0-based) of the section of FILE
# whose heading is SECTION (up to the next heading of the same or a higher level).
extract() {
    python3 - "$@" <<'PY'
import re, sys
path, section, n, lang, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
text = open(path).read()
m = re.search(r'^(#+) ' + re.escape(section) + r'\s*$', text, re.M)
if not m:
    sys.exit(f"{path}: no section {section!r}")
level = len(m.group(1))
rest = text[m.end():]
end = re.search(r'^#{1,%d} ' % level, rest, re.M)
body = rest[:end.start()] if end else rest
blocks = re.findall(r'^```' + re.escape(lang) + r'[^\n]*\n(.*?)^```', body, re.M | re.S)
if len(blocks) <= n:
    sys.exit(f"{path}: section {section!r} has {len(blocks)} ```{lang} blocks, wanted #{n}")
open(out, 'w').write(blocks[n])
PY
}

ln -s "$repo" "$work/northstar"

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
    for section in "Capturing events in a test" "Inside a loom model"; do
        grep -q "^## $section$" docs/TESTING.md || continue
        echo "--- docs/TESTING.md: $section"
        t="$work/testing-$(echo "$section" | tr ' ' '-')"
        mkdir -p "$t/tests"
        extract docs/TESTING.md "$section" 0 toml "$t/Cargo.toml"
        extract docs/TESTING.md "$section" 0 rust "$t/tests/capture.rs"
        mkdir -p "$t/src" && : > "$t/src/lib.rs"
        if [ "$section" = "Inside a loom model" ]; then
            (cd "$t" && RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$repo/target/snippets-loom" \
                cargo test -j2 --release --quiet)
        else
            (cd "$t" && CARGO_TARGET_DIR="$snippets_target" cargo test -j2 --quiet)
        fi
    done
fi
echo "snippets ok"
