#!/usr/bin/env bash
# build.sh: the release build. From the committed tree at HEAD (never the
# working tree, so a release is exactly a commit) it writes dist/:
#
#   bg-agent-VERSION.tar.gz                       source tarball (git archive; the Homebrew formula builds it)
#   bg-agent_VERSION_linux_amd64.tar.gz           bg-agent (front, static, no cgo) + bg-agent-core (cgo,
#                                                 for PC/SC) side by side + completions + man page + example kit
#   bg-agent_VERSION_linux_arm64.tar.gz           only when an arm64 cross toolchain is installed (see README)
#   bg-agent_VERSION_windows_amd64.zip            bg-agent.exe + bg-agent-core.exe, both pure Go (Windows
#                                                 reaches smart cards through winscard.dll) + the same extras
#   bg-agent_*.deb, bg-agent-*.rpm                nfpm; /usr/bin/bg-agent + /usr/libexec/bg-agent/bg-agent-core;
#                                                 dependencies computed from the core (dpkg-shlibdeps, elfdeps);
#                                                 the systemd user socket + service; LICENSE
#   bg-agent_VERSION_windows_amd64.msi            wixl (Debian's msitools); both .exe, per-user, adds itself to PATH
#   bg-agent.rb                                   Homebrew formula with the source tarball's sha256
#   bg-agent{,-core}_VERSION_OS_ARCH.cdx.json     CycloneDX SBOM of each binary
#   SHA256SUMS
#
# Reproducible: -trimpath, empty build id, SOURCE_DATE_EPOCH = the commit
# time for every archive mtime, fixed MSI GUIDs derived from version and
# commit. Two runs on one commit give identical SHA256SUMS.
#
# Environment: COMMIT (default HEAD), VERSION (default: the exact tag without "v", else
# 0.0.0-git.DATE.SHORTCOMMIT), RELEASE_BASE_URL (where the source tarball
# will be published; the formula's url), DIST (default dist),
# AUTHENTICODE_CERT + AUTHENTICODE_KEY (PEM files: sign the Windows .exe and
# .msi with osslsigncode; with AUTHENTICODE_PKCS11_MODULE the key is a
# PKCS#11 URI on a token instead of a file). SHA256SUMS is signed afterwards,
# on the machine that holds the release key: packaging/sign.sh.
set -euo pipefail
# Every file the build writes gets the same mode whatever the caller's umask
# (under 027 the tarballs differed: group/other bits of files made here).
umask 022
cd "$(dirname "$0")/.."
repo=$(pwd)
say() { echo "build: $*" >&2; }

NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2

