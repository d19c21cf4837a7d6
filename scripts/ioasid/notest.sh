#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Proves that the mock IOMMU is absent from a kernel built without CONFIG_IOASID_TEST:
# builds the driver (drivers/ioasid/ only) with the test kernel's configuration minus that
# option, in its own build directory, and looks for any trace of the mock in the objects.
# Prints TAP (one case per check) on stdout; report.py counts it. Cached: after the first
# run only changed driver sources are rebuilt (about a minute cold, seconds warm).
#   notest.sh <debug kernel build dir>
set -uo pipefail
. "$(dirname "$0")/common.sh"

debug=$1
out=$IOASID_CACHE/build/notest
mkdir -p "$out"
ksrc=${KDIR:-$KSRC_PRISTINE}
kmake=(make -C "$ksrc" O="$out" LLVM=-19 -j"$(($(nproc) + 1))"
	RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
	BINDGEN="$BINDGEN" LIBCLANG_PATH="$LIBCLANG_PATH")

sed 's/^CONFIG_IOASID_TEST=y$/# CONFIG_IOASID_TEST is not set/' "$debug/.config" >"$out/.config.want"
if ! cmp -s "$out/.config.want" "$out/.config.orig" 2>/dev/null; then
	cp "$out/.config.want" "$out/.config"
	cp "$out/.config.want" "$out/.config.orig"
fi
# Rebuild the driver when its sources differ from the last build's (see kernel.sh).
src_hash=$(cd "$REPO" && find Kconfig Kbuild include rust -type f -print0 | sort -z |
	xargs -0 sha256sum | sha256sum | cut -c1-16)
if [ "$(cat "$out/.ioasid-src-hash" 2>/dev/null)" != "$src_hash" ]; then
	rm -rf "$out/drivers/ioasid"
fi

echo "1..6"
n=0
check() { # check <name> <command...>
	n=$((n + 1))
	if "${@:2}"; then echo "ok $n $1"; else echo "not ok $n $1"; fi
}
build() {
	"${kmake[@]}" -s olddefconfig >"$out/build.log" 2>&1 &&
		"${kmake[@]}" -s drivers/ioasid/ >>"$out/build.log" 2>&1 &&
		echo "$src_hash" >"$out/.ioasid-src-hash" ||
		{ sed 's/^/# /' "$out/build.log" | tail -30; return 1; }
}
# Each look for the mock first checks that there is a driver to look at.
built() { [ -f "$out/drivers/ioasid/rust/ioasid/ioasid_main.o" ]; }
option_off() { grep -qx '# CONFIG_IOASID_TEST is not set' "$out/.config" && grep -qx 'CONFIG_IOASID=y' "$out/.config"; }
no_mock_objects() { built && [ -z "$(find "$out/drivers/ioasid" -path '*mock*' -print -quit)" ]; }
# Counts symbols naming the mock in the driver objects under $1, after checking that the
# driver's own entry points are there (so an empty listing cannot pass).
mock_symbols() {
	local syms
	syms=$(find "$1/drivers/ioasid" -name '*.o' -print0 | xargs -0 llvm-nm-19 2>/dev/null)
	grep -q ' T ioasid_bind_device$' <<<"$syms" || { echo "# no driver symbols under $1"; return 1; }
	grep -ci 'mock' <<<"$syms" || true
}
no_mock_symbols() {
	local hits
	hits=$(mock_symbols "$out") || return 1
	[ "$hits" = 0 ] || { echo "# $hits symbols name the mock"; return 1; }
}
mock_symbols_in_test_kernel() {
	local hits
	hits=$(mock_symbols "$debug") || return 1
	[ "$hits" -gt 0 ] || { echo "# the test kernel's driver has no mock symbol"; return 1; }
}
no_mock_strings() {
	local hits
	built || return 1
	hits=$(find "$out/drivers/ioasid" -name '*.o' -print0 | xargs -0 cat | grep -aci 'ioasid[-_]mock') || true
	[ "$hits" = 0 ] || { echo "# $hits strings name the mock"; return 1; }
}
check "the driver builds without CONFIG_IOASID_TEST" build
check "CONFIG_IOASID_TEST is off and CONFIG_IOASID on" option_off
check "no mock object is built" no_mock_objects
check "no symbol of the driver names the mock" no_mock_symbols
check "no string of the driver names the mock (no bus, IOMMU or /dev/ioasid-mock)" no_mock_strings
check "the same symbol check finds the mock in the test kernel's driver" mock_symbols_in_test_kernel
