#!/usr/bin/env bash
# fuzz.sh: run every fuzz target, one `go test -fuzz` per target (the only way
# go test fuzzes), each for FUZZTIME (default 3s, what test.sh and CI run).
# Longer, e.g. before a release:   FUZZTIME=10m ./scripts/fuzz.sh
# Some targets only:               ./scripts/fuzz.sh FuzzCard FuzzTamper
# A failing input is written to the package's testdata/fuzz/FuzzX/ and runs
# from then on as a test in `go test`: fix the bug and commit it as a seed.
# Without -fuzz, `go test` runs every target on its seeds only.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
# Every fuzz target, by package. The check below fails when one is missing.
targets=(
	"./internal/config FuzzLoad"
	"./internal/kit FuzzParse"
	"./internal/kit FuzzParseSigningFiles"
	"./internal/audit FuzzVerify"
	"./internal/audit FuzzTamper"
	"./internal/audit FuzzAppend"
	"./internal/audit FuzzScrubSecret"
	"./internal/agent/wire FuzzConn"
	"./internal/agent FuzzHandle"
	"./internal/yubikey FuzzOATHResponse"
	"./internal/vyubikey FuzzParseCommand"
	"./internal/vyubikey FuzzParseTLVs"
	"./internal/vyubikey FuzzCard"
)
listed=$(printf '%s\n' "${targets[@]}" | awk '{print $2}' | sort)
found=$(grep -rhoE '^func Fuzz[A-Za-z0-9_]*' --include='*_test.go' cmd internal e2e | sed 's/^func //' | sort)
if [ "$listed" != "$found" ]; then
	echo "fuzz: the target list differs from the tree's Fuzz functions:" >&2
	diff <(echo "$listed") <(echo "$found") >&2 || true
	exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fuzz() { # test.sh vets; the fuzz lines go to the log only
	go test -vet=off -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" "$1" >"$log" 2>&1
}
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then
		continue
	fi
	echo "fuzz: $name ($pkg) for $fuzztime" >&2
	if fuzz "$pkg" "$name"; then
		tail -n 1 "$log"
		continue
	fi
	# Go 1.26's coordinator can fail a target as -fuzztime ends, with only
	# "context deadline exceeded" and no input (go.dev/issue/75804): once more.
	if grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log"; then
		echo "fuzz: $name hit go.dev/issue/75804 (no failing input): running it again" >&2
		if fuzz "$pkg" "$name"; then
			tail -n 1 "$log"
			continue
		fi
	fi
	grep -v '^fuzz: elapsed: ' "$log" >&2
	exit 1
done
