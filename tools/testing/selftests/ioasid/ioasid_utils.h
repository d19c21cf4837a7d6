/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the ioasid kselftests: thin wrappers of the ioctls. */
#ifndef IOASID_UTILS_H
#define IOASID_UTILS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include <linux/ioasid.h>

#define RW (IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE)
#define FIXED (RW | IOASID_MAP_FIXED_IOVA)

static inline int ioas_alloc(int fd, __u32 *id)
{
	struct ioasid_ioas_alloc arg = { .argsz = sizeof(arg) };
	int ret = ioctl(fd, IOASID_IOAS_ALLOC, &arg);

	if (!ret)
		*id = arg.out_ioas_id;
	return ret;
}

static inline int destroy(int fd, __u32 id)
{
	struct ioasid_destroy arg = { .argsz = sizeof(arg), .id = id };

	return ioctl(fd, IOASID_DESTROY, &arg);
}

/* Maps @length bytes at @va; with FIXED in @flags at *@iova, else *@iova is set. */
static inline int map(int fd, __u32 ioas, __u32 flags, void *va, __u64 length, __u64 *iova)
{
	struct ioasid_ioas_map arg = {
		.argsz = sizeof(arg),
		.flags = flags,
		.ioas_id = ioas,
		.user_va = (uintptr_t)va,
		.length = length,
		.iova = *iova,
	};
	int ret = ioctl(fd, IOASID_IOAS_MAP, &arg);

	if (!ret)
		*iova = arg.iova;
	return ret;
}

static inline int map_at(int fd, __u32 ioas, void *va, __u64 len, __u64 iova)
{
	return map(fd, ioas, FIXED, va, len, &iova);
}

/* Reads the allowed IOVA ranges; returns how many there are. */
static inline int iova_ranges(int fd, __u32 ioas, struct ioasid_iova_range *r, int max)
{
	struct ioasid_ioas_iova_ranges arg = {
		.argsz = sizeof(arg), .ioas_id = ioas, .num_ranges = max,
		.allowed_iovas = (uintptr_t)r,
	};

	if (ioctl(fd, IOASID_IOAS_IOVA_RANGES, &arg))
		return -1;
	return arg.num_ranges;
}

/* Unmaps [iova, iova + length); the bytes unmapped go to *@unmapped if given. */
static inline int unmap(int fd, __u32 ioas, __u64 iova, __u64 length, __u64 *unmapped)
{
	struct ioasid_ioas_unmap arg = {
		.argsz = sizeof(arg),
		.ioas_id = ioas,
		.iova = iova,
		.length = length,
	};
	int ret = ioctl(fd, IOASID_IOAS_UNMAP, &arg);

	if (!ret && unmapped)
		*unmapped = arg.length;
	return ret;
}

static inline int attach(int fd, __u32 dev, __u32 ioas)
{
	struct ioasid_device_attach arg = { .argsz = sizeof(arg), .dev_id = dev, .ioas_id = ioas };

	return ioctl(fd, IOASID_DEVICE_ATTACH, &arg);
}

static inline int detach(int fd, __u32 dev)
{
	struct ioasid_device_detach arg = { .argsz = sizeof(arg), .dev_id = dev };

	return ioctl(fd, IOASID_DEVICE_DETACH, &arg);
}

/* Locked memory of this process in bytes, as /proc/self/status shows it (VmLck). */
static inline long locked_bytes(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

#endif
