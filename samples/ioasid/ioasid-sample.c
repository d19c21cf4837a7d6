// SPDX-License-Identifier: GPL-2.0
/*
 * A VMM-style client of /dev/ioasid, written to be read: each step prints what it does.
 *
 * It opens /dev/ioasid, negotiates the API version, asks which extensions this kernel
 * supports, lists the IOMMU groups and devices the VM offers for passthrough, then
 * creates an I/O address space and maps "guest RAM" into it as a VMM would.
 * Exits 0 when every step behaved as the uAPI documentation says.
 */
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

static const struct {
	__u32 id;
	const char *name;
} extensions[] = {
	{ IOASID_EXT_ARGSZ, "IOASID_EXT_ARGSZ (size-first extensible structs)" },
	{ IOASID_EXT_MAP_DMA, "IOASID_EXT_MAP_DMA (kernel-managed mappings)" },
	{ IOASID_EXT_PASID, "IOASID_EXT_PASID (PASID namespaces)" },
	{ IOASID_EXT_NESTING, "IOASID_EXT_NESTING (user-owned stage-1 tables)" },
	{ IOASID_EXT_FAULT_QUEUE, "IOASID_EXT_FAULT_QUEUE (I/O page faults)" },
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

/* Step 5: an address space holding 2 MiB of "guest RAM" at guest-physical 0x100000. */
static int guest_ram(int fd)
{
	size_t len = 2 << 20;
	struct ioasid_ioas_alloc alloc = { .argsz = sizeof(alloc) };
	struct ioasid_iova_range range;
	struct ioasid_ioas_iova_ranges ranges = {
		.argsz = sizeof(ranges), .num_ranges = 1, .allowed_iovas = (uintptr_t)&range,
	};
	struct ioasid_ioas_map map = {
		.argsz = sizeof(map),
		.flags = IOASID_MAP_FIXED_IOVA | IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE,
		.length = len,
		.iova = 0x100000,
	};
	struct ioasid_ioas_unmap unmap = { .argsz = sizeof(unmap), .length = UINT64_MAX };
	struct ioasid_destroy destroy = { .argsz = sizeof(destroy) };
	void *ram;

	if (ioctl(fd, IOASID_IOAS_ALLOC, &alloc)) {
		perror("IOASID_IOAS_ALLOC");
		return 1;
	}
	printf("5. IOASID_IOAS_ALLOC: address space %u\n", alloc.out_ioas_id);

	ranges.ioas_id = alloc.out_ioas_id;
	if (ioctl(fd, IOASID_IOAS_IOVA_RANGES, &ranges)) {
		perror("IOASID_IOAS_IOVA_RANGES");
		return 1;
	}
	printf("6. IOASID_IOAS_IOVA_RANGES: %u range(s), first [0x%llx, 0x%llx], alignment 0x%llx\n",
	       ranges.num_ranges, (unsigned long long)range.start,
	       (unsigned long long)range.last, (unsigned long long)ranges.out_iova_alignment);

	ram = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	map.ioas_id = alloc.out_ioas_id;
	map.user_va = (uintptr_t)ram;
	if (ioctl(fd, IOASID_IOAS_MAP, &map)) {
		perror("IOASID_IOAS_MAP");
		return 1;
	}
	printf("7. IOASID_IOAS_MAP: %zu KiB of guest RAM pinned and mapped at IOVA 0x%llx\n",
	       len >> 10, (unsigned long long)map.iova);

	unmap.ioas_id = alloc.out_ioas_id;
	if (ioctl(fd, IOASID_IOAS_UNMAP, &unmap)) {
		perror("IOASID_IOAS_UNMAP");
		return 1;
	}
	printf("8. IOASID_IOAS_UNMAP (all): %llu KiB unmapped and unpinned\n",
	       (unsigned long long)unmap.length >> 10);

	destroy.id = alloc.out_ioas_id;
	if (ioctl(fd, IOASID_DESTROY, &destroy)) {
		perror("IOASID_DESTROY");
		return 1;
	}
	printf("9. IOASID_DESTROY: address space %u gone\n", alloc.out_ioas_id);
	munmap(ram, len);
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

	if (close(fd)) {
		perror("close");
		return 1;
	}
	printf("10. closed the context: the kernel released everything it held\n");
	printf("sample: OK\n");
	return 0;
}
