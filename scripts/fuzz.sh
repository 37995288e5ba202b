#!/usr/bin/env bash
# Runs every fuzz target (the cookie decoder, each provider's mapping, each
# verifier) for a while: bash scripts/fuzz.sh [seconds per target, default 60].
# A failing input is saved under the package's testdata/fuzz/, where `go test`
# replays it from then on.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
failed=0
for pkg in ./mapping ./providers ./verify; do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
    corpus="$pkg/testdata/fuzz/$target"
    for try in 1 2; do
      before=$(ls "$corpus" 2>/dev/null | wc -l)
      echo "== $pkg $target, ${secs}s"
      if out=$(go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "${secs}s" 2>&1); then
        echo "$out" | tail -n 2
        break
      fi
      echo "$out"
      if [ "$(ls "$corpus" 2>/dev/null | wc -l)" -gt "$before" ]; then
        echo "FAIL: $target found an input that breaks it (saved in $corpus)"
        failed=1
        break
      fi
      # No input was saved, so the fuzzing engine itself failed (a worker
      # hung or died on a loaded machine), not the code: run it once more.
      if [ "$try" = 2 ]; then
        failed=1
      else
        echo "the fuzzing engine failed without an input; running $target again"
      fi
    done
  done
done
exit $failed
