/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Test-only control interface of ioasid's mock IOMMU: /dev/ioasid-mock, present only in
 * kernels built with CONFIG_IOASID_TEST. It is not uAPI: only ioasid's kselftests use
 * it, and it may change with them. The Rust side is generated from this file by bindgen.
 *
 * The mock is a real IOMMU driver registered with the kernel's IOMMU core for devices on
 * its own bus ("ioasid_mock"); /dev/ioasid reaches it only through the host IOMMU API.
 * Through this interface a test creates mock devices (each bound to an ioasid context,
 * as a device driver would bind it), looks at what the mock page tables map, and reads
 * the mock IOTLB's state. Closing the /dev/ioasid-mock file destroys every device it
 * created. See Documentation/driver-api/ioasid.rst ("The mock IOMMU").
 *
 * Structs follow the argsz rules of <linux/ioasid.h>.
 */
#ifndef _IOASID_MOCK_H
#define _IOASID_MOCK_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define IOASID_MOCK_TYPE 0xBC

/* Page sizes of the mock IOMMU: 4 KiB, 2 MiB and 1 GiB. */
#define IOASID_MOCK_PGSIZES ((1ULL << 12) | (1ULL << 21) | (1ULL << 30))
/* Input addresses the mock translates: 0 .. 2^IOASID_MOCK_ADDR_WIDTH - 1. */
#define IOASID_MOCK_ADDR_WIDTH 48
/* Widest PASID a mock device may have, in bits. */
#define IOASID_MOCK_PASID_WIDTH_MAX 20
/* Most reserved regions one mock device may have. */
#define IOASID_MOCK_RESERVED_MAX 8
/* The `pasid` that names the device's requester-ID (non-PASID) DMA. */
#define IOASID_MOCK_NO_PASID 0xffffffffU

enum ioasid_mock_cmd {
	IOASID_MOCK_CMD_DEVICE_ADD = 0x00,
	IOASID_MOCK_CMD_DEVICE_DEL,
	IOASID_MOCK_CMD_CHECK_MAP,
	IOASID_MOCK_CMD_IOTLB,
	IOASID_MOCK_CMD_PAGE_REQUEST,
	IOASID_MOCK_CMD_PAGE_RESPONSE,
	IOASID_MOCK_CMD_PASID_TRANSLATE,
	IOASID_MOCK_CMD_DMA_WRITE,
};

/* A reserved region of a mock device, inclusive. */
struct ioasid_mock_range {
	__aligned_u64 start;
	__aligned_u64 last;
};

/* Flags of IOASID_MOCK_DEVICE_ADD. */
enum ioasid_mock_device_flags {
	/*
	 * The device issues page requests (like PCIe PRI): it is added to the mock IOMMU's
	 * I/O page-fault queue, and IOASID_MOCK_PAGE_REQUEST works on it.
	 */
	IOASID_MOCK_DEVICE_PRI = 1 << 0,
	/* Bound with the PASID DMA intent (IOASID_DEVICE_INTENT_PASID) instead of RID. */
	IOASID_MOCK_DEVICE_INTENT_PASID = 1 << 1,
	/*
	 * Its MSIs are not isolated: the device is not under the mock's isolating interrupt
	 * domain, so iommu_group_has_isolated_msi() is false for its group (by default a
	 * mock device is, like a device behind interrupt remapping).
	 */
	IOASID_MOCK_DEVICE_MSI_UNISOLATED = 1 << 2,
	/*
	 * The IOMMU translates MSIs, as Arm SMMUs do: it reserves a software MSI window
	 * (IOMMU_RESV_SW_MSI) at IOASID_MOCK_SW_MSI_BASE for every domain of the device.
	 */
	IOASID_MOCK_DEVICE_SW_MSI = 1 << 3,
	/*
	 * Its IOMMU cannot enforce cache-coherent DMA (no IOMMU_CAP_ENFORCE_CACHE_COHERENCY;
	 * by default a mock device's can, and its domains take enforce_cache_coherency).
	 */
	IOASID_MOCK_DEVICE_NO_COHERENCY = 1 << 4,
	/*
	 * Its IOMMU cannot track dirty pages (no IOMMU_CAP_DIRTY_TRACKING, no dirty
	 * domains; by default a mock device's can: its page-table entries have dirty bits
	 * that IOASID_MOCK_DMA_WRITE sets while tracking is on).
	 */
	IOASID_MOCK_DEVICE_NO_DIRTY = 1 << 5,
};

