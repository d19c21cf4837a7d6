#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the VM kernel with ioasid in it: bzImage and the installed uAPI headers.
#
# The project tree is linked into the kernel source as drivers/ioasid (two one-line
# hooks in drivers/Kconfig and drivers/Makefile), and the kernel is built out of tree
# in $IOASID_CACHE/build/<flavour>, so rebuilds are incremental and the clone stays clean.
#
#   kernel.sh [debug]   test kernel: LLVM=-19, KASAN, lockdep, kmemleak, DEBUG_LIST
#   kernel.sh bench     benchmark kernel: without the debug options and without any
#                       test hook (no mock, no fault injection): the peers as shipped
#   kernel.sh bench-mock  the rows of the benchmark that need a mock IOMMU
#
# Prints the build directory on stdout.
set -euo pipefail
. "$(dirname "$0")/common.sh"

flavour=${1:-debug}
case $flavour in
debug) fragments=("$REPO/kernel/configs/ioasid.config" "$REPO/kernel/configs/ioasid-debug.config") ;;
bench) fragments=("$REPO/kernel/configs/ioasid.config" "$REPO/kernel/configs/ioasid-bench.config") ;;
bench-mock) fragments=("$REPO/kernel/configs/ioasid.config" "$REPO/kernel/configs/ioasid-bench-mock.config") ;;
*) die "unknown kernel flavour '$flavour'" ;;
esac

ksrc=${KDIR:-$KSRC_PRISTINE}
[ -f "$ksrc/Makefile" ] || die "no kernel source at $ksrc: run scripts/ioasid/setup.sh (or set KDIR)"
out=$IOASID_CACHE/build/$flavour
mkdir -p "$out"

# Hook the project into the kernel tree (idempotent).
ln -sfn "$REPO" "$ksrc/drivers/ioasid"
# The in-kernel API and uAPI headers, for the VFIO patches (and anyone else) to include.
ln -sfn "$REPO/include/linux/ioasid.h" "$ksrc/include/linux/ioasid.h"
ln -sfn "$REPO/include/uapi/linux/ioasid.h" "$ksrc/include/uapi/linux/ioasid.h"
# The kernel patch series (patches/): applied to the pinned source by the build; a tree
# of the user's must have it already (git am).
if [ -n "${KDIR:-}" ]; then
	bash "$REPO/scripts/ioasid/patches.sh" check "$ksrc"
else
	bash "$REPO/scripts/ioasid/patches.sh" apply "$ksrc"
fi
# The kselftests too, so that `make -C tools/testing/selftests TARGETS=ioasid` works there.
ln -sfn "$REPO/tools/testing/selftests/ioasid" "$ksrc/tools/testing/selftests/ioasid"
grep -q 'drivers/ioasid/Kconfig' "$ksrc/drivers/Kconfig" ||
	printf '\nsource "drivers/ioasid/Kconfig"\n' >>"$ksrc/drivers/Kconfig"
grep -q 'CONFIG_IOASID' "$ksrc/drivers/Makefile" ||
	printf '\nobj-$(CONFIG_IOASID)\t\t+= ioasid/\n' >>"$ksrc/drivers/Makefile"

kmake=(make -C "$ksrc" O="$out" LLVM=-19 -j"$(($(nproc) + 1))"
	RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
	BINDGEN="$BINDGEN" LIBCLANG_PATH="$LIBCLANG_PATH")

# (Re)configure only when the fragments or the Kconfig files changed.
cfg_hash=$(cat "${fragments[@]}" "$REPO/Kconfig" | sha256sum | cut -c1-16)
if [ ! -f "$out/.config" ] || [ "$(cat "$out/.ioasid-config-hash" 2>/dev/null)" != "$cfg_hash" ]; then
	log "configuring $flavour kernel (tinyconfig + ${fragments[*]##*/})"
	"${kmake[@]}" -s tinyconfig >/dev/null
	KCONFIG_CONFIG="$out/.config" "$ksrc/scripts/kconfig/merge_config.sh" -m -O "$out" \
		"$out/.config" "${fragments[@]}" >/dev/null
	"${kmake[@]}" -s olddefconfig >/dev/null
	# Kconfig silently drops options whose dependencies are unmet: refuse that. A later
	# fragment's line overrides an earlier one's for the same option.
	bad=0
	declare -A wants=()
	while IFS= read -r line; do
		case $line in CONFIG_*=*) ;; *) continue ;; esac
		wants[${line%%=*}]=${line#*=}
	done < <(cat "${fragments[@]}")
	for opt in "${!wants[@]}"; do
		want=${wants[$opt]}
		if [ "$want" = n ]; then
			grep -q "^$opt=" "$out/.config" && { log "$opt should be off"; bad=1; }
		else
			grep -qx "$opt=$want" "$out/.config" ||
				{ log "$opt=$want did not take (got: $(grep "^$opt=\|^# $opt " "$out/.config" || echo absent))"; bad=1; }
		fi
	done
	[ $bad = 0 ] || die "kernel config fragment not satisfied"
	echo "$cfg_hash" >"$out/.ioasid-config-hash"
fi

# Make compares mtimes, which cannot tell that a different checkout (CI's fresh clone, a
# worktree, an older commit) now stands behind drivers/ioasid: rebuild the driver whenever
# the content of its sources differs from the last build's.
src_hash=$(cd "$REPO" && find Kconfig Kbuild include rust -type f -print0 | sort -z |
	xargs -0 sha256sum | sha256sum | cut -c1-16)
if [ "$(cat "$out/.ioasid-src-hash" 2>/dev/null)" != "$src_hash" ]; then
	rm -rf "$out/drivers/ioasid"
fi

log "building $flavour kernel in $out"
"${kmake[@]}" -s bzImage
"${kmake[@]}" -s headers_install >/dev/null
echo "$src_hash" >"$out/.ioasid-src-hash"
echo "$out"
