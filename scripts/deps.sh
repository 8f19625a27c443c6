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

# --- kit and packaging (issue 6) -------------------------------------------
# wixl + faketime (build the MSI reproducibly), msitools (msiinfo checks it), rpm,
# ruby (ruby -c on the Homebrew formula), chromium (screenshots the printed
# runbook), awscli (Debian's AWS CLI v2 at /usr/bin/aws: `aws configure
# list-profiles` reads what setup wrote), gcc + libpcsclite-dev (the linux
# build is cgo for PC/SC), groff-base (checks the man page `bg-agent man` writes).
# Installed only when missing.
kit_packages=(msitools wixl faketime rpm ruby chromium awscli gcc libpcsclite-dev groff-base)
kit_missing=()
for p in "${kit_packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || kit_missing+=("$p")
done
if [ "${#kit_missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ]; then
		say "apt-get install ${kit_missing[*]} (kit and packaging tests)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq --no-install-recommends "${kit_missing[@]}" </dev/null >&2
	else
		say "not root: skipping ${kit_missing[*]}; packaging and runbook screenshot tests will skip"
	fi
fi

# --- real keychains for the keystore e2e tests --------------------------------
# gnome-keyring (Secret Service, driven inside dbus-run-session) and pass (with
# a throwaway GnuPG key). Installed only when missing.
ks_missing=()
# zenity + xvfb + xdotool + libnotify-bin: the real GUI prompt test (a
# dialog under a virtual X server, typed into by xdotool).
for p in gnome-keyring pass gnupg zenity xvfb xdotool libnotify-bin; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || ks_missing+=("$p")
done
if [ "${#ks_missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ]; then
		say "apt-get install ${ks_missing[*]} (keystore backend tests)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq --no-install-recommends "${ks_missing[@]}" </dev/null >&2
	else
		say "not root: skipping ${ks_missing[*]}; the secret-service and pass tests will skip"
	fi
fi

# --- linux/arm64 release build (issue 6) --------------------------------------
# A cross C toolchain and libpcsclite for arm64 (Debian multiarch), for the
# cgo PC/SC build of the arm64 tarball, .deb and .rpm.
if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || [ ! -e /usr/lib/aarch64-linux-gnu/libpcsclite.so ]; then
	if [ "$(id -u)" -eq 0 ]; then
		say "installing the arm64 cross toolchain and libpcsclite-dev:arm64"
		export DEBIAN_FRONTEND=noninteractive
		dpkg --add-architecture arm64
		apt-get update -qq >&2
		apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross libpcsclite-dev:arm64 </dev/null >&2
	else
		say "not root: skipping the arm64 cross toolchain; the arm64 artefacts are not built"
	fi
fi