/* The software MSI window of IOASID_MOCK_DEVICE_SW_MSI devices (that of the SMMU drivers). */
#define IOASID_MOCK_SW_MSI_BASE 0x8000000ull
#define IOASID_MOCK_SW_MSI_LENGTH 0x100000ull

/**
 * struct ioasid_mock_device_add - IOASID_MOCK_DEVICE_ADD
 * @argsz: sizeof(struct ioasid_mock_device_add)
 * @flags: enum ioasid_mock_device_flags
 * @ioasid_fd: an open /dev/ioasid the new device is bound to (RID DMA intent)
 * @group_with: 0 for a group of its own, or the mock ID of a live device of this file
 *	whose IOMMU group the new device joins
 * @pasid_width: PASID width in bits, 0 (no PASID) to IOASID_MOCK_PASID_WIDTH_MAX
 * @instance: which mock IOMMU instance the device sits behind; a domain allocated for
 *	one instance cannot be attached to a device of another (attach says EINVAL), like
 *	two incompatible IOMMUs
 * @num_reserved: how many ranges @reserved points to, at most IOASID_MOCK_RESERVED_MAX
 * @__reserved: must be 0
 * @reserved: user pointer to the device's reserved regions (struct ioasid_mock_range)
 * @out_mock_id: the device's mock ID (its name is ioasid_mock<ID>)
 * @out_dev_id: the device's ID in the ioasid context of @ioasid_fd
 *
 * Errors: EBADF @ioasid_fd is not an open /dev/ioasid, ENOENT @group_with unknown,
 * EINVAL bad width, instance, range or reserved field, EPERM the group's other devices
 * are bound to another context, ENOMEM.
 */
struct ioasid_mock_device_add {
	__u32 argsz;
	__u32 flags;
	__s32 ioasid_fd;
	__u32 group_with;
	__u32 pasid_width;
	__u32 instance;
	__u32 num_reserved;
	__u32 __reserved;
	__aligned_u64 reserved;
	__u32 out_mock_id;
	__u32 out_dev_id;
};
#define IOASID_MOCK_DEVICE_ADD _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_DEVICE_ADD)

/**
 * struct ioasid_mock_device_del - IOASID_MOCK_DEVICE_DEL
 * @argsz: sizeof(struct ioasid_mock_device_del)
 * @mock_id: a device this file created
 *
 * Hot-unplugs the device, in whatever state it is: it is unbound from its ioasid context
 * (detached from its address space first) and removed from the bus.
 * Errors: ENOENT no such device of this file.
 */
struct ioasid_mock_device_del {
	__u32 argsz;
	__u32 mock_id;
};
#define IOASID_MOCK_DEVICE_DEL _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_DEVICE_DEL)

/* Check flags. */
enum ioasid_mock_check_flags {
	/* Nothing in the range may be mapped (@uptr is ignored). */
	IOASID_MOCK_CHECK_UNMAPPED = 1 << 0,
	/* Every page must be readable by the device. */
	IOASID_MOCK_CHECK_READ = 1 << 1,
	/* Every page must be writable by the device. */
	IOASID_MOCK_CHECK_WRITE = 1 << 2,
};

/**
 * struct ioasid_mock_check_map - IOASID_MOCK_CHECK_MAP
 * @argsz: sizeof(struct ioasid_mock_check_map)
 * @flags: enum ioasid_mock_check_flags
 * @mock_id: a device this file created
 * @pasid: IOASID_MOCK_NO_PASID for the device's RID domain, else a PASID
 * @iova: start of the range, page aligned
 * @length: length of the range, page aligned, not 0
 * @uptr: user address of the memory the range must map, page by page
 * @out_pgsizes: OR of the sizes of the page-table entries that cover the range
 *
 * Walks the mock page table of the domain attached to (@mock_id, @pasid) over the range,
 * 4 KiB at a time, and compares every translation with the physical page behind the same
 * offset of @uptr.
 * Errors: ENOENT unknown device, ENODEV no domain attached, ENXIO a page is unmapped or
 * maps another physical page, EACCES a page lacks the permission asked for, EEXIST
 * (IOASID_MOCK_CHECK_UNMAPPED) something is mapped, EFAULT bad @uptr, EINVAL bad range.
 */
