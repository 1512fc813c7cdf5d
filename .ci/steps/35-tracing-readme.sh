#!/usr/bin/env bash
# crates/northstar-tracing/README.md's two programs (the layer on `Registry`, then the
# bridge's own subscriber), run exactly as written: its ```toml Cargo.toml and each ```rust
# main.rs are copied into a fresh crate next to a `northstar` checkout (the path its
# [dependencies] lines name), built and run; then `northstar query` must show the tracing
# event (level, target, typed fields) and the spans (begin with parent, end with duration),
# nothing below the filter, and `northstar verify` must find the store clean. Bounded: one
# small crate build (the second program reuses its target dir) plus the CLI.
set -euo pipefail
cd "$(dirname "$0")/../.."
# snippet_workspace (shared with the other snippet steps; this step's own `extract` below
# takes no section).
source .ci/steps/lib/extract.sh
snippet_workspace

# extract FILE N LANG OUT: the N-th ```LANG block (0-based) of FILE.
extract() {
    python3 - "$@" <<'PY'
import re, sys
path, n, lang, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
blocks = re.findall(r'^```' + re.escape(lang) + r'[^\n]*\n(.*?)^```', open(path).read(), re.M | re.S)
if len(blocks) <= n:
    sys.exit(f"{path}: {len(blocks)} ```{lang} blocks, wanted #{n}")
open(out, 'w').write(blocks[n])
PY
}

cargo build -j2 --release --quiet -p northstar-cli
ns="$repo/target/release/northstar"

# check N: builds and runs the README's N-th rust program, then checks its store.
check() {
app="$work/traced-app-$1"
mkdir -p "$app/src"
extract crates/northstar-tracing/README.md 0 toml "$app/Cargo.toml"
extract crates/northstar-tracing/README.md "$1" rust "$app/src/main.rs"
(cd "$app" && CARGO_TARGET_DIR="$snippets_target" cargo run -j2 --release --quiet 2> "$work/app.stderr")
cat "$work/app.stderr"
if grep -q "northstar:" "$work/app.stderr"; then
    echo "the tracing README program #$1 reported lost events" >&2
    exit 1
fi
data="$app/northstar-data"
"$ns" verify --dir "$data"
"$ns" query --dir "$data"
"$ns" query --dir "$data" --format json > "$work/all.json"
python3 - "$work/all.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
def find(pred, what):
    hits = [r for r in rows if pred(r)]
    assert len(hits) == 1, (what, rows)
    return hits[0]
p = lambda r: r["payload"]
ev = find(lambda r: p(r).get("kind") == "event" and p(r).get("message") == "fetched user:42", "the info event")
assert p(ev)["level"] == "INFO" and p(ev)["target"] == "traced_app", ev
assert p(ev)["bytes"] == 4096 and p(ev)["cached"] is False, ev
warn = find(lambda r: p(r).get("target") == "kv::wal", "the warn event")
assert p(warn)["level"] == "WARN" and p(warn)["lag_ms"] == 12.5, warn
assert not any("below the filter" in json.dumps(r) for r in rows), "a debug event passed the INFO filter"
req = find(lambda r: r["event_type"] == "request" and p(r)["kind"] == "span_begin", "request begin")
fetch = find(lambda r: r["event_type"] == "fetch" and p(r)["kind"] == "span_begin", "fetch begin")
assert p(fetch)["parent"] == p(req)["span_id"] and p(req)["parent"] == 0, (req, fetch)
assert p(fetch)["key"] == "user:42" and p(fetch)["attempt"] == 1, fetch
assert p(ev)["span"] == p(fetch)["span_id"], (ev, fetch)
for begin in (req, fetch):
    end = find(lambda r: r["event_type"] == begin["event_type"] and p(r)["kind"] == "span_end", "end")
    assert p(end)["span_id"] == p(begin)["span_id"], end
    assert isinstance(p(end)["duration"], int) and p(end)["duration"] > 0, end
assert len(rows) == 6, rows
print("tracing README: 2 events and 2 spans stored and queried")
PY
}

check 0
check 1
