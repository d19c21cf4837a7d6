#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install and cache everything the build needs, on a Debian 12 machine, as root.
#
# Idempotent: every step checks what is already there, so a second run only reads
# dpkg's database and a few stamp files. Everything downloaded lands outside the
# clone, under $IOASID_CACHE (default ~/.cache/ioasid).
#
#   apt: Rust (rustc-web, rust-web-src), clang/LLVM 19, QEMU 10 (bookworm-backports),
#        busybox-static, kernel build dependencies;      verified by apt's signatures
#   kernel source: linux-source-7.3 at a pinned version (trixie-backports);
#        verified by apt and by a pinned sha256 of the .deb
#   bindgen-cli: pinned version from crates.io, --locked;  verified by cargo checksums
#
# KDIR=/path/to/linux skips the kernel-source step and builds against that tree.
set -euo pipefail
. "$(dirname "$0")/common.sh"

APT_PKGS=(
	rustc-web cargo-web rust-web-src
	clang-19 libclang-19-dev lld-19 llvm-19
	busybox-static cpio gzip xz-utils
	gcc make flex bison bc libelf-dev libssl-dev kmod python3 libcap-dev rsync
	python3-docutils
	patch perl uuid-dev
)
QEMU_PKG=qemu-system-x86

missing_pkgs() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			echo "$p"
	done
}

apt_sources() {
	local f=/etc/apt/sources.list.d/ioasid-backports.sources
	[ -f "$f" ] && return 0
	log "adding bookworm-backports and trixie-backports (NotAutomatic) to apt sources"
	cat >"$f" <<'SRC'
# Added by ioasid's scripts/ioasid/setup.sh: QEMU 10 and linux-source-7.3 come from here.
# Backports suites are NotAutomatic: nothing is upgraded from them unless asked with -t.
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	rm -f "$IOASID_CACHE/.apt-updated"
}

apt_update_once() {
	[ -f "$IOASID_CACHE/.apt-updated" ] && return 0
	log "apt-get update"
	apt-get update -qq
	touch "$IOASID_CACHE/.apt-updated"
}

install_packages() {
	local miss qmiss
	miss=$(missing_pkgs "${APT_PKGS[@]}")
	qmiss=$(missing_pkgs "$QEMU_PKG")
	if [ -n "$qmiss" ] || ! qemu-system-x86_64 --version 2>/dev/null | grep -q 'version 1[0-9]'; then
		qmiss=$QEMU_PKG
	fi
	[ -z "$miss$qmiss" ] && return 0
	apt_sources
	apt_update_once
	export DEBIAN_FRONTEND=noninteractive
	if [ -n "$miss" ]; then
		log "installing:" $miss
		apt-get install -y -qq --no-install-recommends $miss >/dev/null
	fi
	if [ -n "$qmiss" ]; then
		log "installing $QEMU_PKG from bookworm-backports"
		apt-get install -y -qq --no-install-recommends -t bookworm-backports "$QEMU_PKG" >/dev/null
	fi
}

install_bindgen() {
	[ -x "$BINDGEN" ] && "$BINDGEN" --version 2>/dev/null | grep -q "$BINDGEN_VERSION" && return 0
	log "building bindgen-cli $BINDGEN_VERSION from crates.io (about 2 minutes)"
	LIBCLANG_PATH=$LIBCLANG_PATH cargo install -q --locked bindgen-cli \
		--version "$BINDGEN_VERSION" --root "$IOASID_CACHE/tools"
}

fetch_kernel_source() {
	if [ -n "${KDIR:-}" ]; then
		[ -f "$KDIR/Makefile" ] || die "KDIR=$KDIR is not a kernel source tree"
		return 0
	fi
	[ -f "$KSRC_PRISTINE/.ioasid-extracted" ] && return 0
	local deb="$IOASID_CACHE/dl/linux-source-${KERNEL_MAJOR}_${KERNEL_DEB_VERSION}_all.deb"
	mkdir -p "$IOASID_CACHE/dl"
	if [ ! -f "$deb" ]; then
		apt_sources
		apt_update_once
		log "downloading linux-source-$KERNEL_MAJOR=$KERNEL_DEB_VERSION (167 MB)"
		(cd "$IOASID_CACHE/dl" &&
			apt-get download -qq -o APT::Sandbox::User=root "linux-source-$KERNEL_MAJOR=$KERNEL_DEB_VERSION") || die \
			"linux-source-$KERNEL_MAJOR $KERNEL_DEB_VERSION is not available from apt.
  Point the build at a Linux $KERNEL_MAJOR tree you already have: KDIR=/path/to/linux make ..."
	fi
	echo "$KERNEL_DEB_SHA256  $deb" | sha256sum -c --quiet - ||
		die "checksum mismatch for $deb (expected $KERNEL_DEB_SHA256); delete it to retry"
	log "unpacking kernel source"
	rm -rf "$KSRC_PRISTINE" "$IOASID_CACHE/unpack"
	mkdir -p "$IOASID_CACHE/unpack"
	dpkg-deb --fsys-tarfile "$deb" |
		tar -x -C "$IOASID_CACHE/unpack" --wildcards '*/linux-source-*.tar.*'
	local tarball
	tarball=$(find "$IOASID_CACHE/unpack" -name 'linux-source-*.tar.*' | head -1)
	mkdir -p "$KSRC_PRISTINE"
	tar -x -C "$KSRC_PRISTINE" --strip-components=1 -f "$tarball"
	rm -rf "$IOASID_CACHE/unpack"
	touch "$KSRC_PRISTINE/.ioasid-extracted"
}

mkdir -p "$IOASID_CACHE"
install_packages
install_bindgen
fetch_kernel_source
log "set-up complete (cache: $IOASID_CACHE)"
