#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boot the test VM once and collect its two serial logs.
#
#   vm.sh JOB IOMMU OUTDIR      JOB: run|check|vfio|bench|mockbench   IOMMU: intel|virtio
#
# q35 under TCG with two edu devices (the second for vfio-pci); intel = intel-iommu in scalable mode with PASID,
# virtio = virtio-iommu. OUTDIR gets console.log (kernel), tests.log (userspace) and
# qemu.log (QEMU's own messages, e.g. the IOMMU faults that DMA tests provoke on purpose).
# The VM is killed after $IOASID_VM_TIMEOUT seconds (default 1500): it can never hang.
# Exits with QEMU's status (124 on timeout).
set -euo pipefail
. "$(dirname "$0")/../../../scripts/ioasid/common.sh"

job=$1 iommu=$2 outdir=$3
kernel=${IOASID_KERNEL:-$IOASID_CACHE/build/debug/arch/x86/boot/bzImage}
initrd=$IOASID_CACHE/build/initramfs.cpio.gz
timeout_s=${IOASID_VM_TIMEOUT:-1500}
mkdir -p "$outdir"
: >"$outdir/console.log"
: >"$outdir/tests.log"
rm -f "$outdir/qemu-status"

append="console=ttyS0 panic=-1 oops=panic ioasid.job=$job kunit.filter_glob=ioasid*"
# A small PASID quota, so the kselftests can reach it (they read it from /proc/cmdline).
[ "$job" = check ] && append+=" ioasid.pasid_quota=64"
# Room for the benchmark's 100,000 live PASIDs.
[ "$job" = mockbench ] && append+=" ioasid.pasid_quota=200000"
case $iommu in
intel)
	iommu_dev=(-device intel-iommu,intremap=on,x-scalable-mode=on,x-pasid-mode=on)
	append+=" intel_iommu=on,sm_on"
	;;
virtio)
	iommu_dev=(-device virtio-iommu-pci)
	# x86 has no interrupt remapping behind virtio-iommu: binding for IOMMU DMA needs
	# the administrator's override, as iommufd and VFIO type1 do there.
	append+=" ioasid.allow_unsafe_interrupts=1"
	# The same for the peers, used by the VFIO tests and the benchmark.
	append+=" iommufd.allow_unsafe_interrupts=1 vfio_iommu_type1.allow_unsafe_interrupts=1"
	;;
*) die "unknown IOMMU '$iommu'" ;;
esac

# Two edus: the first for the native sample driver, the second for vfio-pci.
devices=(-device edu,dma_mask=0xffffffffffffffff -device edu,dma_mask=0xffffffffffffffff)
mem=2G cpu=qemu64 accel=tcg,thread=single
case $job in
vfio)
	# The upstream VFIO selftests drive an igb (behind a PCIe root port, for SR-IOV) on
	# vfio-pci; their 1 GiB hugetlb variants need a 1 GiB page, so 4 GiB and pdpe1gb.
	devices+=(-device pcie-root-port,id=rp0,chassis=1 -device igb,bus=rp0)
	mem=4G cpu=qemu64,pdpe1gb=on
	append+=" vfio_pci.enable_sriov=1 hugepagesz=1G hugepages=1"
	;;
bench | mockbench)
	# Eight more edus for the table, nine on vfio-pci: one for type1, four each for
	# ioasid and iommufd (one per thread of the thread rows, each in its own address
	# space). The mock rows need none.
	if [ "$job" = bench ]; then
		for _ in 1 2 3 4 5 6 7 8; do
			devices+=(-device edu,dma_mask=0xffffffffffffffff)
		done
	fi
	# The thread rows need both vCPUs running at once.
	accel=tcg
	;;
esac

# Single-threaded TCG but for the benchmark: multi-threaded TCG froze or aborted in 4 of 14
# boots with vfio-pci resets (QEMU 10.0.2, see TOOLCHAIN.md); one thread ran as fast.
# No -cpu max: its 5-level paging makes KASAN report a wild access from an early timer
# interrupt in about half of the boots (seen with 7.3.4 under TCG), which is not ours.
status=0
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
	-M q35 -accel "$accel" -cpu "$cpu" -smp 2 -m "$mem" -no-reboot \
	-display none -monitor none -nodefaults \
	"${iommu_dev[@]}" "${devices[@]}" \
	-serial "file:$outdir/console.log" -serial "file:$outdir/tests.log" \
	-kernel "$kernel" -initrd "$initrd" -append "$append" </dev/null 2>"$outdir/qemu.log" ||
	status=$?
echo "$status" >"$outdir/qemu-status"
exit $status
