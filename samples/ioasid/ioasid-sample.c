// SPDX-License-Identifier: GPL-2.0
/*
 * A VMM-style client of /dev/ioasid, written to be read: each step prints what it does.
 *
 * It opens /dev/ioasid, negotiates the API version, asks which extensions this kernel
 * supports, lists the IOMMU groups and devices the VM offers for passthrough, then, as a
 * VMM would: creates an I/O address space, maps "guest RAM" into it, binds the edu
 * device (handed out by the sample ioasid-edu driver), attaches it, and has it DMA from
 * one guest page to another through the IOMMU.
 * Exits 0 when every step behaved as the uAPI documentation says.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/ioasid.h>

#include "ioasid-samples.h"
#include "native-edu.h"
#include "vfio-edu.h"

static const struct {
	__u32 id;
	const char *name;
} extensions[] = {
	{ IOASID_EXT_ARGSZ, "IOASID_EXT_ARGSZ (size-first extensible structs)" },
	{ IOASID_EXT_MAP_DMA, "IOASID_EXT_MAP_DMA (kernel-managed mappings)" },
	{ IOASID_EXT_PASID, "IOASID_EXT_PASID (PASID namespaces)" },
	{ IOASID_EXT_NESTING, "IOASID_EXT_NESTING (user-owned stage-1 tables)" },
	{ IOASID_EXT_FAULT_QUEUE, "IOASID_EXT_FAULT_QUEUE (I/O page faults)" },
	{ IOASID_EXT_ENFORCE_COHERENCY, "IOASID_EXT_ENFORCE_COHERENCY (no-snoop blocked)" },
	{ IOASID_EXT_IOAS_COPY, "IOASID_EXT_IOAS_COPY (pin once, map anywhere)" },
	{ IOASID_EXT_MAP_FILE, "IOASID_EXT_MAP_FILE (memfd-backed guest RAM)" },
	{ IOASID_EXT_CHANGE_PROCESS, "IOASID_EXT_CHANGE_PROCESS (live update)" },
	{ IOASID_EXT_DIRTY_TRACKING, "IOASID_EXT_DIRTY_TRACKING (live migration)" },
	{ IOASID_EXT_SW_NESTING, "IOASID_EXT_SW_NESTING (nesting without nesting hardware)" },
};

/* Names the devices this sample cares about, from their PCI IDs. */
static const char *describe(const char *bdf)
{
	char path[512], id[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", bdf);
	f = fopen(path, "r");
	if (!f)
		return "";
	if (!fgets(id, sizeof(id), f))
		id[0] = 0;
	fclose(f);
	return strncmp(id, "0x11e8", 6) ? "" : " (QEMU edu: a DMA-capable device to pass through)";
}

static void list_iommu_groups(void)
{
	const char *base = "/sys/kernel/iommu_groups";
	struct dirent *g, *d;
	char path[512];
	DIR *groups, *devs;

	groups = opendir(base);
	if (!groups) {
		printf("   no IOMMU groups (%s: %s)\n", base, strerror(errno));
		return;
	}
	while ((g = readdir(groups))) {
		if (g->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/devices", base, g->d_name);
		devs = opendir(path);
		if (!devs)
			continue;
		while ((d = readdir(devs)))
			if (d->d_name[0] != '.')
				printf("   group %-3s %s%s\n", g->d_name, d->d_name,
				       describe(d->d_name));
		closedir(devs);
	}
	closedir(groups);
}

#define CHECK(call, what)                                  \
	do {                                               \
		if (call) {                                \
			perror(what);                      \
			return 1;                          \
		}                                          \
	} while (0)

/*
 * Step 10b: nesting, the way a VMM with a vIOMMU uses it. The "guest" builds an x86-64
 * 4-level table (VT-d first-stage format) in its RAM, mapping stage-1 IOVA 0x10000000 to
 * guest page 0 and 0x10001000 to guest page 2; the table is bound to a child of the RAM's
 * address space (in the IOMMU if it nests, else translated by ioasid in software), and
 * edu copies between the two stage-1 IOVAs.
 */
static int nested_step(int fd, volatile uint8_t *bar, __u32 dev, __u32 ioas, uint8_t *ram,
		       uint64_t gpa)
{
	const uint64_t s1_iova = 0x10000000, pte = 7;	/* present, writable, user */
	uint64_t *pml4 = (uint64_t *)(ram + 0x10000), *pdpt = pml4 + 512, *pd = pdpt + 512,
		 *pt = pd + 512;
	struct ioasid_nested_alloc na = {
		.argsz = sizeof(na), .parent_id = ioas, .format = IOASID_FORMAT_VTD_S1,
	};
	struct ioasid_bind_table bind = {
		.argsz = sizeof(bind), .version = IOASID_BIND_VERSION_1,
		.format = IOASID_FORMAT_VTD_S1, .dev_id = dev,
		.table.vtd = { .pgtbl_addr = gpa + 0x10000, .addr_width = 48 },
	};
	struct ioasid_unbind_table unbind = { .argsz = sizeof(unbind), .dev_id = dev };
	struct ioasid_destroy destroy = { .argsz = sizeof(destroy) };
	const char msg[] = "copied by edu through the guest's own page table";

	memset(pml4, 0, 4 * 4096);
	pml4[0] = (gpa + 0x11000) | pte;
	pdpt[0] = (gpa + 0x12000) | pte;
	pd[s1_iova >> 21] = (gpa + 0x13000) | pte;
	pt[0] = gpa | pte;
	pt[1] = (gpa + 0x2000) | pte;
	if (ioctl(fd, IOASID_NESTED_ALLOC, &na)) {
		printf("10b. no nesting offered for this device: %s\n", strerror(errno));
		return 0;
	}
	bind.child_id = unbind.child_id = destroy.id = na.out_child_id;
	CHECK(ioctl(fd, IOASID_BIND_TABLE, &bind), "IOASID_BIND_TABLE");
	memcpy(ram, msg, sizeof(msg));
	memset(ram + 0x2000, 0, 64);
	CHECK(native_edu_dma(bar, s1_iova, EDU_BUF, 64, 0), "edu DMA from stage-1 IOVA");
	CHECK(native_edu_dma(bar, EDU_BUF, s1_iova + 0x1000, 64, 1), "edu DMA to stage-1 IOVA");
	printf("10b. IOASID_NESTED_ALLOC + IOASID_BIND_TABLE (VT-d first-stage table in guest "
	       "RAM): edu DMA IOVA 0x%llx -> 0x%llx = GPA 0x%llx: \"%s\" (%s)\n",
	       (unsigned long long)s1_iova, (unsigned long long)s1_iova + 0x1000,
	       (unsigned long long)gpa + 0x2000, (char *)ram + 0x2000,
	       memcmp(ram + 0x2000, msg, sizeof(msg)) ? "MISMATCH" : "bytes match");
	if (memcmp(ram + 0x2000, msg, sizeof(msg)))
		return 1;
	CHECK(ioctl(fd, IOASID_UNBIND_TABLE, &unbind), "IOASID_UNBIND_TABLE");
	CHECK(ioctl(fd, IOASID_DESTROY, &destroy), "IOASID_DESTROY");
	return 0;
}

/*
 * Steps 5-12: 2 MiB of "guest RAM" in an address space at guest-physical 0x100000, the
 * edu device bound and attached, and a DMA through the IOMMU from one guest page to
 * another.
 */
static int guest_ram(int fd)
{
	size_t len = 2 << 20;
	uint64_t gpa = 0x100000;
	struct ioasid_ioas_alloc alloc = { .argsz = sizeof(alloc) };
	struct ioasid_iova_range range;
	struct ioasid_ioas_iova_ranges ranges = {
		.argsz = sizeof(ranges), .num_ranges = 1, .allowed_iovas = (uintptr_t)&range,
	};
	struct ioasid_ioas_map map = {
		.argsz = sizeof(map),
		.flags = IOASID_MAP_FIXED_IOVA | IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE,
		.length = len,
		.iova = gpa,
	};
	struct ioasid_edu_bind bind = { .argsz = sizeof(bind), .ioasid_fd = fd };
	struct ioasid_device_attach attach = { .argsz = sizeof(attach) };
	struct ioasid_device_detach detach = { .argsz = sizeof(detach) };
	struct ioasid_ioas_unmap unmap = { .argsz = sizeof(unmap), .length = UINT64_MAX };
	struct ioasid_destroy destroy = { .argsz = sizeof(destroy) };
	const char msg[] = "hello from guest page 0, copied by the device";
	volatile uint8_t *bar;
	char path[256];
	uint8_t *ram;
	int edu;

	CHECK(ioctl(fd, IOASID_IOAS_ALLOC, &alloc), "IOASID_IOAS_ALLOC");
	printf("5. IOASID_IOAS_ALLOC: address space %u\n", alloc.out_ioas_id);

	ranges.ioas_id = alloc.out_ioas_id;
	CHECK(ioctl(fd, IOASID_IOAS_IOVA_RANGES, &ranges), "IOASID_IOAS_IOVA_RANGES");
	printf("6. IOASID_IOAS_IOVA_RANGES: %u range(s), first [0x%llx, 0x%llx], alignment 0x%llx\n",
	       ranges.num_ranges, (unsigned long long)range.start,
	       (unsigned long long)range.last, (unsigned long long)ranges.out_iova_alignment);

	ram = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ram == MAP_FAILED, "mmap");
	map.ioas_id = alloc.out_ioas_id;
	map.user_va = (uintptr_t)ram;
	CHECK(ioctl(fd, IOASID_IOAS_MAP, &map), "IOASID_IOAS_MAP");
	printf("7. IOASID_IOAS_MAP: %zu KiB of guest RAM pinned and mapped at IOVA 0x%llx\n",
	       len >> 10, (unsigned long long)map.iova);

	if (native_edu_find(path, sizeof(path))) {
		printf("8. no edu device bound to the ioasid-edu sample driver: no DMA shown\n");
	} else {
		edu = open(path, O_RDWR | O_CLOEXEC);
		CHECK(edu < 0, path);
		bar = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, edu, 0);
		CHECK(bar == MAP_FAILED, "mmap BAR0");
		CHECK(ioctl(edu, IOASID_EDU_BIND, &bind), "IOASID_EDU_BIND");
		printf("8. %s bound to the context: device %u, its DMA blocked\n", path,
		       bind.out_dev_id);
		attach.dev_id = bind.out_dev_id;
		attach.ioas_id = alloc.out_ioas_id;
		CHECK(ioctl(fd, IOASID_DEVICE_ATTACH, &attach), "IOASID_DEVICE_ATTACH");
		printf("9. IOASID_DEVICE_ATTACH: the device sees the guest RAM mapped before\n");

		memcpy(ram, msg, sizeof(msg));
		CHECK(native_edu_dma(bar, gpa, EDU_BUF, 64, 0), "edu DMA to device");
		CHECK(native_edu_dma(bar, EDU_BUF, gpa + 0x1000, 64, 1), "edu DMA to RAM");
		printf("10. edu DMA: GPA 0x%llx -> device -> GPA 0x%llx: \"%s\" (%s)\n",
		       (unsigned long long)gpa, (unsigned long long)gpa + 0x1000,
		       (char *)ram + 0x1000,
		       memcmp(ram + 0x1000, msg, sizeof(msg)) ? "MISMATCH" : "bytes match");
		if (memcmp(ram + 0x1000, msg, sizeof(msg)))
			return 1;

		detach.dev_id = bind.out_dev_id;
		CHECK(ioctl(fd, IOASID_DEVICE_DETACH, &detach), "IOASID_DEVICE_DETACH");
		if (nested_step(fd, bar, bind.out_dev_id, alloc.out_ioas_id, ram, gpa))
			return 1;
		CHECK(ioctl(edu, IOASID_EDU_UNBIND), "IOASID_EDU_UNBIND");
		munmap((void *)bar, 4096);
		close(edu);
		printf("11. detached and unbound: the device reaches nothing\n");
	}

	unmap.ioas_id = alloc.out_ioas_id;
	CHECK(ioctl(fd, IOASID_IOAS_UNMAP, &unmap), "IOASID_IOAS_UNMAP");
	destroy.id = alloc.out_ioas_id;
	CHECK(ioctl(fd, IOASID_DESTROY, &destroy), "IOASID_DESTROY");
	printf("12. IOASID_IOAS_UNMAP (all, %llu KiB) and IOASID_DESTROY: address space gone\n",
	       (unsigned long long)unmap.length >> 10);
	munmap(ram, len);
	return 0;
}

