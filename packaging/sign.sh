#!/usr/bin/env bash
# sign.sh: sign a release's SHA256SUMS with minisign, on the machine that
# holds the release key (never the build machine: copy dist/SHA256SUMS there
# and the signature back). Every artefact is in SHA256SUMS, so one signature
# covers them all; it verifies offline with minisign (Debian, Homebrew,
# Scoop) or with the same key's signify-compatible format.
#
#   packaging/sign.sh DIST SECRET_KEY      writes DIST/SHA256SUMS.minisig
#
# The trusted comment (signed too) names the release. minisign asks for the
# key's password on the terminal; a throwaway CI key made with
# `minisign -G -W` has none.
set -euo pipefail
if [ $# -ne 2 ]; then
	echo "usage: packaging/sign.sh DIST SECRET_KEY" >&2
	exit 2
fi
dist=$1 key=$2
if ! command -v minisign >/dev/null 2>&1; then
	echo "sign: minisign is not installed (apt-get install minisign)" >&2
	exit 1
fi
if [ ! -f "$dist/SHA256SUMS" ]; then
	echo "sign: $dist/SHA256SUMS not found: run packaging/build.sh first" >&2
	exit 1
fi
release=$(sed -n 's/^[0-9a-f]\{64\}  bg-agent-\(.*\)\.tar\.gz$/\1/p' "$dist/SHA256SUMS")
minisign -S -s "$key" -m "$dist/SHA256SUMS" -t "bg-agent ${release:-unknown} SHA256SUMS" -x "$dist/SHA256SUMS.minisig"
echo "sign: wrote $dist/SHA256SUMS.minisig; check it with: minisign -V -p KEY.pub -m $dist/SHA256SUMS" >&2
