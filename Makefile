# SPDX-License-Identifier: GPL-2.0
#
# ioasid: the commands people run. (The kernel build reads Kbuild, not this file.)
#
#   make run     build what is stale, boot the VM, run the sample VMM client
#   make check   all tests: host unit tests, KUnit and kselftests in two VMs
#   make bench   ioasid vs iommufd vs VFIO type1, in one VM (results in runs/bench)
#
# Both install what they need on first use (Debian 12, as root) and cache it under
# $(IOASID_CACHE) (default ~/.cache/ioasid). KDIR=/path/to/linux-7.3 builds against a
# kernel tree you already have instead of the pinned linux-source package.

SCRIPTS := scripts/ioasid
TESTING := tools/testing/ioasid

run:
	@bash $(TESTING)/run.sh

check:
	@bash $(TESTING)/check.sh

bench:
	@bash $(TESTING)/bench.sh

setup:
	@bash $(SCRIPTS)/setup.sh

kernel: setup
	@bash $(SCRIPTS)/kernel.sh debug

.PHONY: run check bench setup kernel
