#!/usr/bin/env bash
# pcsc-world.sh: the PC/SC half of the YubiKey test world.
#
# Debian's real pcscd with the vsmartcard-vpcd virtual reader, configured so
# the reader is named like a YubiKey ("Yubico YubiKey OTP+FIDO+CCID 00 00");
# the virtual card (bg-vyubikey run) then connects to vpcd on
# 127.0.0.1:35963. We run our own pcscd without --auto-exit because the
# packaged one exits after 60 s idle and takes vpcd's listening socket with it.
#
#   scripts/pcsc-world.sh install   install missing Debian packages (root)
#   scripts/pcsc-world.sh start     start our pcscd unless it already runs (root)
#   scripts/pcsc-world.sh stop      stop the pcscd we started
#   scripts/pcsc-world.sh status    exit 0 if our pcscd runs and vpcd listens
#
# Environment: BG_PCSC_DIR (state dir, default /tmp/bg-pcsc-world),
# BG_PCSC_DEBUG=1 (pcscd -d). Everything it does is said on stderr.
set -euo pipefail

# ykcs11: the PKCS#11 module AWS's aws_signing_helper signs through (Roles Anywhere check).
PACKAGES=(pcscd vsmartcard-vpcd libpcsclite-dev pkg-config yubikey-manager ykcs11)
STATE_DIR="${BG_PCSC_DIR:-/tmp/bg-pcsc-world}"
PID_FILE="$STATE_DIR/pcscd.pid"
LOG_FILE="$STATE_DIR/pcscd.log"
CONF_FILE="$STATE_DIR/reader.conf"
VPCD_LIB=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
VPCD_PORT=35963
READER_NAME="Yubico YubiKey OTP+FIDO+CCID"

say() { echo "pcsc-world: $*" >&2; }
die() {
	echo "pcsc-world: error: $1" >&2
	shift
	for h in "$@"; do echo "pcsc-world: hint: $h" >&2; done
	exit 1
}

need_root() {
	[ "$(id -u)" -eq 0 ] && return 0
	die "'$1' needs root (it $2)" "run: sudo $0 $1"
}

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing_packages() {
	local p
	for p in "${PACKAGES[@]}"; do
		installed "$p" || echo "$p"
	done
}

cmd_install() {
	local missing
	mapfile -t missing < <(missing_packages)
	if [ "${#missing[@]}" -eq 0 ]; then
		say "all packages present: ${PACKAGES[*]}"
		return 0
	fi
	need_root install "installs Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	say "apt-get update"
	apt-get update -qq >&2
	say "apt-get install ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >&2
	# The package may have started its own auto-exiting pcscd; ours replaces it.
	stop_packaged
}

# our_pid prints the pid of the pcscd we started, if it still runs.
our_pid() {
	[ -f "$PID_FILE" ] || return 1
	local pid
	pid="$(cat "$PID_FILE")"
	[ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pcscd ] || return 1
	echo "$pid"
}

# vpcd_listening is true when a TCP socket listens on VPCD_PORT. It reads
# /proc instead of connecting, because vpcd takes any connection for a card.
vpcd_listening() {
	local hex
	hex="$(printf '%04X' "$VPCD_PORT")"
	awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" {f=1} END {exit !f}' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# stop_packaged stops a systemd-managed pcscd so it cannot hold the fixed
# socket /run/pcscd/pcscd.comm or auto-exit under us.
stop_packaged() {
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		local u
		for u in pcscd.socket pcscd.service; do
			if systemctl is-active --quiet "$u" 2>/dev/null; then
				say "stopping $u (it runs pcscd with --auto-exit)"
				systemctl stop "$u" >&2 || true
			fi
		done
	fi
}

foreign_pcscd() {
	local mine="${1:-}" pid
	for pid in $(pgrep -x pcscd 2>/dev/null || true); do
		[ "$pid" = "$mine" ] || echo "$pid"
	done
}

write_config() {
	mkdir -p "$STATE_DIR"
	cat >"$CONF_FILE" <<EOF
# written by pcsc-world.sh: vpcd in server mode on port $VPCD_PORT, named like a YubiKey
FRIENDLYNAME "$READER_NAME"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      $VPCD_LIB
CHANNELID    0x8C7B
EOF
}

cmd_start() {
	local pid
	if pid="$(our_pid)"; then
		say "pcscd already running (pid $pid), log $LOG_FILE"
		return 0
	fi
	need_root start "starts pcscd, which owns /run/pcscd"
	command -v pcscd >/dev/null && [ -f "$VPCD_LIB" ] ||
		die "pcscd or vsmartcard-vpcd is not installed" "run: $0 install"
	stop_packaged
	local others
	others="$(foreign_pcscd | tr '\n' ' ')"
	[ -z "$others" ] ||
		die "another pcscd is running (pid $others) and holds /run/pcscd/pcscd.comm" \
			"stop it (kill $others) and run: $0 start"
	write_config
	local args=(-f -a -c "$CONF_FILE")
	[ "${BG_PCSC_DEBUG:-}" = 1 ] && args+=(-d)
	say "starting pcscd ${args[*]} (log $LOG_FILE)"
	setsid pcscd "${args[@]}" </dev/null >>"$LOG_FILE" 2>&1 &
	echo $! >"$PID_FILE"
	local i
	for i in $(seq 1 50); do
		if [ -S /run/pcscd/pcscd.comm ] && vpcd_listening; then
			say "pcscd running (pid $(cat "$PID_FILE")); reader \"$READER_NAME 00 00\" waits on port $VPCD_PORT"
			return 0
		fi
		our_pid >/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$LOG_FILE" >&2 || true
	die "pcscd did not come up" "see $LOG_FILE"
}

cmd_stop() {
	local pid i
	if ! pid="$(our_pid)"; then
		say "our pcscd is not running"
		rm -f "$PID_FILE"
		return 0
	fi
	say "stopping pcscd (pid $pid)"
	kill "$pid"
	for i in $(seq 1 50); do
		[ -d "/proc/$pid" ] || break
		sleep 0.1
	done
	if [ -d "/proc/$pid" ]; then
		say "pcscd (pid $pid) ignored SIGTERM; sending SIGKILL"
		kill -9 "$pid" || true
	fi
	rm -f "$PID_FILE"
}

cmd_status() {
	local pid missing
	missing="$(missing_packages | tr '\n' ' ')"
	[ -z "$missing" ] || say "missing packages: $missing"
	if ! pid="$(our_pid)"; then
		say "our pcscd is not running"
		return 3
	fi
	if vpcd_listening; then
		say "pcscd running (pid $pid); vpcd listens on port $VPCD_PORT; log $LOG_FILE"
		return 0
	fi
	say "pcscd running (pid $pid) but vpcd is not listening on port $VPCD_PORT; see $LOG_FILE"
	return 1
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) die "usage: $0 install|start|stop|status" ;;
esac
