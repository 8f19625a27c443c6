#!/usr/bin/env bash
# demo.sh: watch a full break-glass chain work against the embedded fake AWS.
#
# Builds bg-agent and bg-testworld, starts the fake AWS (an HTTPS proxy that
# serves the real STS hostnames with a test CA), stores the demo user's key
# in an encrypted file keystore, writes a throwaway AWS config, and runs the
# real AWS CLI through credential_process. Then it blackholes the first STS
# region and does it again. With pcscd and vpcd, a virtual YubiKey seals the
# key and gives the MFA code, then holds a Roles Anywhere certificate for a
# second way in that needs no access key. Nothing outside a temporary directory is touched
# (as root, missing Debian packages are installed first).
set -euo pipefail
cd "$(dirname "$0")/.."

bold() { if [ -t 1 ]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }

DEMO=$(mktemp -d /tmp/bgdemo.XXXXXX)
WORLD_PID=
YK_PID=
PCSC_STARTED=
cleanup() {
	[ -n "$YK_PID" ] && kill "$YK_PID" 2>/dev/null && wait "$YK_PID" 2>/dev/null
	[ -n "$PCSC_STARTED" ] && ./scripts/pcsc-world.sh stop 2>/dev/null
	[ -n "$WORLD_PID" ] && kill "$WORLD_PID" 2>/dev/null && wait "$WORLD_PID" 2>/dev/null
	BG_AGENT_HOME="$DEMO/state" "$DEMO/bin/bg-agent" agent stop >/dev/null 2>&1
	rm -rf "$DEMO"
	return 0
}
trap cleanup EXIT

# What the demo needs on a fresh machine: Go; gcc, libc6-dev, pkg-config
# and libpcsclite-dev for the core (cgo for PC/SC: without them Go either
# fails in pkg-config or quietly turns cgo off and fails at link time); the
# AWS CLI it drives; pcscd + vpcd for its YubiKey step. As root, missing
# Debian packages are installed (idempotently); otherwise it names the one
# apt-get line and what it skips.
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
if ! command -v go >/dev/null 2>&1; then
	echo "demo: error: Go is not installed (or not on PATH)" >&2
	echo "demo: hint: install Go 1.25 or later from the Go project, then run this again" >&2
	exit 1
