#!/usr/bin/env bash
# deps.sh: install what the tests and the demo need, idempotently.
# Go modules come through the module proxy; Debian packages need root (CI
# runs as root); npm packages for the JS SDK e2e land in e2e/js/node_modules.
# Anything that cannot be installed is reported, and the tests that need it
# skip with that reason rather than fail mysteriously.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "deps: $*" >&2; }

go mod download

# PC/SC world for the YubiKey tests (pcscd, vpcd, ykman, libpcsclite-dev).
if [ "$(id -u)" -eq 0 ]; then
	./scripts/pcsc-world.sh install
else
	say "not root: skipping Debian packages (pcscd, vsmartcard-vpcd, yubikey-manager); YubiKey tests will skip"
fi

# JS SDK v3 consumer for the credential_process e2e test.
if command -v npm >/dev/null 2>&1; then
	if [ ! -d e2e/js/node_modules/@aws-sdk/credential-providers ]; then
		say "installing the JS SDK v3 consumer (npm ci in e2e/js)"
		(cd e2e/js && npm ci --no-audit --no-fund --loglevel=error)
	fi
else
	say "npm not found: the JS SDK e2e test will skip"
fi