/*
 * Step 13: passthrough the way a VMM does it with VFIO: the second edu is bound to
 * vfio-pci; its cdev is bound to the ioasid context, attached to an address space of
 * guest RAM, and driven through BAR0 mmapped from the VFIO device fd.
 */
static int vfio_passthrough(int fd)
{
	size_t len = 2 << 20;
	uint64_t gpa = 0x200000;
	struct ioasid_ioas_alloc alloc = { .argsz = sizeof(alloc) };
	struct ioasid_ioas_map map = {
		.argsz = sizeof(map),
		.flags = IOASID_MAP_FIXED_IOVA | IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE,
		.length = len,
		.iova = gpa,
	};
	struct ioasid_iova_range resv[16];
	struct ioasid_device_info info = {
		.argsz = sizeof(info), .num_reserved = 16, .reserved_iovas = (uintptr_t)resv,
	};
	struct ioasid_device_attach attach = { .argsz = sizeof(attach) };
	struct ioasid_ioas_unmap unmap = { .argsz = sizeof(unmap), .length = UINT64_MAX };
	struct ioasid_destroy destroy = { .argsz = sizeof(destroy) };
	const char msg[] = "guest page 0 -> vfio-pci edu -> guest page 1";
	char bdf[64], cdev[256];
	volatile uint8_t *bar;
	uint8_t *ram;
	__u32 dev_id;
	int dev;

	if (vfio_edu_find(bdf, sizeof(bdf), cdev, sizeof(cdev))) {
		printf("13. no edu device bound to vfio-pci: VFIO passthrough not shown\n");
		return 0;
	}
	dev = open(cdev, O_RDWR | O_CLOEXEC);
	CHECK(dev < 0, cdev);
	CHECK(vfio_bind_ioasid(dev, fd, 0, &dev_id), "VFIO_DEVICE_BIND_IOASID");
	info.dev_id = dev_id;
	CHECK(ioctl(fd, IOASID_DEVICE_GET_INFO, &info), "IOASID_DEVICE_GET_INFO");
	printf("13. VFIO passthrough: %s (edu on vfio-pci), %s bound to the context with\n"
	       "    VFIO_DEVICE_BIND_IOASID: device %u, DMA intent %s\n", bdf, cdev, dev_id,
	       info.out_intent == IOASID_DEVICE_INTENT_RID ? "RID" : "other");

	CHECK(ioctl(fd, IOASID_IOAS_ALLOC, &alloc), "IOASID_IOAS_ALLOC");
	ram = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ram == MAP_FAILED, "mmap");
	map.ioas_id = alloc.out_ioas_id;
	map.user_va = (uintptr_t)ram;
	CHECK(ioctl(fd, IOASID_IOAS_MAP, &map), "IOASID_IOAS_MAP");
	attach.dev_id = dev_id;
	attach.ioas_id = alloc.out_ioas_id;
	CHECK(ioctl(fd, IOASID_DEVICE_ATTACH, &attach), "IOASID_DEVICE_ATTACH");
	printf("    address space %u with 2 MiB of guest RAM at 0x%llx; IOASID_DEVICE_ATTACH\n",
	       alloc.out_ioas_id, (unsigned long long)gpa);

	bar = vfio_edu_bar0(dev);
	CHECK(bar == MAP_FAILED, "VFIO_DEVICE_GET_REGION_INFO + mmap of BAR0");
	CHECK(vfio_edu_bus_master(dev, 1), "bus master enable (config space)");
	memcpy(ram, msg, sizeof(msg));
	CHECK(native_edu_dma(bar, gpa, EDU_BUF, 64, 0), "edu DMA to device");
	CHECK(native_edu_dma(bar, EDU_BUF, gpa + 0x1000, 64, 1), "edu DMA to RAM");
	printf("    BAR0 mmapped from the VFIO device fd; edu DMA GPA 0x%llx -> GPA 0x%llx:\n"
	       "    \"%s\" (%s)\n", (unsigned long long)gpa, (unsigned long long)gpa + 0x1000,
	       (char *)ram + 0x1000,
	       memcmp(ram + 0x1000, msg, sizeof(msg)) ? "MISMATCH" : "bytes match");
	if (memcmp(ram + 0x1000, msg, sizeof(msg)))
		return 1;

	munmap((void *)bar, 4096);
	CHECK(close(dev), "close VFIO device");
	unmap.ioas_id = alloc.out_ioas_id;
	CHECK(ioctl(fd, IOASID_IOAS_UNMAP, &unmap), "IOASID_IOAS_UNMAP");
	destroy.id = alloc.out_ioas_id;
	CHECK(ioctl(fd, IOASID_DESTROY, &destroy), "IOASID_DESTROY");
	munmap(ram, len);
	printf("    closed the VFIO device fd: reset, detached, unbound, its DMA blocked again\n");
	return 0;
}

