#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the userspace that runs in the VM (sample client, kselftests) as static binaries
# into $IOASID_CACHE/build/user, against the headers of kernel build directory $1.
set -euo pipefail
. "$(dirname "$0")/../../../scripts/ioasid/common.sh"

kbuild=$1
ksrc=${KDIR:-$KSRC_PRISTINE}
out=$IOASID_CACHE/build/user
# Fresh every time: a test removed from the tree must not linger in the VM.
rm -rf "$out/selftests"
mkdir -p "$out/selftests"
# Always rebuilt (a few seconds): mtimes cannot tell one checkout from another.
make -s -B -C "$REPO/samples/ioasid" KHDR="$kbuild/usr/include" OUT="$out"
make -s -B -C "$REPO/tools/testing/selftests/ioasid" KSRC="$ksrc" msg= \
	KHDR_INCLUDES="-isystem $kbuild/usr/include" OUTPUT="$out/selftests"
make -s -B -C "$REPO/tools/testing/ioasid/bench" KHDR="$kbuild/usr/include" OUT="$out"
