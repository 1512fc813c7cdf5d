#!/usr/bin/env bash
# crates/northstar-json/README.md's program, run exactly as written: its ```toml Cargo.toml and
# ```rust main.rs are copied into a fresh crate next to a `northstar` checkout (the path its
# [dependencies] lines name), built and run (the program asserts what it reads and writes);
# its output must be the README's ```text block. Bounded: one small crate build.
set -euo pipefail
cd "$(dirname "$0")/../.."
# extract FILE SECTION N LANG OUT and snippet_workspace (shared with the other snippet steps).
source .ci/steps/lib/extract.sh
snippet_workspace
app="$work/json-app"
mkdir -p "$app/src"
readme=crates/northstar-json/README.md
extract "$readme" "Reading and writing an event" 0 toml "$app/Cargo.toml"
extract "$readme" "Reading and writing an event" 0 rust "$app/src/main.rs"
extract "$readme" "Reading and writing an event" 0 text "$work/expected.txt"
(cd "$app" && CARGO_TARGET_DIR="$snippets_target" cargo run -j2 --release --quiet > "$work/out.txt")
diff -u "$work/expected.txt" "$work/out.txt"
echo "northstar-json README: program ran, output as documented"