#define PRECOPY_PAGES 64

/* Reads and clears the dirty bitmap of the guest RAM; copies those pages to @dst. */
static int precopy_round(int fd, __u32 ioas, uint64_t gpa, const uint8_t *ram, uint8_t *dst,
			 int *copied)
{
	uint64_t bits[PRECOPY_PAGES / 64];
	struct ioasid_ioas_get_dirty_bitmap get = {
		.argsz = sizeof(get), .ioas_id = ioas, .iova = gpa,
		.length = PRECOPY_PAGES * 4096, .page_size = 4096, .data = (uintptr_t)bits,
	};

	CHECK(ioctl(fd, IOASID_IOAS_GET_DIRTY_BITMAP, &get), "IOASID_IOAS_GET_DIRTY_BITMAP");
	*copied = 0;
	for (int i = 0; i < PRECOPY_PAGES; i++) {
		if (bits[i / 64] >> (i % 64) & 1) {
			memcpy(dst + i * 4096, ram + i * 4096, 4096);
			(*copied)++;
		}
	}
	return 0;
}

/*
 * Live migration's pre-copy loop over guest RAM that a device keeps writing: the
 * software device (no IOMMU; its writes are tracked by ioasid) writes fewer pages each
 * round while the VMM copies what the bitmap names, then the device stops and a last
 * round copies the rest. Guest RAM is a memfd mapped by offset (IOASID_IOAS_MAP_FILE).
 */
