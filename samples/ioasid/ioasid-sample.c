// SPDX-License-Identifier: GPL-2.0
/*
 * A VMM-style client of /dev/ioasid, written to be read: each step prints what it does.
 *
 * It opens /dev/ioasid, negotiates the API version, asks which extensions this kernel
 * supports, and lists the IOMMU groups and devices the VM offers for passthrough.
 * Exits 0 when every step behaved as the uAPI documentation says.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
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

static void list_iommu_groups(void)
{
	const char *base = "/sys/kernel/iommu_groups";
	struct dirent *g, *d;
	char path[512];
	DIR *groups, *devs;

	groups = opendir(base);
	if (!groups) {
		printf("  no IOMMU groups (%s: %s)\n", base, strerror(errno));
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
				printf("  group %-3s %s\n", g->d_name, d->d_name);
		closedir(devs);
	}
	closedir(groups);
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

	if (close(fd)) {
		perror("close");
		return 1;
	}
	printf("5. closed the context: the kernel released everything it held\n");
	printf("sample: OK\n");
	return 0;
}
