#!/usr/bin/env bash
# Runs the whole comparison of docs/REGRESSION.md: Northstar against Apache Otava 0.8.0 and
# MongoDB's E-Divisive (signal-processing-algorithms 2.1.6) on the same seeded histories.
#
#   scripts/regression-compare/run.sh [SEED] [HISTORIES_PER_LEVEL] [WORK_DIR]
#
# SEED 2024 is the tuning set (the detector's settings were chosen on it); the tables in
# docs/REGRESSION.md use the held-out SEED 9001. The peers' outputs are cached in WORK_DIR
# (default /tmp/regression-compare-SEED): peers.py skips histories already in its output, so
# a re-run only re-runs Northstar (seconds) and resumes an interrupted peer run. The peers run
# at nice 10 in their own virtual environments (created on first use, from PyPI).
set -euo pipefail
SEED=${1:-9001}
N=${2:-200}
WORK=${3:-/tmp/regression-compare-$SEED}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
mkdir -p "$WORK"
cd "$ROOT"
cargo build --release -q -p northstar-cartridge --example regression_compare
BIN=$ROOT/target/release/examples/regression_compare
if [ ! -s "$WORK/histories.jsonl" ]; then
    "$BIN" generate "$WORK/histories.jsonl" "$N" "$SEED"
    python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
out = {s: open(f"{w}/histories{s}.jsonl", "w") for s in (1, 5)}
for line in open(f"{w}/histories.jsonl"):
    out[json.loads(line)["samples"]].write(line)
PY
fi
venv() { # name package
    if [ ! -x "$WORK/venv-$1/bin/python" ]; then
        python3 -m venv "$WORK/venv-$1"
        "$WORK/venv-$1/bin/pip" install -q "$2"
    fi
}
venv otava "apache-otava==0.8.0"
venv spa "signal-processing-algorithms==2.1.6"
P=$HERE/peers.py
# One sample per commit: the peers see every value. Five: one mean per commit (the better of
# the two units for both peers on the tuning set).
nice -n 10 "$WORK/venv-otava/bin/python" "$P" otava "$WORK/histories1.jsonl" "$WORK/otava1.jsonl" &
nice -n 10 "$WORK/venv-otava/bin/python" "$P" otava "$WORK/histories5.jsonl" "$WORK/otava5.jsonl" --unit commit &
nice -n 10 "$WORK/venv-spa/bin/python" "$P" edivisive "$WORK/histories1.jsonl" "$WORK/edivisive1.jsonl" &
nice -n 10 "$WORK/venv-spa/bin/python" "$P" edivisive "$WORK/histories5.jsonl" "$WORK/edivisive5.jsonl" --unit commit &
wait
cat "$WORK/otava1.jsonl" "$WORK/otava5.jsonl" > "$WORK/otava.jsonl"
cat "$WORK/edivisive1.jsonl" "$WORK/edivisive5.jsonl" > "$WORK/edivisive.jsonl"
"$BIN" detect "$WORK/histories.jsonl" "$WORK/northstar.jsonl"
"$BIN" detect "$WORK/histories.jsonl" "$WORK/spec.jsonl" spec
python3 "$HERE/score.py" "$WORK/histories.jsonl" northstar="$WORK/northstar.jsonl" \
    otava="$WORK/otava.jsonl" edivisive="$WORK/edivisive.jsonl" spec="$WORK/spec.jsonl"
