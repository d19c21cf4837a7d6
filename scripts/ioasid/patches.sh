#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The kernel patch series in patches/ (VFIO on /dev/ioasid, the VFIO selftests' ioasid
# mode) and the kernel tree it must be in.
#
#   patches.sh apply <ksrc>   the build's own copy of the pinned source: put the series
#                             in, replacing whatever older version of it is there
#   patches.sh check <ksrc>   a tree of the user's (KDIR): fail, saying how to apply the
#                             series, unless every patch of it is in
#
# apply keeps the original of every file a patch touches in <ksrc>/.ioasid-orig, so a
# changed series is applied to the pristine files again, never on top of an older one.
# check reverses the whole series on a scratch copy of the files it touches: it passes
# only if every patch is applied as it is in this repository.
set -euo pipefail
. "$(dirname "$0")/common.sh"

mode=$1 ksrc=$2
series=("$REPO"/patches/*.patch)
[ -f "${series[0]}" ] || die "no patches in $REPO/patches"

# The paths a set of patches touches (both sides, for created files).
touched() {
	sed -n 's#^+++ b/##p; s#^--- a/##p' "$@" | sort -u
}

case $mode in
apply)
	hash=$(cat "${series[@]}" | sha256sum | cut -c1-16)
	[ "$(cat "$ksrc/.ioasid-series" 2>/dev/null)" = "$hash" ] && exit 0
	orig=$ksrc/.ioasid-orig
	mkdir -p "$orig"
	# Put back the files an older series changed (and remove the ones it created).
	if [ -f "$orig/.files" ]; then
		while IFS= read -r f; do
			if [ -f "$orig/$f" ]; then cp "$orig/$f" "$ksrc/$f"; else rm -f "$ksrc/$f"; fi
		done <"$orig/.files"
	fi
	# Save the originals of files this series touches for the first time.
	while IFS= read -r f; do
		grep -qxF "$f" "$orig/.files" 2>/dev/null && continue
		if [ -f "$ksrc/$f" ]; then mkdir -p "$orig/$(dirname "$f")" && cp -p "$ksrc/$f" "$orig/$f"; fi
		echo "$f" >>"$orig/.files"
	done < <(touched "${series[@]}")
	log "applying ${#series[@]} kernel patches (patches/) to $ksrc"
	for p in "${series[@]}"; do
		patch -d "$ksrc" -p1 -s -N --no-backup-if-mismatch -i "$p" >/dev/null ||
			die "patches/${p##*/} does not apply to $ksrc"
	done
	echo "$hash" >"$ksrc/.ioasid-series"
	;;
check)
	scratch=$(mktemp -d)
	trap 'rm -rf "$scratch"' EXIT
	while IFS= read -r f; do
		[ -f "$ksrc/$f" ] && mkdir -p "$scratch/$(dirname "$f")" && cp "$ksrc/$f" "$scratch/$f"
	done < <(touched "${series[@]}")
	for ((i = ${#series[@]} - 1; i >= 0; i--)); do
		patch -d "$scratch" -p1 -R -s -f --dry-run -i "${series[i]}" >/dev/null 2>&1 &&
			patch -d "$scratch" -p1 -R -s -f --no-backup-if-mismatch -i "${series[i]}" >/dev/null 2>&1 ||
			die "$ksrc lacks patches/${series[i]##*/} (or has another version of it).
  Apply the series first:  cd $ksrc && git am $REPO/patches/*.patch"
	done
	;;
*) die "usage: patches.sh apply|check <kernel source>" ;;
esac
