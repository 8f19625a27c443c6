#!/usr/bin/env bash
# test.sh: the project's test command (README and CI run exactly this).
# Installs what the tests need, then vets (for Windows and macOS too),
# runs staticcheck, and
# runs every test with -race, e2e included: the built binary as
# credential_process for the AWS CLI, boto3, the Go SDK and the JS SDK v3
# against the fake AWS, then fuzzes every fuzz target for FUZZTIME (default
# 3s each, scripts/fuzz.sh; go test cannot fuzz with -race).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
if [ "$(id -u)" -eq 0 ] && [ -x scripts/pcsc-world.sh ]; then
	./scripts/pcsc-world.sh start || echo "test: pcscd did not start; YubiKey integration tests will skip" >&2
fi
unformatted=$(gofmt -l cmd internal e2e 2>/dev/null || true)
if [ -n "$unformatted" ]; then
	echo "test: gofmt needed:" $unformatted >&2
	exit 1
fi
go vet ./...
go tool staticcheck ./... # pinned in go.mod's tool block
./scripts/crossvet.sh # Windows and macOS: the code and the tests still build there
go test -race -count=1 -timeout 20m ./... "$@"
./scripts/fuzz.sh
