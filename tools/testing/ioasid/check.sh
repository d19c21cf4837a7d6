#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The test command (make check): host unit tests, build checks (notest.sh: no mock without
# CONFIG_IOASID_TEST), then the test kernel in two VMs (intel-iommu scalable mode,
# virtio-iommu), each running KUnit and every kselftest.
# Ends with `N passed, N failed[, N skipped]`; exits non-zero on any failure.
set -euo pipefail
. "$(dirname "$0")/../../../scripts/ioasid/common.sh"

bash "$REPO/scripts/ioasid/setup.sh"
runs=$IOASID_CACHE/runs
mkdir -p "$runs"

log "host unit tests (cargo test)"
host_status=0
cargo=$(command -v cargo || echo /usr/bin/cargo)
CARGO_TARGET_DIR=$IOASID_CACHE/build/host-$(echo "$REPO" | sha256sum | cut -c1-8) "$cargo" test -q \
	--manifest-path "$REPO/tools/testing/ioasid/host/Cargo.toml" \
	>"$runs/host.log" 2>&1 || host_status=$?
grep -E '^test result|FAILED|panicked' "$runs/host.log" >&2 || true

log "style checks: rustfmt with the kernel's .rustfmt.toml"
bash "$REPO/scripts/ioasid/style.sh" >"$runs/style.log" 2>&1 || true
grep '^not ok\|^# not' "$runs/style.log" >&2 || true

kbuild=$(bash "$REPO/scripts/ioasid/kernel.sh" debug)
log "build checks: the mock is absent without CONFIG_IOASID_TEST"
bash "$REPO/scripts/ioasid/notest.sh" "$kbuild" >"$runs/notest.log" 2>&1 || true
grep '^not ok' "$runs/notest.log" >&2 || true
bash "$REPO/tools/testing/ioasid/user.sh" "$kbuild"
bash "$REPO/tools/testing/ioasid/initramfs.sh" >/dev/null

vms=()
for iommu in intel virtio; do
	log "VM ($iommu-iommu): KUnit and kselftests"
	start=$SECONDS
	status=0
	bash "$REPO/tools/testing/ioasid/vm.sh" check "$iommu" "$runs/check-$iommu" || status=$?
	log "VM ($iommu-iommu) finished in $((SECONDS - start)) s (qemu status $status); logs in $runs/check-$iommu"
	vms+=(--vm "vm-$iommu" "$runs/check-$iommu")
done

# The upstream VFIO selftests, every IOMMU mode (ioasid's too), in both VMs: on the
# benchmark kernel (no KASAN/lockdep: each case pins 1 GiB, minutes under the debug
# kernel's TCG), its console still checked for every kernel report.
kbench=$(bash "$REPO/scripts/ioasid/kernel.sh" bench)
vfio_vms=()
for iommu in intel virtio; do
	log "VM ($iommu-iommu): the upstream VFIO selftests"
	start=$SECONDS
	status=0
	IOASID_KERNEL=$kbench/arch/x86/boot/bzImage \
		bash "$REPO/tools/testing/ioasid/vm.sh" vfio "$iommu" "$runs/vfio-$iommu" || status=$?
	log "VM ($iommu-iommu, VFIO selftests) finished in $((SECONDS - start)) s (qemu status $status)"
	vfio_vms+=(--vfio-vm "vfio-$iommu" "$runs/vfio-$iommu")
done
ksrc=${KDIR:-$KSRC_PRISTINE}
vfio_selftests=$(sed -n 's/^TEST_GEN_PROGS += //p' "$ksrc/tools/testing/selftests/vfio/Makefile" |
	paste -sd, -)

# What every VM must run: the kselftest binaries of the Makefile, the driver's KUnit suites.
kselftests=$(sed -n '/^TEST_GEN_PROGS/,/[^\\]$/p' "$REPO/tools/testing/selftests/ioasid/Makefile" |
	sed 's/^TEST_GEN_PROGS *:=//; s/\\//' | tr -s ' \t\n' ',' | sed 's/^,//; s/,$//')
kunit=$(grep -rhoE 'kunit_tests\([a-z_0-9]+\)' "$REPO/rust" | sed 's/kunit_tests(\(.*\))/\1/' |
	sort -u | paste -sd, -)
python3 "$REPO/tools/testing/ioasid/report.py" --job check --host "$runs/host.log" "$host_status" \
	--tap notest "$runs/notest.log" --tap style "$runs/style.log" "${vms[@]}" --kselftests "$kselftests" --kunit "$kunit" \
	"${vfio_vms[@]}" --vfio-selftests "$vfio_selftests" \
	--allowed-skips "$REPO/tools/testing/ioasid/allowed-skips"
