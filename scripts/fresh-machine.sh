#!/usr/bin/env bash
# fresh-machine.sh: prove the README's two commands on a fresh machine.
#
# Makes a minimal Debian bookworm root with debootstrap, copies in Go (and
# the CA bundle it reaches the module proxy with) and git (the user cloned
# the repository, so they have it), clones this repository's HEAD into it,
# and runs, inside a chroot with a fresh HOME and an empty environment:
#
#   ./scripts/demo.sh     then     ./scripts/test.sh
#
# exactly as README says. Nothing else is installed beforehand: whatever the
# commands need, they must install themselves. It takes a while (debootstrap,
# the Debian packages both commands install, the whole test suite), so CI
# does not run it on every push; run it before a release and after changing
# scripts/deps.sh, scripts/demo.sh or the README's first section:
#
#   sudo scripts/fresh-machine.sh             both commands
#   sudo scripts/fresh-machine.sh demo        only the demo (a few minutes)
#
# Environment: FRESH_DIR (default: a new directory under /var/tmp; kept
# when set, removed otherwise), MIRROR (default: this machine's Debian
# mirror). The vpcd reader listens on TCP 35963, which the host's test world
# may hold: stop it first (scripts/pcsc-world.sh stop).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
say() { echo "fresh-machine: $*" >&2; }
die() { echo "fresh-machine: error: $1" >&2; shift; for h in "$@"; do echo "fresh-machine: hint: $h" >&2; done; exit 1; }

what=${1:-all}
case $what in all | demo) ;; *) die "unknown argument $what" "run: scripts/fresh-machine.sh [all|demo]" ;; esac
[ "$(id -u)" -eq 0 ] || die "debootstrap and chroot need root" "run: sudo $0 $what"
command -v go >/dev/null 2>&1 || die "Go is not installed on this machine: it is copied into the fresh root"
if ! command -v debootstrap >/dev/null 2>&1; then
	say "apt-get install debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap </dev/null >&2
fi
if (exec 3<>/dev/tcp/127.0.0.1/35963) 2>/dev/null; then
	die "TCP port 35963 (the vpcd reader) is in use on this machine: the fresh root's pcscd could not listen there" \
		"stop the host's test world first: scripts/pcsc-world.sh stop"
fi
mirror=${MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}

keep=1
if [ -z "${FRESH_DIR:-}" ]; then
	FRESH_DIR=$(mktemp -d /var/tmp/bg-fresh.XXXXXX)
	keep=
fi
# The root is the chroot's /: 0755 as on a real machine (mktemp makes it
# 0700, and then the tests that run bg-agent as nobody cannot reach it).
mkdir -p "$FRESH_DIR"
chmod 0755 "$FRESH_DIR"
root=$FRESH_DIR
mounted=()
# Every process still running in the fresh root (test.sh leaves its pcscd
# running, e2e its agents), so that the host's own test world can start.
stop_inside() {
	local sig p
	for sig in TERM KILL; do
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -s "$sig" "${p#/proc/}" 2>/dev/null
		done
		sleep 1
	done
}
cleanup() {
	local i
	stop_inside
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
	[ -n "$keep" ] || rm -rf --one-file-system "$root"
}
trap cleanup EXIT

if [ ! -x "$root/bin/bash" ]; then
	say "debootstrap bookworm into $root from $mirror (minbase, + git and ca-certificates)"
	debootstrap --variant=minbase --include=git,ca-certificates bookworm "$root" "$mirror" >&2
fi
# The mirror this machine uses, and its name resolution; /etc/hosts as an
# installed Debian has it (debootstrap writes none).
cp /etc/resolv.conf "$root/etc/resolv.conf"
[ -f "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
	cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources"
	rm -f "$root/etc/apt/sources.list"
fi
say "copying Go ($(go env GOVERSION)) into /usr/local/go"
rm -rf "$root/usr/local/go"
cp -a "$(go env GOROOT)" "$root/usr/local/go"
# The CA bundle Go reaches the module proxy with on this machine.
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$ca" ] && cp "$ca" "$root/etc/ssl/certs/host-ca.pem"
rm -rf "$root/src"
git clone -q "$repo" "$root/src"
git -C "$root/src" checkout -q "$(git rev-parse HEAD)"

# The root a mount point of its own, as / is on a real machine: the tests'
# private pcscd runs in a mount namespace (unshare --propagation), which
# fails inside a chroot whose root is a plain directory.
mount --bind "$root" "$root"
mounted+=("$root")
for m in proc sys dev dev/pts; do
	mkdir -p "$root/$m"
	mount --bind "/$m" "$root/$m"
	mounted+=("$root/$m")
done
mount -t tmpfs tmpfs "$root/tmp"
mounted+=("$root/tmp")

run() { # the README's command, in the chroot, as a new user's shell would run it
	say "running in the fresh root: $*"
	# No CI=true: a newcomer's shell does not set it, so a tool that Debian
	# cannot provide (moto_server comes from pip) makes its test skip, with
	# its reason, as it would for them.
	chroot "$root" /usr/bin/env -i HOME=/root USER=root LANG=C.UTF-8 TERM=dumb \
		PATH=/usr/local/go/bin:/root/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		SSL_CERT_FILE=/etc/ssl/certs/host-ca.pem GOFLAGS="$(go env GOFLAGS)" GOPROXY="$(go env GOPROXY)" \
		GOSUMDB="$(go env GOSUMDB)" bash -c "cd /src && $*" </dev/null
}
start=$(date +%s)
run ./scripts/demo.sh
say "demo: ok after $(($(date +%s) - start)) s"
if [ "$what" = all ]; then
	run ./scripts/test.sh
	say "test: ok after $(($(date +%s) - start)) s"
fi
if [ "$what" = all ]; then
	say "the README's two commands work on a fresh bookworm"
else
	say "the README's first command (the demo) works on a fresh bookworm; run without 'demo' for the tests too"
fi
