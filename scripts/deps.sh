#!/usr/bin/env bash
# deps.sh: install what the tests and the demo need, idempotently.
# Go modules come through the module proxy; Debian packages need root (CI
# runs as root); npm packages for the JS SDK e2e land in e2e/js/node_modules.
# Anything that cannot be installed is reported, and the tests that need it
# skip with that reason rather than fail mysteriously.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "deps: $*" >&2; }

# apt_missing WHAT SKIPPED PKG...: apt-get install the packages that are not
# installed yet (as root), else say which tests (SKIPPED) will skip.
apt_missing() {
	local what=$1 skipped=$2 p missing=()
	shift 2
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	if [ "$(id -u)" -eq 0 ]; then
		say "apt-get install ${missing[*]} ($what)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >&2
	else
		say "not root: skipping ${missing[*]}; $skipped"
	fi
}

go mod download

# PC/SC world for the YubiKey tests (pcscd, vpcd, ykman, libpcsclite-dev).
if [ "$(id -u)" -eq 0 ]; then
	./scripts/pcsc-world.sh install
else
	say "not root: skipping Debian packages (pcscd, vsmartcard-vpcd, yubikey-manager, ykcs11); YubiKey tests will skip"
fi

# The SDK consumers of the credential_process e2e test, from Debian when
# this machine has none of its own (the CI image brings pip's boto3 and its
# own Node.js): boto3, and Node.js with npm for the JS SDK v3.
python3 -c 'import boto3' 2>/dev/null || apt_missing "the boto3 consumer test" "the boto3 consumer test will skip" python3-boto3
command -v npm >/dev/null 2>&1 || apt_missing "the JS SDK v3 consumer test" "the JS SDK consumer test will skip" nodejs npm

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
# list-profiles` reads what setup wrote), gcc + libc6-dev (gcc only
# recommends the C headers) + libpcsclite-dev (the linux
# build is cgo for PC/SC), groff-base (checks the man page `bg-agent man` writes),
# zip (the windows zip of bg-agent.exe + bg-agent-core.exe), lintian (Debian's
# check of the .deb), dpkg-dev (dpkg-shlibdeps computes its Depends), systemd
# (systemd-analyze verifies the user units), minisign + osslsigncode + openssl
# (sign and check the release with throwaway keys), wine + wine64 +
# gcc-mingw-w64-x86-64 (the MSI installed and run under Wine, with a shim DLL
# that Wine 8.0 lacks).
# Installed only when missing.
apt_missing "kit and packaging tests" "packaging and runbook screenshot tests will skip" \
	msitools wixl faketime rpm ruby chromium awscli gcc libc6-dev libpcsclite-dev groff-base zip lintian dpkg-dev systemd minisign osslsigncode openssl \
	wine wine64 gcc-mingw-w64-x86-64

# --- real keychains for the keystore e2e tests --------------------------------
# gnome-keyring (Secret Service, driven inside dbus-run-session) and pass (with
# a throwaway GnuPG key). Installed only when missing.
# zenity + xvfb + xdotool + libnotify-bin: the real GUI prompt test (a
# dialog under a virtual X server, typed into by xdotool).
apt_missing "keystore backend tests" "the secret-service and pass tests will skip" \
	gnome-keyring pass gnupg zenity xvfb xdotool libnotify-bin

# --- linux/arm64 release build (issue 6) --------------------------------------
# A cross C toolchain and libpcsclite for arm64 (Debian multiarch), for the
# cgo PC/SC build of the arm64 tarball, .deb and .rpm.
if [ "$(id -u)" -eq 0 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64 # apt_missing's update then fetches the arm64 index
fi
apt_missing "linux/arm64 release build" "the arm64 artefacts are not built" \
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross libpcsclite-dev:arm64
