#!/usr/bin/env bash
# bench.sh: print the project's performance figures (benchmarks, not timed
# tests, so a busy machine slows them down instead of failing them).
#   BenchmarkWarmVsAwsVault           run first, from one run: warm `bg-agent process` p50/p95 beside a do-nothing
#                                     static Go binary (CGO_ENABLED=0) and aws-vault v7.2.0's cached
#                                     `export --format=json` against the same fake AWS (aws-vault is built from the
#                                     Go module proxy once, into the user cache dir; skipped if it cannot be);
#                                     (every hop cached: --no-session, MFA on both AssumeRoles; also, for reference,
#                                     its README setup, which assumes both roles on every export);
#                                     the script prints a summary of it (targets: aws-vault/bg-agent >= 10x,
#                                     bg-agent/static floor <= 2x; reported, never a pass/fail)
#   BenchmarkProcessDirect            exec-to-JSON of `bg-agent process`, direct mode, fake STS without latency; sts-calls/op = 1 + roles
#   BenchmarkFailoverFirstRegionBlackholed  time to credentials with the first STS region blackholed (target < 3 s)
#   BenchmarkProcessWarmAgent         exec-to-JSON served from the agent's cache by the front, with
#                                     floor-p50-ms: exec of a do-nothing static program, same runs
#   BenchmarkProcessWarmAgentLargeConfig  the same with 300 SSO profiles in the config file
#   BenchmarkAgentRSS1000Sessions     agent resident memory with 1,000 cached sessions (target < 40 MB)
#   BenchmarkAgentFlood               1,000 connections each sending 1 MB without a newline: agent RSS before and at the peak
#   BenchmarkColdFanOut               100 callers on a cold agent vs one (target ratio < 1.5)
#   BenchmarkDrill1000Paths           bg-agent drill over 1,000 emergency paths, MFA codes used
#   BenchmarkYubiKey*                 OATH code and unseal through pcscd and the virtual YubiKey
#   BenchmarkRolesAnywhereProcessDirect  exec-to-JSON of a Roles Anywhere profile, direct mode: the virtual card signs
#                                     CreateSession (PIN dialog, touch), then one AssumeRole
#   BenchmarkRolesAnywhereFailover    the same with the first region's Roles Anywhere blackholed (target < 3 s)
# BENCHTIME sets the iterations of the quick ones (default 10x), HEAVYTIME
# those that build a thousand sessions or callers per iteration (default 1x);
# the warm agent benchmarks run WARMTIME (default 300x) so their percentiles mean something
# (PEERTIME, default WARMTIME, for BenchmarkWarmVsAwsVault, which execs three programs per iteration).
set -euo pipefail
cd "$(dirname "$0")/.."
bt=${BENCHTIME:-10x}
peer=$(mktemp)
trap 'rm -f "$peer"' EXIT
go test -run '^$' -bench 'WarmVsAwsVault' -benchtime "${PEERTIME:-${WARMTIME:-300x}}" ./e2e/ "$@" | tee "$peer"
# The benchmark line is "BenchmarkWarmVsAwsVault-N  iters  ns ns/op  value unit  value unit ...".
awk '/^BenchmarkWarmVsAwsVault/ {
	for (i = 3; i < NF; i += 2) m[$(i+1)] = $i
	found = 1
}
END {
	print ""
	if (!found) { print "warm vs aws-vault: no figures (benchmark skipped or failed, see above)"; exit }
	printf "warm process p50/p95: %s / %s ms; static floor p50: %s ms; aws-vault cached export p50/p95: %s / %s ms\n",
		m["bg-p50-ms"], m["bg-p95-ms"], m["floor-p50-ms"], m["vault-p50-ms"], m["vault-p95-ms"]
	printf "(aws-vault as its README sets roles up, MFA session cached, roles assumed each time: p50/p95 %s / %s ms)\n",
		m["vault-usual-p50-ms"], m["vault-usual-p95-ms"]
	printf "ratio aws-vault/bg-agent: %.1fx (target >= 10x); bg-agent/static floor: %.1fx (target <= 2x)\n",
		m["vault/bg-x"], m["bg/floor-x"]
	print ""
}' "$peer"
go test -run '^$' -bench 'ProcessWarmAgent' -benchtime "${WARMTIME:-300x}" ./e2e/ "$@"
go test -run '^$' -bench 'ProcessDirect|Failover' -benchtime "$bt" ./e2e/ "$@"
go test -run '^$' -bench 'AgentRSS|AgentFlood|ColdFanOut|Drill' -benchtime "${HEAVYTIME:-1x}" ./e2e/ "$@"
go test -run '^$' -bench . -benchtime "$bt" ./internal/... "$@"
