#!/usr/bin/env bash
# The store's modules import each other without a circle, and no store file grows past ~500
# lines (scripts/check-module-cycles.py). Takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/../.."
timeout 60 python3 scripts/check-module-cycles.py crates/northstar-store/src --max-lines 500
