#!/usr/bin/env bash
# bench.sh: print the project's performance figures (benchmarks, not timed
# tests, so a busy machine slows them down instead of failing them).
#   BenchmarkProcessDirect            exec-to-JSON of `bg-agent process`, direct mode, fake STS without latency; sts-calls/op = 1 + roles
#   BenchmarkFailoverFirstRegionBlackholed  time to credentials with the first STS region blackholed (target < 3 s)
#   BenchmarkProcessWarmAgent         exec-to-JSON served from the agent's cache (target p50 < 5 ms), with
#                                     floor-p50-ms: exec of a do-nothing program linked like bg-agent, same runs
#   BenchmarkProcessWarmAgentLargeConfig  the same with 300 SSO profiles in the config file
#   BenchmarkAgentRSS1000Sessions     agent resident memory with 1,000 cached sessions (target < 40 MB)
#   BenchmarkColdFanOut               100 callers on a cold agent vs one (target ratio < 1.5)
#   BenchmarkDrill1000Paths           bg-agent drill over 1,000 emergency paths, MFA codes used
#   BenchmarkYubiKey*                 OATH code and unseal through pcscd and the virtual YubiKey
# BENCHTIME sets the iterations of the quick ones (default 10x), HEAVYTIME
# those that build a thousand sessions or callers per iteration (default 1x);
# the warm agent benchmark runs WARMTIME (default 300x) so its percentiles mean something.
set -euo pipefail
cd "$(dirname "$0")/.."
bt=${BENCHTIME:-10x}
go test -run '^$' -bench 'ProcessWarmAgent' -benchtime "${WARMTIME:-300x}" ./e2e/ "$@"
go test -run '^$' -bench 'ProcessDirect|Failover' -benchtime "$bt" ./e2e/ "$@"
go test -run '^$' -bench 'AgentRSS|ColdFanOut|Drill' -benchtime "${HEAVYTIME:-1x}" ./e2e/ "$@"
go test -run '^$' -bench . -benchtime "$bt" ./internal/... "$@"