static int precopy(int fd)
{
	size_t len = PRECOPY_PAGES * 4096;
	uint64_t gpa = 0x100000;
	struct ioasid_ioas_alloc alloc = {
		.argsz = sizeof(alloc), .flags = IOASID_IOAS_ALLOC_DIRTY_TRACKING,
	};
	struct ioasid_ioas_map_file map = {
		.argsz = sizeof(map),
		.flags = IOASID_MAP_FIXED_IOVA | IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE,
		.length = len, .iova = gpa,
	};
	struct ioasid_ioas_set_dirty_tracking track = {
		.argsz = sizeof(track), .flags = IOASID_DIRTY_TRACKING_ENABLE,
	};
	struct ioasid_edu_bind bind = { .argsz = sizeof(bind), .ioasid_fd = fd };
	struct ioasid_device_attach attach = { .argsz = sizeof(attach) };
	struct ioasid_device_detach detach = { .argsz = sizeof(detach) };
	struct ioasid_swdev_copy copy = { .argsz = sizeof(copy), .length = 4096 };
	struct ioasid_destroy destroy = { .argsz = sizeof(destroy) };
	int memfd, swdev, copied, total = 0;
	uint8_t *ram, *dst;

	swdev = open("/dev/ioasid-swdev", O_RDWR | O_CLOEXEC);
	if (swdev < 0) {
		printf("14. no /dev/ioasid-swdev: no live-migration pre-copy shown\n");
		return 0;
	}
	memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	CHECK(memfd < 0 || ftruncate(memfd, len), "memfd");
	ram = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	dst = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ram == MAP_FAILED || dst == MAP_FAILED, "mmap");
	for (size_t i = 0; i < len; i++)
		ram[i] = (uint8_t)(i * 31 + i / 4096);
	CHECK(ioctl(fd, IOASID_IOAS_ALLOC, &alloc), "IOASID_IOAS_ALLOC");
	map.ioas_id = alloc.out_ioas_id;
	map.fd = memfd;
	CHECK(ioctl(fd, IOASID_IOAS_MAP_FILE, &map), "IOASID_IOAS_MAP_FILE");
	CHECK(ioctl(swdev, IOASID_SWDEV_BIND, &bind), "IOASID_SWDEV_BIND");
	attach.dev_id = bind.out_dev_id;
	attach.ioas_id = alloc.out_ioas_id;
	CHECK(ioctl(fd, IOASID_DEVICE_ATTACH, &attach), "IOASID_DEVICE_ATTACH");
	printf("14. live migration: %d pages of memfd guest RAM (IOASID_IOAS_MAP_FILE) in a\n"
	       "    dirty-tracking address space, a software device attached\n", PRECOPY_PAGES);
	track.ioas_id = alloc.out_ioas_id;
	CHECK(ioctl(fd, IOASID_IOAS_SET_DIRTY_TRACKING, &track), "IOASID_IOAS_SET_DIRTY_TRACKING");
	memcpy(dst, ram, len);
	printf("    round 0: tracking on, all %d pages copied\n", PRECOPY_PAGES);
	for (int round = 1; round <= 4; round++) {
		/* The device keeps running: it writes 16, 8, 4, 2 pages. */
		for (int i = 0; i < 32 >> round; i++) {
			copy.src_iova = gpa + (uint64_t)i * 4096;
			copy.dst_iova = gpa + (uint64_t)(PRECOPY_PAGES - 1 - i * round % 32) * 4096;
			CHECK(ioctl(swdev, IOASID_SWDEV_COPY, &copy), "IOASID_SWDEV_COPY");
		}
		CHECK(precopy_round(fd, alloc.out_ioas_id, gpa, ram, dst, &copied), "round");
		printf("    round %d: %d dirty pages read, cleared and copied\n", round, copied);
		total += copied;
	}
	/* Stop-and-copy: the device stops (detached), one last read. */
	detach.dev_id = bind.out_dev_id;
	CHECK(ioctl(fd, IOASID_DEVICE_DETACH, &detach), "IOASID_DEVICE_DETACH");
	CHECK(precopy_round(fd, alloc.out_ioas_id, gpa, ram, dst, &copied), "final round");
	track.flags = 0;
	CHECK(ioctl(fd, IOASID_IOAS_SET_DIRTY_TRACKING, &track), "IOASID_IOAS_SET_DIRTY_TRACKING");
	printf("    final round: device stopped, %d pages; %d re-sent in all; destination %s\n",
	       copied, total + copied, memcmp(dst, ram, len) ? "DIFFERS" : "matches the source");
	if (memcmp(dst, ram, len))
		return 1;
	CHECK(ioctl(swdev, IOASID_SWDEV_UNBIND), "IOASID_SWDEV_UNBIND");
	destroy.id = alloc.out_ioas_id;
	CHECK(ioctl(fd, IOASID_DESTROY, &destroy), "IOASID_DESTROY");
	munmap(ram, len);
	munmap(dst, len);
	close(memfd);
	close(swdev);
	return 0;
}

