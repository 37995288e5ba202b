#!/usr/bin/env bash
# Per-webhook work (verify, decode, map) of each provider, beside the floor
# that only computes the provider's HMAC over the same bytes. Runs each
# benchmark COUNT times (default 5) and prints medians of the CPU time per
# webhook and their ratio, one row per registered provider, in the order the
# benchmarks ran them.
#   bash bench/bench.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5}
out=$(mktemp)
go test ./bench/ -run '^$' -bench . -benchmem -count "$count" | tee "$out" | grep -E '^(goos|goarch|cpu)'
awk '
  /^Benchmark(Webhook|Floor)\// {
    split($1, part, "/"); kind = part[1]; sub(/-[0-9]+$/, "", part[2]); p = part[2]
    for (i = 2; i <= NF; i++) {
      if ($(i+1) == "cpu-ns/op") ns[kind, p] = ns[kind, p] " " $i
      if ($(i+1) == "allocs/op") allocs[kind, p] = $i
    }
    if (!(p in seen)) { seen[p] = 1; order[++n] = p }
    if ($0 ~ / token-digest/) token[p] = 1
  }
  function median(list,   n, v, i, j, t) {
    n = split(list, v, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  END {
    print "ns: CPU time per webhook (the process'"'"'s, getrusage), which other work on a shared machine disturbs far less than wall time"
    printf "%-12s %12s %12s %7s %8s   targets: ratio <= 10, allocs < 50\n", "provider", "webhook ns", "HMAC ns", "ratio", "allocs"
    for (k = 1; k <= n; k++) {
      p = order[k]
      w = median(ns["BenchmarkWebhook", p]); f = median(ns["BenchmarkFloor", p])
      printf "%-12s %12.0f %12.0f %6.1fx %8d%s\n", p, w, f, w / f, allocs["BenchmarkWebhook", p], (p in token ? "   (no HMAC: the floor is the secret'"'"'s digest)" : "")
    }
  }' "$out"
rm -f "$out"
