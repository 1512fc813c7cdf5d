#!/usr/bin/env bash
# docs/TESTING.md's "Inside a loom model" example, run exactly as written: its ```toml block
# becomes the Cargo.toml and its ```rust block tests/loom_wal.rs of a fresh crate in a temp
# dir next to a `northstar` link to this checkout (the path its [dependencies] line names),
# then `cargo test` under RUSTFLAGS="--cfg loom" with a bounded LOOM_MAX_PREEMPTIONS. The test
# must really run (not compile to nothing under a missing cfg). Bounded: a loom build of the
# facade and its store (about 2 minutes on 2 cores the first time), the model in seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$(pwd)"
source .ci/steps/lib/extract.sh
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ln -s "$repo" "$work/northstar"

section="Inside a loom model"
echo "--- docs/TESTING.md: $section"
t="$work/kv-loom"
mkdir -p "$t/src" "$t/tests"
extract docs/TESTING.md "$section" 0 toml "$t/Cargo.toml"
extract docs/TESTING.md "$section" 0 rust "$t/tests/loom_wal.rs"
: > "$t/src/lib.rs"
# Its own target dir: a RUSTFLAGS change would otherwise rebuild the snippets' other builds.
(cd "$t" && RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
    CARGO_TARGET_DIR="$repo/target/snippets-loom" \
    timeout 1200 cargo test -j2 --release -- --test-threads=1 2>&1) | tee "$work/out.txt"
grep -q "test exactly_one_wal_sync_per_commit_in_every_interleaving ... ok" "$work/out.txt" || {
    echo "the loom model did not run" >&2
    exit 1
}
echo "loom snippet ok"
