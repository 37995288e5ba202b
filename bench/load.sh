#!/usr/bin/env bash
# Load test: builds the bridge as the Dockerfile does, installs vegeta
# (pinned), and runs bench/load against a fake Reditus on loopback. Three
# phases of 10 s each (change with -duration 30s); it stops by itself. The
# bridge journals on SQLite in a fresh temp DATA_DIR, as deployed; -journal off
# measures it without, and bench/journal.sh compares the two.
#   bash bench/load.sh [-duration 10s] [-journal sqlite|off|both] [-rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/bench/.bin"
mkdir -p "$bin"
GOBIN="$bin" go install github.com/tsenart/vegeta/v12@v12.12.0
CGO_ENABLED=0 go build -tags nomsgpack -trimpath -ldflags="-s -w" -o "$bin/reditus-bridge" .
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; $(go version)"
go run ./bench/load -bridge "$bin/reditus-bridge" -vegeta "$bin/vegeta" "$@"
