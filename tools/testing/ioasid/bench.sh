#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark command (make bench): builds the benchmark kernel (the test kernel's
# configuration without the debug options), boots the intel-iommu VM with two edu
# devices (one on ioasid-edu, one on vfio-pci) and runs ioasid-bench there: ioasid,
# iommufd and VFIO type1 side by side. Results in $IOASID_CACHE/runs/bench/:
# bench.txt (the table), bench.csv and bench.png.
set -euo pipefail
. "$(dirname "$0")/../../../scripts/ioasid/common.sh"

bash "$REPO/scripts/ioasid/setup.sh"
if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
	log "installing python3-matplotlib (for the chart)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-matplotlib >/dev/null
fi
kbuild=$(bash "$REPO/scripts/ioasid/kernel.sh" bench)
bash "$REPO/tools/testing/ioasid/user.sh" "$kbuild"
bash "$REPO/tools/testing/ioasid/initramfs.sh" >/dev/null

dir=$IOASID_CACHE/runs/bench
log "benchmark VM (q35, TCG, intel-iommu, two edu devices); kernel log: $dir/console.log"
status=0
IOASID_KERNEL=$kbuild/arch/x86/boot/bzImage IOASID_VM_TIMEOUT=${IOASID_VM_TIMEOUT:-1800} \
	bash "$REPO/tools/testing/ioasid/vm.sh" bench intel "$dir" || status=$?
tr -d '\r' <"$dir/tests.log" | grep -v '^IOASID-' |
	sed '/^BENCH-CSV-BEGIN$/,/^BENCH-CSV-END$/d' | tee "$dir/bench.txt"
tr -d '\r' <"$dir/tests.log" | sed -n '/^BENCH-CSV-BEGIN$/,/^BENCH-CSV-END$/p' |
	sed '1d;$d' >"$dir/bench.csv"
[ "$status" = 0 ] || die "qemu exited with status $status (logs in $dir)"
[ -s "$dir/bench.csv" ] || die "the benchmark printed no results (logs in $dir)"
/usr/bin/python3 "$REPO/tools/testing/ioasid/chart.py" "$dir/bench.csv" "$dir/bench.png"
log "results: $dir/bench.txt, $dir/bench.csv, $dir/bench.png"
