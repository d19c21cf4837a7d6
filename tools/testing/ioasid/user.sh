#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the userspace that runs in the VM (sample client, kselftests) as static binaries
# into $IOASID_CACHE/build/user, against the headers of kernel build directory $1.
set -euo pipefail
. "$(dirname "$0")/../../../scripts/ioasid/common.sh"

kbuild=$1
# The binaries of the upstream VFIO selftests (their Makefile's TEST_GEN_PROGS).
vfio_selftests() {
	sed -n 's/^TEST_GEN_PROGS += //p' "$ksrc/tools/testing/selftests/vfio/Makefile"
}
ksrc=${KDIR:-$KSRC_PRISTINE}
out=$IOASID_CACHE/build/user
# Fresh every time: a test removed from the tree must not linger in the VM.
rm -rf "$out/selftests" "$out/vfio-selftests"
mkdir -p "$out/vfio-build"
mkdir -p "$out/selftests" "$out/vfio-selftests"
# Always rebuilt (a few seconds): mtimes cannot tell one checkout from another.
make -s -B -C "$REPO/samples/ioasid" KHDR="$kbuild/usr/include" OUT="$out"
make -s -B -C "$REPO/tools/testing/selftests/ioasid" KSRC="$ksrc" msg= \
	KHDR_INCLUDES="-isystem $kbuild/usr/include" OUTPUT="$out/selftests"
make -s -B -C "$REPO/tools/testing/ioasid/bench" KHDR="$kbuild/usr/include" OUT="$out"
# The upstream VFIO selftests of the kernel source, with the ioasid mode of patches/.
make -s -C "$ksrc/tools/testing/selftests/vfio" OUTPUT="$out/vfio-build" EXTRA_CFLAGS=-static \
	KHDR_INCLUDES="-isystem $kbuild/usr/include"
for t in $(vfio_selftests); do cp "$out/vfio-build/$t" "$out/vfio-selftests/"; done