struct ioasid_mock_check_map {
	__u32 argsz;
	__u32 flags;
	__u32 mock_id;
	__u32 pasid;
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 uptr;
	__aligned_u64 out_pgsizes;
};
#define IOASID_MOCK_CHECK_MAP _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_CHECK_MAP)

/**
 * struct ioasid_mock_iotlb - IOASID_MOCK_IOTLB
 * @argsz: sizeof(struct ioasid_mock_iotlb)
 * @mock_id: a device this file created
 * @pasid: IOASID_MOCK_NO_PASID or a PASID, as for IOASID_MOCK_CHECK_MAP
 * @__reserved: must be 0
 * @out_entries: page-table entries of the attached domain
 * @out_stale: entries removed from the page table whose IOTLB invalidation has not
 *	been issued yet: a device could still use them (must be 0 whenever no unmap is
 *	in progress)
 * @out_invalidations: IOTLB invalidations the domain has received so far
 * @out_flags: (since size 48) IOASID_MOCK_IOTLB_MSI_COOKIE: the domain has the IOMMU
 *	core's MSI cookie, so the doorbells of MSIs set up for its devices are mapped in
 *	the device's software MSI window; IOASID_MOCK_IOTLB_COHERENT: the domain enforces
 *	cache-coherent DMA
 * @__reserved2: must be 0
 *
 * Errors: ENOENT unknown device, ENODEV no domain attached.
 */
struct ioasid_mock_iotlb {
	__u32 argsz;
	__u32 mock_id;
	__u32 pasid;
	__u32 __reserved;
	__aligned_u64 out_entries;
	__aligned_u64 out_stale;
	__aligned_u64 out_invalidations;
	__u32 out_flags;
	__u32 __reserved2;
};

enum ioasid_mock_iotlb_flags {
	IOASID_MOCK_IOTLB_MSI_COOKIE = 1 << 0,
	IOASID_MOCK_IOTLB_COHERENT = 1 << 1,
};
#define IOASID_MOCK_IOTLB _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_IOTLB)

/* Flags of a page request (those of the IOMMU core's struct iommu_fault_page_request). */
enum ioasid_mock_page_request_flags {
	/* @pasid is valid: the request is PASID-tagged. */
	IOASID_MOCK_PAGE_REQUEST_PASID_VALID = 1 << 0,
	/* The last request of its group: the group is complete and awaits one response. */
	IOASID_MOCK_PAGE_REQUEST_LAST_PAGE = 1 << 1,
};

/* Access a page request asks for (the core's IOMMU_FAULT_PERM_*). */
enum ioasid_mock_page_request_perm {
	IOASID_MOCK_PERM_READ = 1 << 0,
	IOASID_MOCK_PERM_WRITE = 1 << 1,
	IOASID_MOCK_PERM_EXEC = 1 << 2,
	IOASID_MOCK_PERM_PRIV = 1 << 3,
};

/**
 * struct ioasid_mock_page_request - IOASID_MOCK_PAGE_REQUEST
 * @argsz: sizeof(struct ioasid_mock_page_request)
 * @flags: enum ioasid_mock_page_request_flags
 * @mock_id: a device of this file created with IOASID_MOCK_DEVICE_PRI
 * @pasid: the PASID, if IOASID_MOCK_PAGE_REQUEST_PASID_VALID
 * @grpid: page request group index, 0 to 511
 * @perm: enum ioasid_mock_page_request_perm, not 0
 * @out_delivered: 1 if the IOMMU core found a fault handler for the request (the domain
 *	attached to (device, PASID) has one; if the handler refuses the group, the core
 *	answers it FAILURE); 0 if there is none, in which case the core has already
 *	answered it with IOMMU_PAGE_RESP_INVALID
 * @__reserved: must be 0
 * @addr: the faulting address, page aligned
 *
 * The device issues a page request: the mock hands it to the IOMMU core's fault path
 * (iommu_report_device_fault()), as an IOMMU driver does from its page-request queue,
 * never while an attach, detach or replace of (device, PASID) is half done (it waits).
 * Errors: ENOENT unknown device, EOPNOTSUPP device without PRI or unknown flag, EINVAL
 * bad PASID, group, permission or address, EBUSY an attachment change did not settle
 * within seconds.
 */
