#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Pack the VM's initramfs: static busybox, tools/testing/ioasid/init as /init, the sample client
# and the kselftests. Prints the path of the archive.
set -euo pipefail
. "$(dirname "$0")/../../../scripts/ioasid/common.sh"

user=$IOASID_CACHE/build/user
root=$IOASID_CACHE/build/initramfs
out=$IOASID_CACHE/build/initramfs.cpio.gz
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,selftests,vfio-selftests}
cp /bin/busybox "$root/bin/busybox"
cp "$REPO/tools/testing/ioasid/init" "$root/init"
cp "$user/ioasid-sample" "$user/ioasid-bench" "$root/bin/"
cp "$user"/selftests/* "$root/selftests/"
cp "$user"/vfio-selftests/* "$root/vfio-selftests/"
chmod 755 "$root/init"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$out"
echo "$out"
