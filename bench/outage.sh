#!/usr/bin/env bash
# Outage test: builds the bridge as the Dockerfile does and runs bench/outage
# against it: a fake Reditus on loopback answers 500 while 16 senders post
# 3,000 distinct webhooks (at least 60 s), then comes back; it prints the
# Reditus calls in the first 60 s, the webhooks' p99 answer time and the time
# until all 3,000 are delivered, each once, against the targets. It stops by
# itself. -bridge PATH measures another build (the code before a change).
#   bash bench/outage.sh [-rounds N] [-bridge PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/bench/.bin"
mkdir -p "$bin"
CGO_ENABLED=0 go build -tags nomsgpack -trimpath -ldflags="-s -w" -o "$bin/reditus-bridge" .
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg); $(go version)"
go run ./bench/outage -bridge "$bin/reditus-bridge" "$@"
