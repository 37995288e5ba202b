#!/usr/bin/env bash
# Runs every fuzz target (the cookie decoder, each mapping function, each
# verifier) for a while: bash scripts/fuzz.sh [seconds per target, default 60].
# A failing input is saved under the package's testdata/fuzz/, where `go test`
# replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
for pkg in ./mapping ./verify; do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
    echo "== $pkg $target, ${secs}s"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "${secs}s" 2>&1 | tail -n 3
  done
done
