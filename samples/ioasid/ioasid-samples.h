/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * uAPI of the sample drivers of samples/ioasid:
 *
 * - ioasid_edu.c: a device file per bound QEMU edu device, /dev/ioasid-edu-<PCI address>,
 *   through which a VMM binds the device to an ioasid context and reaches its registers;
 * - ioasid_swdev.c: /dev/ioasid-swdev, a software device with no IOMMU of its own (an
 *   mdev-like device): each open file is one device instance that, once bound and
 *   attached, copies between IOVAs of its address space through the CPU.
 */
#ifndef _IOASID_SAMPLES_H
#define _IOASID_SAMPLES_H

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
/*
 * Unbinds it (ENOENT if not bound, EPERM if another open file of the device bound it);
 * closing the device file that bound it does the same.
 */
#define IOASID_EDU_UNBIND _IO(IOASID_EDU_TYPE, 0x81)

/* mmap() of the device file at offset 0 gives BAR0, the edu registers (4 KiB). */

/* ioasid-swdev takes the same struct ioasid_edu_bind to bind (software-table intent). */
#define IOASID_SWDEV_BIND _IO(IOASID_EDU_TYPE, 0x90)
#define IOASID_SWDEV_UNBIND _IO(IOASID_EDU_TYPE, 0x91)

/**
 * struct ioasid_swdev_copy - IOASID_SWDEV_COPY argument
 * @argsz: sizeof(struct ioasid_swdev_copy)
 * @__reserved: must be 0
 * @src_iova: where the device reads
 * @dst_iova: where the device writes
 * @length: bytes to copy
 *
 * The device copies through the CPU, one page at a time. Errors: EINVAL not attached or
 * bad argument, EFAULT a byte of either range is not mapped with the access it needs
 * (what was copied before stays copied).
 */
struct ioasid_swdev_copy {
	__u32 argsz;
	__u32 __reserved;
	__aligned_u64 src_iova;
	__aligned_u64 dst_iova;
	__aligned_u64 length;
};
#define IOASID_SWDEV_COPY _IO(IOASID_EDU_TYPE, 0x92)

/*
 * ioasid_vdma.c: ioasid-vdma, an emulated VFIO device (the mdev path: no IOMMU, its
 * driver reaches memory with vfio_dma_rw()) with a DMA engine. Its VFIO cdev binds to
 * an ioasid context with VFIO_DEVICE_BIND_IOASID (software-table intent). Region 0 of
 * the device fd holds its registers, read and written with pread/pwrite as 64-bit words:
 */
#define IOASID_VDMA_SRC		0x00	/* IOVA the engine reads */
#define IOASID_VDMA_DST		0x08	/* IOVA the engine writes */
#define IOASID_VDMA_COUNT	0x10	/* bytes, at most IOASID_VDMA_MAX */
#define IOASID_VDMA_CMD		0x18	/* write a command: runs it before returning */
#define IOASID_VDMA_STATUS	0x20	/* 0 or the negative errno of the last command */
#define IOASID_VDMA_REGS	0x28	/* size of region 0 */
#define IOASID_VDMA_MAX		4096
/* Copy COUNT bytes from SRC to DST with vfio_dma_rw(). */
#define IOASID_VDMA_CMD_COPY	1
/* Pin the page at SRC with vfio_pin_pages() and unpin it (mdev drivers that pin). */
#define IOASID_VDMA_CMD_PIN	2

#endif