commit=$(git rev-parse "${COMMIT:-HEAD}^{commit}")
short=$(git rev-parse --short=12 "$commit")
export SOURCE_DATE_EPOCH=$(git log -1 --format=%ct "$commit")
if [ -z "${VERSION:-}" ]; then
	if tag=$(git describe --tags --exact-match "$commit" 2>/dev/null); then
		VERSION=${tag#v}
	else
		VERSION="0.0.0-git.$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d).$short"
	fi
fi
pkg_version=${VERSION//-/\~}           # deb/rpm: a pre-release sorts before the release
# MSI: numeric major.minor.build only, and upgrades compare it, so every
# build needs its own: a release is its tag's X.Y.Z; a snapshot is 0.0.N with
# N the commit count (each commit on main sorts above the one before it and
# below every release from 0.1.0 on).
if [[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
	msi_version=$VERSION
else
	msi_version="0.0.$(($(git rev-list --count "$commit") % 65536))"
fi
base_url=${RELEASE_BASE_URL:-https://github.com/bg-agent/bg-agent/releases/download/v$VERSION}
dist=${DIST:-dist}
case "$dist" in /*) ;; *) dist="$repo/$dist" ;; esac
if [ "$dist" = / ] || [ "$dist" = "$repo" ] || [ -e "$dist/go.mod" ]; then
	say "refusing DIST=$dist: it is emptied first"
	exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$dist"
mkdir -p "$dist"
say "bg-agent $VERSION ($commit), SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"

# The source: exactly the commit.
src="$work/bg-agent-$VERSION"
git archive --format=tar --prefix="bg-agent-$VERSION/" "$commit" | tar -x -C "$work"
git archive --format=tar.gz --prefix="bg-agent-$VERSION/" -o "$dist/bg-agent-$VERSION.tar.gz" "$commit"

ldflags="-s -w -buildid= -X main.version=$VERSION -X main.commit=$commit"
# urfave_cli_no_docs drops urfave/cli's markdown/man path (blackfriday), whose
# package init runs at every start; `bg-agent man` writes the page itself.
tags=urfave_cli_no_docs
gobuild() { # OUT PKG GOOS GOARCH CGO [CC]
	local out=$1 mode=()
	# A cgo binary is built as PIE (ASLR for the core, which holds the
	# secrets; lintian's hardening-no-pie). The static front stays non-PIE:
	# a PIE front would need the dynamic loader, which it must not.
	[ "$5" = 1 ] && mode=(-buildmode=pie)
	(cd "$src" && env GOOS="$3" GOARCH="$4" CGO_ENABLED="$5" ${6:+CC=$6} GOFLAGS= GOAMD64=v1 \
		go build -trimpath -buildvcs=false "${mode[@]}" -tags "$tags" -ldflags "$ldflags" -o "$out" "$2")
}
# The two binaries users see as one command: the front door bg-agent is pure
# Go on every platform (CGO_ENABLED=0: on Linux the internal linker makes it
# static, no PT_INTERP, no DT_NEEDED); it execs bg-agent-core, which it finds
# next to itself or in ../libexec/bg-agent/. The core is cgo where PC/SC is
# (CORE_CGO: 1 on Linux, 0 on Windows, which reaches winscard.dll without cgo).
build_pair() { # DIR GOOS GOARCH CORE_CGO [CC] -> DIR/bg-agent[.exe], DIR/bg-agent-core[.exe]
	local exe=
	[ "$2" = windows ] && exe=.exe
	gobuild "$1/bg-agent$exe" ./cmd/bg-agent "$2" "$3" 0
	gobuild "$1/bg-agent-core$exe" ./cmd/bg-agent-core "$2" "$3" "$4" "${5:-}"
}

# Deterministic tar.gz of DIR's contents.
tgz() { # OUT DIR
	tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
		--format=gnu -C "$2" -c . | gzip -9n >"$1"
}

# Linux: the core is cgo for PC/SC (piv-go links libpcsclite).
linux_tree() { # ARCH CC
	local d="$work/linux-$1"
	mkdir -p "$d/completions"
	build_pair "$d" linux "$1" 1 "${2:-}"
	local run="$work/linux-amd64/bg-agent" # completions come from the native pair (the front execs its core)
	"$run" completion bash >"$d/completions/bg-agent.bash"
	"$run" completion zsh >"$d/completions/_bg-agent"
	"$run" completion fish >"$d/completions/bg-agent.fish"
	"$run" completion powershell >"$d/completions/bg-agent-completion.ps1"
	"$run" man >"$d/bg-agent.1"
	gzip -9n <"$d/bg-agent.1" >"$d/bg-agent.1.gz"
	cp "$src/examples/kit.toml" "$d/kit.toml"
	cp "$src/LICENSE" "$d/LICENSE"
	mkdir -p "$work/tar-$1"
	cp -r "$d/bg-agent" "$d/bg-agent-core" "$d/completions" "$d/bg-agent.1" "$d/kit.toml" "$d/LICENSE" "$work/tar-$1/"
	tgz "$dist/bg-agent_${VERSION}_linux_$1.tar.gz" "$work/tar-$1"
}
say "linux/amd64 (cgo)"
linux_tree amd64
arches=(amd64)
# arm64 needs a cross C toolchain and libpcsclite for arm64 (Debian
# multiarch); scripts/deps.sh installs them as root, elsewhere it is built
# only when they are installed: apt-get install gcc-aarch64-linux-gnu libpcsclite-dev:arm64.
if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 && [ -e /usr/lib/aarch64-linux-gnu/libpcsclite.so ]; then
	say "linux/arm64 (cgo, cross)"
	linux_tree arm64 aarch64-linux-gnu-gcc
	arches+=(arm64)
else
	say "skipping linux/arm64: no aarch64-linux-gnu-gcc + libpcsclite-dev:arm64 (see packaging/README.md)"
fi

say "windows/amd64"
win="$work/windows-amd64"
mkdir -p "$win"
build_pair "$win" windows amd64 0
# Authenticode, with the signing time fixed at SOURCE_DATE_EPOCH: RSA
# PKCS#1 v1.5 signatures are deterministic, so a signed build is still
# reproducible with the same certificate. No timestamp server (offline).
authenticode() { # FILE
	[ -n "${AUTHENTICODE_CERT:-}" ] || return 0
	local key=(-key "$AUTHENTICODE_KEY")
	[ -n "${AUTHENTICODE_PKCS11_MODULE:-}" ] && key=(-pkcs11module "$AUTHENTICODE_PKCS11_MODULE" -key "$AUTHENTICODE_KEY")
	osslsigncode sign -certs "$AUTHENTICODE_CERT" "${key[@]}" -h sha256 -n bg-agent \
		-i https://github.com/bg-agent/bg-agent -time "$SOURCE_DATE_EPOCH" -in "$1" -out "$1.signed" >&2
	mv "$1.signed" "$1"
}
if [ -n "${AUTHENTICODE_CERT:-}" ]; then
	say "authenticode: signing the Windows executables"
	authenticode "$win/bg-agent.exe"
	authenticode "$win/bg-agent-core.exe"
else
	say "AUTHENTICODE_CERT not set: the Windows executables and MSI are not Authenticode-signed"
fi
cp "$work/linux-amd64/completions/bg-agent-completion.ps1" "$work/linux-amd64/bg-agent.1" "$src/examples/kit.toml" "$win/"
cp "$src/LICENSE" "$win/LICENSE.txt"
# The portable zip: both .exe side by side (the front looks next to itself)
# and the extras. -X: no uid/gid or extended timestamps; zip stores local
# time, so TZ=UTC with every mtime at SOURCE_DATE_EPOCH; names sorted.
winzip=(LICENSE.txt bg-agent-completion.ps1 bg-agent-core.exe bg-agent.1 bg-agent.exe kit.toml)
touch -d "@$SOURCE_DATE_EPOCH" "${winzip[@]/#/$win/}"
(cd "$win" && TZ=UTC zip -q -X -D "$work/bg-agent-windows.zip" "${winzip[@]}")
cp "$work/bg-agent-windows.zip" "$dist/bg-agent_${VERSION}_windows_amd64.zip"

# .deb and .rpm through nfpm (a Go module, pinned).
#
# Debian policy files nfpm does not write: the machine-readable copyright
# (12.5), a changelog.Debian.gz for the version (12.7), and a lintian
# override for the front door, which is static on purpose (DESIGN §2).
debdoc="$work/debian-doc"
first_year=$(git log --format=%cd --date=format:%Y "$commit" | tail -n 1) # the first commit's year
mkdir -p "$debdoc"
cat >"$debdoc/copyright" <<-COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: bg-agent
Source: https://github.com/bg-agent/bg-agent

Files: *
Copyright: $first_year-$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y) The bg-agent contributors
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License. You may obtain a copy of
 the License at http://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
 License for the specific language governing permissions and limitations under
 the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0 can
 be found in "/usr/share/common-licenses/Apache-2.0".
COPYRIGHT
{
	echo "bg-agent ($pkg_version-1) unstable; urgency=medium"
	echo
	echo "  * Release $VERSION, built from commit $short."
	echo
	echo " -- bg-agent maintainers <bg-agent@example.com>  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$debdoc/changelog.Debian.gz"
cat >"$debdoc/lintian-overrides" <<-OVERRIDES
# The front door answers credential_process from the agent in one round trip;
# it is static so that it starts in about a millisecond with no loader and no
# libc (DESIGN section 2). The core, which links libpcsclite, is dynamic.
bg-agent: statically-linked-binary [usr/bin/bg-agent]
# Shipped from the project, not uploaded to the Debian archive: there is no
# ITP bug for the first changelog entry to close.
bg-agent: initial-upload-closes-no-bugs [usr/share/doc/bg-agent/changelog.Debian.gz:1]
OVERRIDES
# Runtime dependencies come from the core's ELF, as dpkg-shlibdeps and rpm's
# elfdeps compute them for a distribution's own packages, not by hand.
deb_depends() { # ARCH CORE
	local d="$work/shlibs-$1"
	mkdir -p "$d/debian"
	printf 'Source: bg-agent\n\nPackage: bg-agent\nArchitecture: any\n' >"$d/debian/control"
	(cd "$d" && DEB_HOST_ARCH=$1 dpkg-shlibdeps -O "$2" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}
rpm_requires() { # CORE
	/usr/lib/rpm/elfdeps --requires "$1" | LC_ALL=C sort -u
}
for arch in "${arches[@]}"; do
	cfg="$work/nfpm-$arch.yaml"
	sed -e "s|\${NFPM_ARCH}|$arch|g" -e "s|\${NFPM_VERSION}|$pkg_version|g" -e "s|\${BUILD_DIR}|$work/linux-$arch|g" \
		-e "s|\${DOC_DIR}|$debdoc|g" -e "s|\${SRC_DIR}|$src|g" \
		"$src/packaging/nfpm.yaml" >"$cfg"
	core="$work/linux-$arch/bg-agent-core"
	depends=$(deb_depends "$arch" "$core")
	[ -n "$depends" ] || { say "dpkg-shlibdeps found no dependencies of $core"; exit 1; }
	{
		echo "overrides:"
		echo "  deb:"
		echo "    depends:"
		echo "$depends" | tr ',' '\n' | sed -e 's/^ *//' -e 's/^/      - "/' -e 's/$/"/'
		echo "    recommends:"
		echo "      - pcscd"
		echo "  rpm:"
		echo "    depends:"
		echo "      - pcsc-lite"
		rpm_requires "$core" | sed -e 's/^/      - "/' -e 's/$/"/'
	} >>"$cfg"
	for fmt in deb rpm; do
		say "$fmt ($arch)"
		(cd "$work" && GOFLAGS= go run "$NFPM" package --config "$cfg" --packager "$fmt" --target "$dist/" >&2)
	done
done

# MSI through wixl, with GUIDs fixed by version and commit.
guid() { printf '%s' "$1" | sha256sum | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\U\1-\2-\3-\4-\5/'; }
if command -v wixl >/dev/null 2>&1; then
	say "msi (wixl)"
	# wixl and libmsi stamp the current time into the summary information and
	# a random revision UUID: freeze the clock at SOURCE_DATE_EPOCH with
	# libfaketime and set the revision (the package code) ourselves. -f: an
	# absolute time stands still; faketime's plain form only starts the clock
	# there, and a wixl run that crossed a second made two builds differ.
	frozen=()
	if command -v faketime >/dev/null 2>&1; then
		frozen=(env TZ=UTC faketime -f "$(date -u -d "@$SOURCE_DATE_EPOCH" '+%Y-%m-%d %H:%M:%S')")
	else
		say "faketime is not installed: the MSI will not be reproducible (apt-get install faketime)"
	fi
	package_code=$(guid "bg-agent package $VERSION $commit")
	cp "$src/packaging/windows/bg-agent.wxs" "$win/"
	touch -d "@$SOURCE_DATE_EPOCH" "$win"/*
	(cd "$win" && "${frozen[@]}" wixl --arch x64 -D Version="$msi_version" \
		-D ProductCode="$(guid "bg-agent product $VERSION $commit")" \
		-D PackageCode="$package_code" \
		-o "$work/bg-agent.msi" bg-agent.wxs)
	# The per-user PATH entry: "=-PATH" sets on install and removes on
	# uninstall; "[~];" appends to the user's existing PATH.
	"${frozen[@]}" msibuild "$work/bg-agent.msi" -s "Installation Database" "bg-agent" "x64;1033" "{$package_code}"
	"${frozen[@]}" msibuild "$work/bg-agent.msi" \
		-q "CREATE TABLE \`Environment\` (\`Environment\` CHAR(72) NOT NULL, \`Name\` CHAR(255) NOT NULL LOCALIZABLE, \`Value\` CHAR(255) LOCALIZABLE, \`Component_\` CHAR(72) NOT NULL PRIMARY KEY \`Environment\`)" \
		-q "INSERT INTO \`Environment\` (\`Environment\`, \`Name\`, \`Value\`, \`Component_\`) VALUES ('PathEntry', '=-PATH', '[~];[INSTALLDIR]', 'UserPath')" \
		-q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Sequence\`) VALUES ('RemoveEnvironmentStrings', 3300)" \
		-q "INSERT INTO \`InstallExecuteSequence\` (\`Action\`, \`Sequence\`) VALUES ('WriteEnvironmentStrings', 5200)"
	authenticode "$work/bg-agent.msi"
	cp "$work/bg-agent.msi" "$dist/bg-agent_${VERSION}_windows_amd64.msi"
else
	say "skipping the MSI: wixl is not installed (apt-get install wixl msitools)"
fi

# Homebrew formula for the source tarball.
tarball="bg-agent-$VERSION.tar.gz"
sha=$(sha256sum "$dist/$tarball" | cut -d' ' -f1)
version_line=
[[ $VERSION =~ ^[0-9]+(\.[0-9]+)+$ ]] || version_line="  version \"$VERSION\"\n"
sed -e "s|@URL@|$base_url/$tarball|" -e "s|@SHA256@|$sha|" -e "s|@VERSION_LINE@|$version_line|" -e "s|@COMMIT@|$commit|" \
	"$src/packaging/homebrew/bg-agent.rb.in" >"$dist/bg-agent.rb"
# The tap: Formula/bg-agent.rb, as `brew tap OWNER/TAP` expects the repository.
mkdir -p "$work/tap/Formula"
cp "$dist/bg-agent.rb" "$work/tap/Formula/bg-agent.rb"
touch -d "@$SOURCE_DATE_EPOCH" "$work/tap/Formula/bg-agent.rb" "$work/tap/Formula"
tgz "$dist/bg-agent_${VERSION}_homebrew-tap.tar.gz" "$work/tap"

# CycloneDX SBOMs from the binaries' embedded build info, one per binary
# (front and core link different modules).
# The SBOM also names the Debian package behind each C library the core
# links and the C compiler of the cgo build, with their versions.
clib_flags() { # BINARY DEBARCH MULTIARCH -> -clib SONAME=PURL ...
	local so f pkg
	for so in $(objdump -p "$1" 2>/dev/null | awk '$1 == "NEEDED" {print $2}'); do
		pkg=
		for f in "/lib/$3/$so" "/usr/lib/$3/$so"; do
			pkg=$(dpkg-query -S "$f" 2>/dev/null | cut -d: -f1) && break
		done
		[ -n "$pkg" ] || { say "no Debian package provides $so for $1"; exit 1; }
		printf -- '-clib\n%s=pkg:deb/debian/%s@%s?arch=%s\n' "$so" "$pkg" "$(dpkg-query -W -f='${Version}' "$pkg:$2")" "$2"
	done
}
sbom() { # BINARY OUT [SBOM FLAG...]
	local bin=$1 out=$2
	shift 2
	(cd "$src" && GOFLAGS= go run ./packaging/sbom -version "$VERSION" "$@" "$bin") >"$out"
}
for arch in "${arches[@]}"; do
	case $arch in
	amd64) multiarch=x86_64-linux-gnu cc=gcc ;;
	arm64) multiarch=aarch64-linux-gnu cc=aarch64-linux-gnu-gcc ;;
	esac
	mapfile -t clibs < <(clib_flags "$work/linux-$arch/bg-agent-core" "$arch" "$multiarch")
	sbom "$work/linux-$arch/bg-agent" "$dist/bg-agent_${VERSION}_linux_$arch.cdx.json"
	sbom "$work/linux-$arch/bg-agent-core" "$dist/bg-agent-core_${VERSION}_linux_$arch.cdx.json" \
		"${clibs[@]}" -tool "$cc=$("$cc" -dumpfullversion)"
done
sbom "$win/bg-agent.exe" "$dist/bg-agent_${VERSION}_windows_amd64.cdx.json"
sbom "$win/bg-agent-core.exe" "$dist/bg-agent-core_${VERSION}_windows_amd64.cdx.json"

(cd "$dist" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
say "done: $dist"
cat "$dist/SHA256SUMS" >&2
