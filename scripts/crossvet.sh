#!/usr/bin/env bash
# Vets the code and the tests for the other platforms bg-agent ships on, so
# a Linux-only call (say syscall.Credential in a test) cannot break the
# Windows or macOS build unnoticed.
#   Windows: everything (piv-go and scard use winscard.dll there, no cgo).
#   macOS: PC/SC needs cgo and Apple's toolchain, which this machine lacks,
#   so the packages that reach scard or piv-go are left to the Homebrew
#   build; every other package is vetted without cgo.
set -euo pipefail
cd "$(dirname "$0")/.."

GOOS=windows GOARCH=amd64 go vet ./...

card='github.com/(ebfe/scard|go-piv/piv-go/v2/piv)( |$)'
mapfile -t darwin < <(GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 go list -test \
	-f '{{.ImportPath}} {{join .Deps " "}}' ./... | awk -v card="$card" '
	{ pkg = $1; sub(/\.test$/, "", pkg); sub(/_test$/, "", pkg); all[pkg] = 1; if ($0 ~ card) cardy[pkg] = 1 }
	END { for (p in all) if (!(p in cardy) && p !~ /[][]/) print p }' | sort)
if [ "${#darwin[@]}" -lt 10 ]; then
	echo "crossvet: only ${#darwin[@]} packages left for macOS; the package filter is broken" >&2
	exit 1
fi
GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 go vet "${darwin[@]}"
echo "crossvet: windows/amd64 (all packages) and darwin/arm64 (${#darwin[@]} packages without cgo) vet clean"
