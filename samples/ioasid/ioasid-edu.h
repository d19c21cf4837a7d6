/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * uAPI of the sample "ioasid-edu" PCI driver (samples/ioasid/ioasid_edu.c): a device file
 * per bound QEMU edu device, /dev/ioasid-edu-<PCI address>, through which a VMM binds
 * the device to an ioasid context and reaches its registers.
 */
#ifndef _IOASID_EDU_H
#define _IOASID_EDU_H

#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * struct ioasid_edu_bind - IOASID_EDU_BIND argument
 * @argsz: sizeof(struct ioasid_edu_bind)
 * @ioasid_fd: an open /dev/ioasid
 * @out_dev_id: out, the device's ID in that context
 */
struct ioasid_edu_bind {
	__u32 argsz;
	__s32 ioasid_fd;
	__u32 out_dev_id;
	__u32 __reserved;
};

#define IOASID_EDU_TYPE 0xBB
/* Binds the device to an ioasid context (EBUSY if already bound). */
#define IOASID_EDU_BIND _IO(IOASID_EDU_TYPE, 0x80)
/* Unbinds it (ENOENT if not bound); closing the device file does the same. */
#define IOASID_EDU_UNBIND _IO(IOASID_EDU_TYPE, 0x81)

/* mmap() of the device file at offset 0 gives BAR0, the edu registers (4 KiB). */

#endif
