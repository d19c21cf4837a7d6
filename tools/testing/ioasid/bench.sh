#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark command (make bench): builds the benchmark kernel (the test kernel's
# configuration without the debug options and without any test hook: no mock IOMMU, no
# fault injection) and boots it in the intel-iommu VM with one edu each for ioasid,
# iommufd and VFIO type1 (all on vfio-pci), running ioasid-bench there; then boots the
# same VM with the bench-mock kernel (the same with the mock IOMMUs) for the rows that
# need ioasid's mock. Results in $IOASID_CACHE/runs/bench/: bench.txt (the tables),
# bench.csv and bench.png; each boot's logs in main/ and mock/.
set -euo pipefail
. "$(dirname "$0")/../../../scripts/ioasid/common.sh"

bash "$REPO/scripts/ioasid/setup.sh"
if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
	log "installing python3-matplotlib (for the chart)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-matplotlib >/dev/null
fi
kbuild=$(bash "$REPO/scripts/ioasid/kernel.sh" bench)
kmock=$(bash "$REPO/scripts/ioasid/kernel.sh" bench-mock)
bash "$REPO/tools/testing/ioasid/user.sh" "$kbuild"
bash "$REPO/tools/testing/ioasid/initramfs.sh" >/dev/null

dir=$IOASID_CACHE/runs/bench
# boot <job> <kernel build> <subdirectory>: one benchmark VM; its table in <subdirectory>.
boot() {
	local status=0 out=$dir/$3
	log "benchmark VM ($1; q35, TCG, intel-iommu, edu devices); kernel log: $out/console.log"
	IOASID_KERNEL=$2/arch/x86/boot/bzImage IOASID_VM_TIMEOUT=${IOASID_VM_TIMEOUT:-1800} \
		bash "$REPO/tools/testing/ioasid/vm.sh" "$1" intel "$out" || status=$?
	tr -d '\r' <"$out/tests.log" | grep -v '^IOASID-' |
		sed '/^BENCH-CSV-BEGIN$/,/^BENCH-CSV-END$/d' >"$out/bench.txt"
	tr -d '\r' <"$out/tests.log" | sed -n '/^BENCH-CSV-BEGIN$/,/^BENCH-CSV-END$/p' |
		sed '1d;$d' >"$out/bench.csv"
	[ "$status" = 0 ] || die "qemu exited with status $status (logs in $out)"
	[ -s "$out/bench.csv" ] || die "the benchmark printed no results (logs in $out)"
	! grep -qE 'WARNING:|BUG:|Oops|Call Trace' "$out/console.log" ||
		die "the kernel reported a problem during the benchmark (see $out/console.log)"
}
boot bench "$kbuild" main
boot mockbench "$kmock" mock
{
	cat "$dir/main/bench.txt"
	printf '\nRows on the mock IOMMU (a second boot, of the same kernel with the mocks):\n'
	cat "$dir/mock/bench.txt"
} | tee "$dir/bench.txt"
{
	cat "$dir/main/bench.csv"
	sed 1d "$dir/mock/bench.csv"
} >"$dir/bench.csv"
/usr/bin/python3 "$REPO/tools/testing/ioasid/chart.py" "$dir/bench.csv" "$dir/bench.png"
log "results: $dir/bench.txt, $dir/bench.csv, $dir/bench.png"
