#!/usr/bin/env bash
# No crate's modules import each other in a circle (every crates/*/src), and no store file grows
# past ~500 lines (scripts/check-module-cycles.py). Takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The checker itself finds a circle, also one hidden behind a crate-root re-export.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/direct" "$tmp/reexport"
printf 'use crate::b::B;\npub struct A;\n' > "$tmp/direct/a.rs"
printf 'pub fn f() -> crate::a::A { crate::a::A }\npub struct B;\n' > "$tmp/direct/b.rs"
printf 'mod a;\nmod b;\npub use a::A;\n' > "$tmp/reexport/lib.rs"
printf 'use crate::b::B;\npub struct A;\n' > "$tmp/reexport/a.rs"
printf 'use crate::A;\npub struct B;\n' > "$tmp/reexport/b.rs"
for case in direct reexport; do
    if python3 scripts/check-module-cycles.py "$tmp/$case" > /dev/null; then
        echo "check-module-cycles.py missed the $case circle" >&2
        exit 1
    fi
done

status=0
for src in crates/*/src; do
    args=()
    if [ "$src" = crates/northstar-store/src ]; then
        args=(--max-lines 500)
    fi
    timeout 60 python3 scripts/check-module-cycles.py "$src" "${args[@]}" || status=1
done
exit "$status"
