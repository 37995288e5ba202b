#!/usr/bin/env bash
# The journal's cost: the same built bridge with its journal off (a DATA_DIR
# that cannot be made, so it serves without one) and on SQLite (a fresh
# DATA_DIR), ROUNDS times each in turn (default 3), then the ratios of issue
# 11's targets. Each run is three 10 s phases; it stops by itself.
#   bash bench/journal.sh [ROUNDS] [-duration 10s]
set -euo pipefail
rounds=${1:-3}
exec bash "$(dirname "$0")/load.sh" -journal both -rounds "$rounds" "${@:2}"
