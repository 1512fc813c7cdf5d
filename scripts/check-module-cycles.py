#!/usr/bin/env python3
"""Fails if the modules of a crate import each other in a circle.

Usage: check-module-cycles.py CRATE_SRC_DIR [--max-lines N]

Builds the graph "module A names `crate::B`" (in `use crate::...` lines, grouped
`use crate::{b, c::D}` imports, inline paths such as `crate::b::f()` and `$crate::b::...` in
macros) over the files of CRATE_SRC_DIR (one module per file; `foo/bar.rs` is module `foo`, a
submodule of its parent), prints every cycle found and exits 1 if there is one. A name the crate
root re-exports (`pub use b::D;` in lib.rs or main.rs) counts as its module: `crate::D` is an
import of `b`, so a re-export cannot hide an edge. The crate root itself is the facade, not a
node. With --max-lines N it also fails on a file of more than N lines. Comments are ignored;
`#[cfg(test)]` code counts like any other.
"""
import os
import re
import sys


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def modules(src):
    out = {}
    for root, _dirs, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)
            top = rel.split(os.sep)[0]
            top = top[:-3] if top.endswith(".rs") else top
            out.setdefault(top, []).append(os.path.join(root, f))
    return out


ROOTS = ("lib.rs", "main.rs")


def root_reexports(src, names):
    """Names the crate root re-exports from one of its modules: {name: module}."""
    out = {}
    for root in ROOTS:
        path = os.path.join(src, root)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as fh:
            text = strip_comments(fh.read())
        for m in re.finditer(r"\buse\s+(?:crate::|self::)?([A-Za-z_][A-Za-z0-9_]*)::([^;]*);", text):
            module, rest = m.group(1), m.group(2)
            if module not in names:
                continue
            # Every leaf of `a::{B, c::D as E}`: the last identifier before `,` or `}`.
            for leaf in re.split(r"[,{}]", rest):
                words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", leaf)
                if words and words[-1] not in ("self", "as"):
                    out.setdefault(words[-1], module)
    return out


def targets(text, names, aliases):
    found = set()
    # Inline and simple paths: crate::name
    for m in re.finditer(r"\bcrate::([A-Za-z_][A-Za-z0-9_]*)", text):
        found.add(m.group(1))
    # Grouped: use crate::{a, b::C, c::{...}}
    for m in re.finditer(r"\bcrate::\{", text):
        depth, i, start = 1, m.end(), m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        inner, level, item = text[start : i - 1], 0, ""
        for ch in inner + ",":
            if ch == "{":
                level += 1
            elif ch == "}":
                level -= 1
            if ch == "," and level == 0:
                head = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", item)
                if head:
                    found.add(head.group(1))
                item = ""
            else:
                item += ch
    return {t for t in found if t in names} | {aliases[t] for t in found if t in aliases}


def cycles(graph):
    """Tarjan's strongly connected components of size > 1 (or a self-loop)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    args = sys.argv[1:]
    max_lines = None
    if "--max-lines" in args:
        i = args.index("--max-lines")
        max_lines = int(args[i + 1])
        del args[i : i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    src = args[0]
    mods = modules(src)
    names = set(mods)
    graph = {m: set() for m in mods}
    aliases = root_reexports(src, names)
    failed = False
    for m, files in mods.items():
        for f in files:
            with open(f, encoding="utf-8") as fh:
                raw = fh.read()
            graph[m] |= targets(strip_comments(raw), names, aliases) - {m}
            lines = raw.count("\n")
            if max_lines is not None and lines > max_lines:
                print(f"{f}: {lines} lines (limit {max_lines})")
                failed = True
    found = cycles(graph)
    for comp in found:
        # One concrete circle through the component, for the message.
        inside = set(comp)
        path, v = [comp[0]], comp[0]
        seen = {v}
        while True:
            nxt = sorted(w for w in graph[v] if w in inside)
            w = next((x for x in nxt if x not in seen), nxt[0] if nxt else None)
            if w is None:
                break
            path.append(w)
            if w in seen:
                break
            seen.add(w)
            v = w
        print(f"import cycle among {', '.join(comp)}: {' -> '.join(path)}")
    if found:
        failed = True
    if not failed:
        print(f"{src}: {len(mods)} modules, {sum(len(g) for g in graph.values())} imports, no cycle")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
