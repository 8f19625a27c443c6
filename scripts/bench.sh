#!/usr/bin/env bash
# bench.sh: print the project's performance figures (benchmarks, not timed
# tests, so a busy machine slows them down instead of failing them).
#   BenchmarkProcessDirect            exec-to-JSON of `bg-agent process`, direct mode, fake STS without latency; sts-calls/op = 1 + roles
#   BenchmarkFailoverFirstRegionBlackholed  time to credentials with the first STS region blackholed (target < 3 s)
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench . -benchtime "${BENCHTIME:-10x}" ./e2e/ ./internal/... "$@"
