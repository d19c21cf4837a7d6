/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace helpers for an edu device passed through with vfio-pci on /dev/ioasid, as a
 * VMM does it: find the device's VFIO cdev, bind it to an ioasid context
 * (VFIO_DEVICE_BIND_IOASID), and reach BAR0 through VFIO_DEVICE_GET_REGION_INFO and mmap
 * of the device fd. Shared by the sample VMM and the kselftests.
 */
#ifndef _IOASID_VFIO_EDU_H
#define _IOASID_VFIO_EDU_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

/* Reads the first line of a sysfs file into @buf. */
static inline int vfio_edu_read(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	int ret = -1;

	if (!f)
		return -1;
	if (fgets(buf, len, f)) {
		buf[strcspn(buf, "\n")] = 0;
		ret = 0;
	}
	fclose(f);
	return ret;
}

/*
 * Finds an edu device (1234:11e8) bound to vfio-pci: its PCI address in @bdf and the path
 * of its VFIO cdev (/dev/vfio/devices/vfioN) in @cdev. Returns 0, or -1 if there is none.
 */
static inline int vfio_edu_find(char *bdf, size_t bdf_len, char *cdev, size_t cdev_len)
{
	DIR *pci = opendir("/sys/bus/pci/devices");
	char path[512], val[64], drv[512];
	struct dirent *d, *v;
	int ret = -1;

	while (pci && ret && (d = readdir(pci))) {
		ssize_t n;
		DIR *vd;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", d->d_name);
		if (vfio_edu_read(path, val, sizeof(val)) || strcmp(val, "0x1234"))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", d->d_name);
		if (vfio_edu_read(path, val, sizeof(val)) || strcmp(val, "0x11e8"))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", d->d_name);
		n = readlink(path, drv, sizeof(drv) - 1);
		if (n < 0)
			continue;
		drv[n] = 0;
		if (strcmp(strrchr(drv, '/') ? strrchr(drv, '/') + 1 : drv, "vfio-pci"))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", d->d_name);
		vd = opendir(path);
		while (vd && (v = readdir(vd)))
			if (!strncmp(v->d_name, "vfio", 4)) {
				snprintf(bdf, bdf_len, "%.63s", d->d_name);
				snprintf(cdev, cdev_len, "/dev/vfio/devices/%.63s", v->d_name);
				ret = 0;
				break;
			}
		if (vd)
			closedir(vd);
	}
	if (pci)
		closedir(pci);
	return ret;
}

/* VFIO_DEVICE_BIND_IOASID of the device fd @dev to the ioasid context of @ioasid. */
static inline int vfio_bind_ioasid(int dev, int ioasid, __u32 flags, __u32 *dev_id)
{
	struct vfio_device_bind_ioasid bind = {
		.argsz = sizeof(bind),
		.flags = flags,
		.ioasid_fd = ioasid,
	};
	int ret = ioctl(dev, VFIO_DEVICE_BIND_IOASID, &bind);

	if (!ret && dev_id)
		*dev_id = bind.out_dev_id;
	return ret;
}

/*
 * Maps the first 4 KiB of BAR0 (the edu registers) of the bound device fd @dev, where
 * VFIO_DEVICE_GET_REGION_INFO says the region is. Returns MAP_FAILED on error.
 */
static inline volatile uint8_t *vfio_edu_bar0(int dev)
{
	struct vfio_region_info info = {
		.argsz = sizeof(info),
		.index = VFIO_PCI_BAR0_REGION_INDEX,
	};

	if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &info))
		return MAP_FAILED;
	if (!(info.flags & VFIO_REGION_INFO_FLAG_MMAP) || info.size < 4096)
		return MAP_FAILED;
	return mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, dev, info.offset);
}

/*
 * Sets or clears Bus Master Enable in the PCI command register of the bound device fd
 * @dev, through its config space region: a guest driver does that before any DMA.
 */
static inline int vfio_edu_bus_master(int dev, int on)
{
	struct vfio_region_info info = {
		.argsz = sizeof(info),
		.index = VFIO_PCI_CONFIG_REGION_INDEX,
	};
	uint16_t cmd;

	if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &info))
		return -1;
	if (pread(dev, &cmd, sizeof(cmd), info.offset + 4) != sizeof(cmd))
		return -1;
	cmd = on ? cmd | 0x4 : cmd & ~0x4;
	if (pwrite(dev, &cmd, sizeof(cmd), info.offset + 4) != sizeof(cmd))
		return -1;
	return 0;
}

#endif /* _IOASID_VFIO_EDU_H */
