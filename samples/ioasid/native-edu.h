/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace helpers for QEMU's edu device handed to userspace by the sample ioasid-edu
 * driver (/dev/ioasid-edu-*): its registers, finding and binding it, and running one of
 * its DMAs. Shared by the sample VMM and the kselftests.
 */
#ifndef _IOASID_NATIVE_EDU_H
#define _IOASID_NATIVE_EDU_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ioasid-samples.h"

/* edu registers (BAR0) and its on-device buffer. */
#define EDU_IDENT	0x00
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_COUNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_CMD_START	1
#define EDU_CMD_TO_RAM	2
#define EDU_BUF		0x40000
#define EDU_BUF_SIZE	4096

/* The path of an edu bound to ioasid-edu in @path; 0, or -1 if there is none. */
static inline int native_edu_find(char *path, size_t len)
{
	struct dirent *d;
	DIR *dir = opendir("/dev");
	int found = -1;

	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		if (!strncmp(d->d_name, "ioasid-edu-", 11)) {
			snprintf(path, len, "/dev/%.200s", d->d_name);
			found = 0;
			break;
		}
	closedir(dir);
	return found;
}

/* Binds the edu open at @edu to the ioasid context @ioasid; its device ID in @dev_id. */
static inline int native_edu_bind(int edu, int ioasid, __u32 *dev_id)
{
	struct ioasid_edu_bind arg = { .argsz = sizeof(arg), .ioasid_fd = ioasid };
	int ret = ioctl(edu, IOASID_EDU_BIND, &arg);

	*dev_id = arg.out_dev_id;
	return ret;
}

/*
 * Runs one DMA of @count bytes (to RAM if @to_ram, else to the device) through BAR0 at
 * @bar and waits up to 10 s for it: 0, or -1 if it did not finish. A DMA the IOMMU
 * blocks finishes too: it just moves nothing.
 */
static inline int native_edu_dma(volatile uint8_t *bar, uint64_t src, uint64_t dst,
				 uint64_t count, int to_ram)
{
	*(volatile uint64_t *)(bar + EDU_DMA_SRC) = src;
	*(volatile uint64_t *)(bar + EDU_DMA_DST) = dst;
	*(volatile uint64_t *)(bar + EDU_DMA_COUNT) = count;
	*(volatile uint64_t *)(bar + EDU_DMA_CMD) = EDU_CMD_START | (to_ram ? EDU_CMD_TO_RAM : 0);
	for (int i = 0; i < 10000; i++) {
		if (!(*(volatile uint64_t *)(bar + EDU_DMA_CMD) & EDU_CMD_START))
			return 0;
		usleep(1000);
	}
	return -1;
}

#endif /* _IOASID_NATIVE_EDU_H */