int main(void)
{
	struct ioasid_check_extension check;
	unsigned int i;
	int fd, version;

	printf("ioasid sample VMM\n");
	fd = open("/dev/ioasid", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		perror("open /dev/ioasid");
		return 1;
	}
	printf("1. opened /dev/ioasid (fd %d): a new, empty context\n", fd);

	version = ioctl(fd, IOASID_GET_API_VERSION);
	printf("2. IOASID_GET_API_VERSION = %d (this header: %d)\n", version, IOASID_API_VERSION);
	if (version != IOASID_API_VERSION) {
		fprintf(stderr, "API version mismatch\n");
		return 1;
	}

	printf("3. IOASID_CHECK_EXTENSION:\n");
	for (i = 0; i < sizeof(extensions) / sizeof(extensions[0]); i++) {
		memset(&check, 0, sizeof(check));
		check.argsz = sizeof(check);
		check.extension = extensions[i].id;
		if (ioctl(fd, IOASID_CHECK_EXTENSION, &check)) {
			perror("IOASID_CHECK_EXTENSION");
			return 1;
		}
		printf("   %-55s %s\n", extensions[i].name, check.supported ? "yes" : "no");
	}

	printf("4. devices behind an IOMMU in this VM:\n");
	list_iommu_groups();

	if (guest_ram(fd))
		return 1;
	if (vfio_passthrough(fd))
		return 1;
	if (precopy(fd))
		return 1;

	if (close(fd)) {
		perror("close");
		return 1;
	}
	printf("15. closed the context: the kernel released everything it held\n");
	printf("sample: OK\n");
	return 0;
}