struct ioasid_mock_page_request {
	__u32 argsz;
	__u32 flags;
	__u32 mock_id;
	__u32 pasid;
	__u32 grpid;
	__u32 perm;
	__u32 out_delivered;
	__u32 __reserved;
	__aligned_u64 addr;
};
#define IOASID_MOCK_PAGE_REQUEST _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_PAGE_REQUEST)

/* Codes of a page response (the core's enum iommu_page_response_code). */
enum ioasid_mock_page_response_code {
	IOASID_MOCK_RESP_SUCCESS = 0,
	IOASID_MOCK_RESP_INVALID = 1,
	IOASID_MOCK_RESP_FAILURE = 2,
};

/**
 * struct ioasid_mock_page_response - IOASID_MOCK_PAGE_RESPONSE
 * @argsz: sizeof(struct ioasid_mock_page_response)
 * @mock_id: a device this file created
 * @out_pasid: the PASID of the response
 * @out_grpid: the group it answers
 * @out_code: enum ioasid_mock_page_response_code
 * @__reserved: must be 0
 *
 * Takes the oldest page response the IOMMU core sent the device (the mock's
 * page_response() op records them in order).
 * Errors: ENOENT unknown device, EAGAIN no response waiting.
 */
struct ioasid_mock_page_response {
	__u32 argsz;
	__u32 mock_id;
	__u32 out_pasid;
	__u32 out_grpid;
	__u32 out_code;
	__u32 __reserved;
};
#define IOASID_MOCK_PAGE_RESPONSE _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_PAGE_RESPONSE)

/**
 * struct ioasid_mock_pasid_translate - IOASID_MOCK_PASID_TRANSLATE
 * @argsz: sizeof(struct ioasid_mock_pasid_translate)
 * @ioasid_fd: an open /dev/ioasid
 * @ns_id: a PASID namespace of its context
 * @vpasid: a PASID of the namespace
 * @out_ppasid: the physical PASID it stands for
 * @__reserved: must be 0
 *
 * Asks ioasid_pasid_translate() (include/linux/ioasid.h), the in-kernel API, as an
 * in-kernel consumer would; tests use the answer to look at the mock page table of the
 * physical PASID. Errors: those of ioasid_pasid_translate().
 */
struct ioasid_mock_pasid_translate {
	__u32 argsz;
	__s32 ioasid_fd;
	__u32 ns_id;
	__u32 vpasid;
	__u32 out_ppasid;
	__u32 __reserved;
};
#define IOASID_MOCK_PASID_TRANSLATE _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_PASID_TRANSLATE)

/**
 * struct ioasid_mock_dma_write - IOASID_MOCK_DMA_WRITE
 * @argsz: sizeof(struct ioasid_mock_dma_write)
 * @mock_id: a device this file created
 * @iova: start of the range the device writes
 * @length: bytes it writes, not 0
 *
 * What the mock IOMMU does when the device's requester-ID DMA writes the range: each
 * page-table entry it goes through, while its domain tracks dirty pages, gets its dirty
 * bit set (for the whole entry, as hardware does). No memory is written.
 * Errors: ENOENT unknown device, ENODEV no paging domain attached, EFAULT a byte of the
 * range is not mapped writable (the write would fault), EINVAL bad range.
 */
struct ioasid_mock_dma_write {
	__u32 argsz;
	__u32 mock_id;
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define IOASID_MOCK_DMA_WRITE _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_DMA_WRITE)

#endif /* _IOASID_MOCK_H */
