/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * /dev/ioasid: device-centric I/O address spaces for userspace VMMs and drivers.
 *
 * Documentation/userspace-api/ioasid.rst describes every ioctl, struct, flag and errno
 * declared here. The Rust side of the driver is generated from this file by bindgen, so
 * this header is the one source of truth for the ABI.
 *
 * Extensible structs begin with `argsz`, the size userspace passes. The kernel accepts
 * any argsz from the struct's first published size on: bytes it does not know must be
 * zero (else E2BIG), and fields a shorter, older struct lacks read as zero.
 */
#ifndef _UAPI_LINUX_IOASID_H
#define _UAPI_LINUX_IOASID_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* ioctl type of /dev/ioasid (Documentation/userspace-api/ioctl/ioctl-number.rst). */
#define IOASID_TYPE 0xBB

/* The version IOASID_GET_API_VERSION returns; it changes only if the ABI breaks. */
#define IOASID_API_VERSION 1

/* Largest argsz the kernel accepts for any extensible struct. */
#define IOASID_ARGSZ_MAX 4096

enum ioasid_cmd {
	IOASID_CMD_BASE = 0x00,
	IOASID_CMD_GET_API_VERSION = IOASID_CMD_BASE,
	IOASID_CMD_CHECK_EXTENSION,
};

/**
 * IOASID_GET_API_VERSION - _IO(IOASID_TYPE, IOASID_CMD_GET_API_VERSION)
 *
 * Takes no argument and returns IOASID_API_VERSION. Never fails.
 */
#define IOASID_GET_API_VERSION _IO(IOASID_TYPE, IOASID_CMD_GET_API_VERSION)

/*
 * Extensions a kernel may support, asked about with IOASID_CHECK_EXTENSION. Numbers are
 * never reused; asking about a number this kernel does not know answers "unsupported".
 */
enum ioasid_extension {
	/* This header's argsz rules for extensible structs (always supported). */
	IOASID_EXT_ARGSZ = 1,
	/* Kernel-managed address spaces with MAP_DMA/UNMAP_DMA. */
	IOASID_EXT_MAP_DMA = 2,
	/* PASID namespaces and (device, PASID) attach. */
	IOASID_EXT_PASID = 3,
	/* Nested address spaces with user-owned stage-1 tables. */
	IOASID_EXT_NESTING = 4,
	/* I/O page fault queues. */
	IOASID_EXT_FAULT_QUEUE = 5,
};

/**
 * struct ioasid_check_extension - IOASID_CHECK_EXTENSION argument
 * @argsz: sizeof(struct ioasid_check_extension)
 * @flags: must be 0
 * @extension: in, an enum ioasid_extension value
 * @supported: out, 1 if this kernel supports @extension, else 0
 *
 * Errors: EFAULT bad pointer, EINVAL argsz too small, E2BIG non-zero bytes past the
 * known struct, EOPNOTSUPP unknown @flags.
 */
struct ioasid_check_extension {
	__u32 argsz;
	__u32 flags;
	__u32 extension;
	__u32 supported;
};
#define IOASID_CHECK_EXTENSION _IO(IOASID_TYPE, IOASID_CMD_CHECK_EXTENSION)

#endif /* _UAPI_LINUX_IOASID_H */
