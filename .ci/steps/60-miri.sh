#!/usr/bin/env bash
# Miri: the core's unsafe code (the SPSC ring, the ring registry, the recorder's self-referential
# ring storage) run under Rust's UB checker, with strict provenance. Isolation is off because the
# recorder's clock reads the OS clock. About 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! cargo +nightly --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
rustup component add --toolchain nightly miri rust-src
export CARGO_TARGET_DIR=target/miri
MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-disable-isolation" \
    timeout 1200 cargo +nightly miri test -j2 -p northstar-core --lib
