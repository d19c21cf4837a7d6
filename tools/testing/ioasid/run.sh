#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The main command (make run): build what is stale, boot the intel-iommu VM, run the
# sample VMM client there, show its output, and exit with its status.
set -euo pipefail
. "$(dirname "$0")/../../../scripts/ioasid/common.sh"

bash "$REPO/scripts/ioasid/setup.sh"
kbuild=$(bash "$REPO/scripts/ioasid/kernel.sh" debug)
bash "$REPO/tools/testing/ioasid/user.sh" "$kbuild"
bash "$REPO/tools/testing/ioasid/initramfs.sh" >/dev/null

dir=$IOASID_CACHE/runs/run-intel
log "booting the VM (q35, TCG, intel-iommu scalable mode, edu); kernel log: $dir/console.log"
status=0
bash "$REPO/tools/testing/ioasid/vm.sh" run intel "$dir" || status=$?
grep -v '^IOASID-' "$dir/tests.log" || true
python3 "$REPO/tools/testing/ioasid/report.py" --job run --vm vm-intel "$dir" >"$dir/report.txt" || true
sed -n 's/^FAILED: /[ioasid] FAILED: /p' "$dir/report.txt" >&2
[ "$status" = 0 ] || die "qemu exited with status $status"
grep -q '^FAILED' "$dir/report.txt" && exit 1
# The client's own exit status, as the VM reported it.
exit "$(sed -n 's/^IOASID-EXIT \([0-9]*\).*/\1/p' "$dir/tests.log" | tail -1)"
