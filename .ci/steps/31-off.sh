#!/usr/bin/env bash
# `off` means off: a crate using every macro (event! with a spec payload and a user-defined
# event, perf_sample! with and without a rate, operation!) through the `northstar` facade with
# the `off` feature builds without std for the host and thumbv7em-none-eabihf, and with std as a
# release binary whose symbols name no recorder. About a minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$(pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="$repo/target/off-check"

body='
pub fn instrumented(key: &str, n: u64) -> u64 {
    northstar::perf_sample!("get_latency_ns", n, "ns", "benchmark" => "btree_point_get");
    northstar::perf_sample!(rate = 1000; "queue_depth", n, "items");
    northstar::event!(northstar::events::AgentSessionEnded { session_id: n }, actor = 1);
    northstar::event!("kv.wal_sync", bytes = n, file = key, unit = static "bytes");
    let mut op = northstar::operation!("get", "btree", key, agent = 1, session = 2);
    op.fail();
    n + op.operation_id()
}'

mkdir -p "$work/nostd/src" "$work/withstd/src"
cat > "$work/nostd/Cargo.toml" <<TOML
[package]
name = "off-nostd"
version = "0.1.0"
edition = "2021"
[dependencies]
northstar = { path = "$repo/crates/northstar", default-features = false, features = ["off"] }
[workspace]
TOML
printf '#![no_std]\n%s\n' "$body" > "$work/nostd/src/lib.rs"
for target in "" thumbv7em-none-eabihf; do
    echo "--- no_std, off, ${target:-host}"
    (cd "$work/nostd" && RUSTFLAGS="-D warnings" cargo build -j2 --release ${target:+--target $target})
done

cat > "$work/withstd/Cargo.toml" <<TOML
[package]
name = "off-withstd"
version = "0.1.0"
edition = "2021"
[dependencies]
northstar = { path = "$repo/crates/northstar", features = ["off"] }
[workspace]
TOML
printf '%s\nfn main() {\n    let arg = std::env::args().count() as u64;\n    println!("{}", instrumented("k", arg));\n    let _guard = northstar::init("/nonexistent/off").expect("off: init opens nothing");\n}\n' "$body" > "$work/withstd/src/main.rs"
echo "--- std, off, release binary"
(cd "$work/withstd" && RUSTFLAGS="-D warnings" cargo build -j2 --release)
bin="$CARGO_TARGET_DIR/release/off-withstd"
"$bin"
# Error types' formatting may stay (init returns a StoreError, which can wrap one); code
# that records may not.
if nm -C "$bin" | grep -E 'northstar_core::(recorder::(Recorder|at_exit|GLOBAL|NEXT_ID)|ring::|registry::|user::|scope::)' ; then
    echo "the off binary still holds recorder code (symbols above)" >&2
    exit 1
fi
echo "off: no recorder symbols"