fi
build_pkgs=()
command -v gcc >/dev/null 2>&1 || build_pkgs+=(gcc)
# The C headers: gcc only recommends libc6-dev, so --no-install-recommends
# (and a minimal system) has a compiler that cannot build cgo.
have_pkg libc6-dev || build_pkgs+=(libc6-dev)
command -v pkg-config >/dev/null 2>&1 || build_pkgs+=(pkg-config)
{ pkg-config --exists libpcsclite 2>/dev/null || have_pkg libpcsclite-dev; } || build_pkgs+=(libpcsclite-dev)
command -v aws >/dev/null 2>&1 || build_pkgs+=(awscli)
if [ "${#build_pkgs[@]}" -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "demo: installing ${build_pkgs[*]} (apt-get)" >&2
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${build_pkgs[@]}" </dev/null >&2
	else
		echo "demo: error: the demo needs ${build_pkgs[*]}, which are not installed" >&2
		echo "demo: hint: sudo apt-get install ${build_pkgs[*]} pcscd vsmartcard-vpcd" >&2
		exit 1
	fi
fi
if [ "$(id -u)" -eq 0 ]; then
	./scripts/pcsc-world.sh install >/dev/null || echo "demo: pcscd and vpcd could not be installed: the YubiKey step will be skipped" >&2
elif ! have_pkg pcscd || ! have_pkg vsmartcard-vpcd; then
	echo "demo: not root, pcscd/vsmartcard-vpcd missing: the YubiKey step will be skipped (sudo apt-get install pcscd vsmartcard-vpcd)" >&2
fi
export CGO_ENABLED=1 # never a silent pure-Go core: it would fail at link time

bold "building bg-agent and the fake AWS"
# bgtest: this bg-agent trusts the virtual YubiKey's attestation CAs
# (BG_AGENT_TEST_ATTESTATION_ROOTS, below); a release build trusts Yubico only.
go build -tags urfave_cli_no_docs,bgtest -o "$DEMO/bin/" ./cmd/...
export PATH="$DEMO/bin:$PATH"

bold "starting the fake AWS (STS behind sts.<region>.amazonaws.com, reached through HTTPS_PROXY)"
bg-testworld serve --demo --dir "$DEMO/world" >"$DEMO/world.log" 2>&1 &
WORLD_PID=$!
for _ in $(seq 100); do [ -s "$DEMO/world/env.sh" ] && break; sleep 0.1; done
[ -s "$DEMO/world/env.sh" ] || { cat "$DEMO/world.log"; exit 1; }
# The proxy and the test CA, for bg-agent and for the AWS CLI alike.
# shellcheck disable=SC1091
. "$DEMO/world/env.sh"
echo "HTTPS_PROXY=$HTTPS_PROXY  AWS_CA_BUNDLE=$AWS_CA_BUNDLE"

export HOME="$DEMO/home" AWS_CONFIG_FILE="$DEMO/aws-config" AWS_SHARED_CREDENTIALS_FILE="$DEMO/no-credentials"
export BG_AGENT_HOME="$DEMO/state" BG_AGENT_BACKEND=file BG_AGENT_FILE_PASSPHRASE=demo-passphrase
export AWS_STS_REGIONAL_ENDPOINTS=regional AWS_EC2_METADATA_DISABLED=true
mkdir -p "$HOME"

bold "storing the demo users' access keys (read from stdin, never argv)"
printf '%s\n%s\n' AKIADEMOALICEBG00001 DemoAliceBgNotASecret/000000000000000000 | bg-agent add alice-bg
printf '%s\n%s\n' AKIADEMOBOBBG0000001 DemoBobBgNotASecret/00000000000000000000 | bg-agent add bob-bg
bg-agent ls

bold "a throwaway AWS config: $AWS_CONFIG_FILE"
cat >"$AWS_CONFIG_FILE" <<CONF
[profile bg-demo-ops]
region = ap-northeast-1
credential_process = $DEMO/bin/bg-agent process bg-demo-ops
bg_user = alice-bg
bg_mfa_serial = arn:aws:iam::111111111111:mfa/alice-bg
bg_mfa = command
# the demo's software token; on a real laptop: bg_mfa = yubikey or prompt
bg_mfa_command = bg-testworld totp arn:aws:iam::111111111111:mfa/alice-bg
bg_roles = arn:aws:iam::111111111111:role/BreakGlassOperator arn:aws:iam::222222222222:role/EmergencyOps
bg_regions = ap-northeast-1 ap-northeast-3 us-west-2
bg_duration = 1h

[profile bg-demo-ro]
region = ap-northeast-1
credential_process = $DEMO/bin/bg-agent process bg-demo-ro
bg_user = bob-bg
bg_mfa_serial = arn:aws:iam::111111111111:mfa/bob-bg
bg_mfa_command = bg-testworld totp arn:aws:iam::111111111111:mfa/bob-bg
bg_roles = arn:aws:iam::111111111111:role/BreakGlassOperator arn:aws:iam::333333333333:role/EmergencyRO
bg_regions = ap-northeast-1 ap-northeast-3 us-west-2
CONF
cat "$AWS_CONFIG_FILE"

bold "1. bg-agent exec: the chain, hop by hop, then the AWS CLI with those credentials"
bg-agent exec bg-demo-ops -- aws sts get-caller-identity --output json

bold "2. the AWS CLI on its own, through credential_process, as bob-bg into another account"
aws sts get-caller-identity --profile bg-demo-ro --output json

bold "3. ap-northeast-1 is blackholed: the chain fails over to ap-northeast-3"
echo "(step 1 started the agent, which caches alice's sessions in memory: lock it so the whole chain runs again;"
echo " alice's code from step 1 may still be the current one, and AWS rejects a used code, so bg-agent waits for the next)"
bg-agent agent lock
bg-testworld fault sts.ap-northeast-1.amazonaws.com blackhole
start=$(date +%s.%N)
bg-agent exec bg-demo-ops -- aws sts get-caller-identity --region ap-northeast-3 --output json
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "(credentials and the call took %.1f s, including any wait for a fresh TOTP code)\n", e - s }'

bg-testworld clear >/dev/null

