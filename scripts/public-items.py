#!/usr/bin/env python3
"""Counts a library's public API from its rustdoc JSON.

Usage: public-items.py [--build] CRATE [CRATE...]

For each crate (a package name such as `northstar-core`) reads
target/doc/<crate_name>.json, the output of

    cargo +nightly rustdoc -p CRATE --lib -- -Z unstable-options --output-format json

(run first with --build), and prints three numbers:

- items: every item of the crate rustdoc documents (modules, types, functions, constants,
  macros, methods, fields, variants, associated items; trait-impl methods such as
  `Debug::fmt` included), except re-exports and impl blocks themselves;
- declared pub: of those, the ones declared `pub` (trait-impl items inherit the trait's
  visibility and are left out);
- paths: the crate's named items reachable by a path (modules, types, functions, constants,
  macros, traits), as rustdoc's `paths` table lists them.

Items behind `#[doc(hidden)]` are not documented, so not counted.
"""
import json
import os
import subprocess
import sys

SKIP = {"use", "import", "impl", "extern_crate"}


def kind(item):
    inner = item.get("inner")
    if isinstance(inner, dict) and inner:
        return next(iter(inner))
    return item.get("kind", "?")


def counts(doc):
    local = [i for i in doc["index"].values() if i.get("crate_id") == 0 and kind(i) not in SKIP]
    declared = [i for i in local if i.get("visibility") == "public"]
    paths = [p for p in doc["paths"].values() if p.get("crate_id") == 0]
    return len(local), len(declared), len(paths)


def main():
    args = sys.argv[1:]
    build = "--build" in args
    crates = [a for a in args if a != "--build"]
    if not crates:
        print(__doc__, file=sys.stderr)
        return 2
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    print(f"{'crate':<24} {'items':>6} {'declared pub':>13} {'paths':>6}")
    for crate in crates:
        if build:
            subprocess.run(
                ["cargo", "+nightly", "rustdoc", "-p", crate, "--lib", "--",
                 "-Z", "unstable-options", "--output-format", "json"],
                cwd=root, check=True)
        path = os.path.join(target, "doc", crate.replace("-", "_") + ".json")
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        items, declared, paths = counts(doc)
        print(f"{crate:<24} {items:>6} {declared:>13} {paths:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
