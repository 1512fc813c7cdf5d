# Sourced by the snippet steps (not a step itself: `.ci/run` runs only `.ci/steps/*.sh`).
#
# extract FILE SECTION N LANG OUT: writes the N-th ```LANG block (0-based) of the section of
# FILE whose heading is SECTION (up to the next heading of the same or a higher level) to OUT,
# exactly as written; fails if the section or the block is missing.
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

# snippet_workspace: the snippet steps' common set-up, run from the repository root. Sets
# `repo`, `work` (a temporary directory removed on exit, holding a `northstar` link to the
# repository: the path the snippets' [dependencies] lines name) and `snippets_target` (the
# snippets' crates build apart from the workspace: their own lock file and target).
snippet_workspace() {
    repo="$(pwd)"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    snippets_target="$repo/target/snippets"
    ln -s "$repo" "$work/northstar"
}