if ./scripts/pcsc-world.sh status 2>/dev/null || { [ "$(id -u)" -eq 0 ] && ./scripts/pcsc-world.sh start && PCSC_STARTED=1; }; then
	bold "4. a virtual YubiKey on the real pcscd: the key sealed to its PIV slot, the MFA code from its OATH applet with a touch"
	YK="$DEMO/yubikey.json"
	bg-vyubikey oath add --state "$YK" --touch --secret-base32 ALICEBGDEMOTOTPSEEDNOTASECRET234 "Amazon Web Services:alice-bg@111111111111"
	bg-vyubikey ca --state "$YK" >"$DEMO/attestation-roots.pem"
	export BG_AGENT_TEST_ATTESTATION_ROOTS="$DEMO/attestation-roots.pem"
	bg-vyubikey run --state "$YK" --serial 17000001 --touch auto --touch-delay 800ms 2>"$DEMO/yubikey.log" &
	YK_PID=$!
	for _ in $(seq 100); do bg-agent yubikey list 2>/dev/null | grep -q 17000001 && break; sleep 0.1; done
	PIN_POLICY=once
	[ -t 0 ] || PIN_POLICY=never # no terminal to type the PIN (123456) on
	bg-agent yubikey setup --yubikey-serial 17000001 --pin-policy "$PIN_POLICY" --yes
	printf '%s\n%s\n' AKIADEMOALICEBG00001 DemoAliceBgNotASecret/000000000000000000 | bg-agent add --seal --yubikey-serial 17000001 alice-bg
	bg-agent ls
	cat >>"$AWS_CONFIG_FILE" <<CONF

[profile bg-demo-yubikey]
region = ap-northeast-1
credential_process = $DEMO/bin/bg-agent process bg-demo-yubikey
bg_user = alice-bg
bg_mfa_serial = arn:aws:iam::111111111111:mfa/alice-bg
bg_mfa = yubikey
bg_yubikey_serial = 17000001
bg_roles = arn:aws:iam::111111111111:role/BreakGlassOperator arn:aws:iam::222222222222:role/EmergencyOps
bg_regions = ap-northeast-1 ap-northeast-3 us-west-2
CONF
	bg-agent exec --direct bg-demo-yubikey -- aws sts get-caller-identity --output json

	bold "5. a second way in with no access key at all: IAM Roles Anywhere, the certificate's key on the YubiKey"
	echo "(the key is made in slot 9a, the CA signs its request, the CA becomes a trust anchor in each region;"
	echo " every CreateSession is signed on the card, and the session's source identity is the certificate's CN)"
	bg-agent yubikey setup --yubikey-serial 17000001 --cert --cn alice --csr "$DEMO/alice.csr" --pin-policy "$PIN_POLICY" --keep-defaults --yes
	bg-agent kit ca init --out "$DEMO/ca"
	bg-agent kit ca sign --ca "$DEMO/ca" --out "$DEMO/alice.pem" "$DEMO/alice.csr"
	bg-agent yubikey import-cert --yubikey-serial 17000001 --ca "$DEMO/ca/ca.pem" "$DEMO/alice.pem"
	for r in ap-northeast-1 ap-northeast-3 us-west-2; do
		bg-testworld trust-anchor "arn:aws:rolesanywhere:$r:111111111111:trust-anchor/demo" "$DEMO/ca/ca.pem"
		bg-testworld ra-profile --duration 43200 "arn:aws:rolesanywhere:$r:111111111111:profile/demo" arn:aws:iam::111111111111:role/BreakGlassRolesAnywhere
	done
	cat >>"$AWS_CONFIG_FILE" <<CONF

[profile bg-demo-ra]
region = ap-northeast-1
credential_process = $DEMO/bin/bg-agent process bg-demo-ra
bg_start = roles-anywhere
bg_trust_anchor = arn:aws:rolesanywhere:{region}:111111111111:trust-anchor/demo
bg_ra_profile = arn:aws:rolesanywhere:{region}:111111111111:profile/demo
bg_ra_role = arn:aws:iam::111111111111:role/BreakGlassRolesAnywhere
bg_yubikey_serial = 17000001
bg_roles = arn:aws:iam::222222222222:role/EmergencyOps
bg_regions = ap-northeast-1 ap-northeast-3 us-west-2
CONF
	bg-agent yubikey list
	echo "(rolesanywhere.ap-northeast-1 is blackholed too: CreateSession fails over like STS does)"
	bg-testworld fault rolesanywhere.ap-northeast-1.amazonaws.com blackhole
	aws sts get-caller-identity --profile bg-demo-ra --output json
	bg-testworld clear >/dev/null
else
	echo "(pcscd with the vpcd reader is not running: skipping the YubiKey part; start it with: sudo scripts/pcsc-world.sh start)"
fi

bold "the audit log: every issue, hash-chained"
bg-agent audit
bg-agent audit verify

bold "what the fake AWS saw (no call ever went to the global sts.amazonaws.com)"
bg-testworld calls
