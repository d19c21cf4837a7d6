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
	IOASID_CMD_DESTROY,
	IOASID_CMD_IOAS_ALLOC,
	IOASID_CMD_IOAS_IOVA_RANGES,
	IOASID_CMD_IOAS_MAP,
	IOASID_CMD_IOAS_UNMAP,
	IOASID_CMD_DEVICE_ATTACH,
	IOASID_CMD_DEVICE_DETACH,
	IOASID_CMD_DEVICE_GET_INFO,
	IOASID_CMD_PASID_NS_ALLOC,
	IOASID_CMD_PASID_ALLOC,
	IOASID_CMD_PASID_FREE,
	IOASID_CMD_DEVICE_PASID_ATTACH,
	IOASID_CMD_DEVICE_PASID_DETACH,
	IOASID_CMD_NESTED_ALLOC,
	IOASID_CMD_BIND_TABLE,
	IOASID_CMD_UNBIND_TABLE,
	IOASID_CMD_CACHE_INVALIDATE,
	IOASID_CMD_FAULT_QUEUE_ALLOC,
	IOASID_CMD_FAULT_QUEUE_STATUS,
	IOASID_CMD_IOAS_COPY,
	IOASID_CMD_IOAS_MAP_FILE,
	IOASID_CMD_CHANGE_PROCESS,
	IOASID_CMD_IOAS_SET_DIRTY_TRACKING,
	IOASID_CMD_IOAS_GET_DIRTY_BITMAP,
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
	/* Kernel-managed address spaces with IOASID_IOAS_MAP/IOASID_IOAS_UNMAP. */
	IOASID_EXT_MAP_DMA = 2,
	/* PASID namespaces and (device, PASID) attach. */
	IOASID_EXT_PASID = 3,
	/* Nested address spaces with user-owned stage-1 tables. */
	IOASID_EXT_NESTING = 4,
	/* I/O page fault queues. */
	IOASID_EXT_FAULT_QUEUE = 5,
	/* Address spaces that enforce cache-coherent DMA (IOASID_IOAS_ALLOC_COHERENT). */
	IOASID_EXT_ENFORCE_COHERENCY = 6,
	/* IOASID_IOAS_COPY: mappings shared between address spaces, pinned once. */
	IOASID_EXT_IOAS_COPY = 7,
	/* IOASID_IOAS_MAP_FILE: maps of memfd, shmem and hugetlbfs files by fd. */
	IOASID_EXT_MAP_FILE = 8,
	/* IOASID_CHANGE_PROCESS: the locked-memory charge moves to a new process. */
	IOASID_EXT_CHANGE_PROCESS = 9,
	/* Dirty tracking for live migration (IOASID_IOAS_ALLOC_DIRTY_TRACKING). */
	IOASID_EXT_DIRTY_TRACKING = 10,
	/*
	 * Software nesting: child address spaces whose stage-1 tables ioasid walks itself
	 * (a shadow paging domain) for devices whose IOMMU cannot nest: the formats are in
	 * each device's IOASID_INFO_CAP_SW_NESTING.
	 */
	IOASID_EXT_SW_NESTING = 11,
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

/**
 * struct ioasid_destroy - IOASID_DESTROY argument
 * @argsz: sizeof(struct ioasid_destroy)
 * @id: ID of an address space of this context
 *
 * Destroys the object. An address space's mappings are unmapped and unpinned.
 *
 * Errors: EINVAL argsz too small, or @id is a device (devices leave the context when
 * their driver unbinds them); E2BIG; EFAULT; ENOENT no object has @id; EBUSY a device
 * is attached to the address space.
 */
struct ioasid_destroy {
	__u32 argsz;
	__u32 id;
};
#define IOASID_DESTROY _IO(IOASID_TYPE, IOASID_CMD_DESTROY)

/**
 * enum ioasid_ioas_alloc_flags - flags of struct ioasid_ioas_alloc
 * @IOASID_IOAS_ALLOC_FAULT_QUEUE: page requests of devices and (device, PASID) pairs
 *	attached to the address space go to the fault queue @fault_queue_id (a field that
 *	was __reserved before this flag)
 * @IOASID_IOAS_ALLOC_COHERENT: every DMA through the address space snoops the CPU
 *	caches: the IOMMU ignores the no-snoop attribute of the devices' requests. Only
 *	devices whose IOMMU can enforce that (IOASID_DEVICE_INFO_ENFORCE_COHERENCY) can be
 *	attached (EOPNOTSUPP otherwise). A VMM that needs no WBINVD emulation for its
 *	guest (KVM's non-coherent DMA tracking) asks for it. Without the flag, coherency
 *	is still enforced for every device whose IOMMU can do it
 * @IOASID_IOAS_ALLOC_DIRTY_TRACKING: the address space can track the pages devices
 *	write (IOASID_IOAS_SET_DIRTY_TRACKING): its IOMMU domains are made for it, and
 *	only devices whose IOMMU can track (IOASID_DEVICE_INFO_DIRTY_TRACKING) or that
 *	use no IOMMU (software-table devices, tracked by ioasid itself) can be attached
 *	(EOPNOTSUPP otherwise). Tracking starts disabled.
 */
enum ioasid_ioas_alloc_flags {
	IOASID_IOAS_ALLOC_FAULT_QUEUE = 1 << 0,
	IOASID_IOAS_ALLOC_COHERENT = 1 << 1,
	IOASID_IOAS_ALLOC_DIRTY_TRACKING = 1 << 2,
};

/**
 * struct ioasid_ioas_alloc - IOASID_IOAS_ALLOC argument
 * @argsz: sizeof(struct ioasid_ioas_alloc)
 * @flags: enum ioasid_ioas_alloc_flags
 * @out_ioas_id: out, the ID of the new, empty I/O address space
 * @fault_queue_id: with IOASID_IOAS_ALLOC_FAULT_QUEUE, a fault queue; else must be 0
 *	(it shares its place with the former @__reserved, so older sources still build)
 *
 * Errors: EINVAL argsz too small, @fault_queue_id not 0 without its flag or not a fault
 * queue, E2BIG, EFAULT, EOPNOTSUPP unknown @flags, ENOENT unknown queue, ENOMEM, ENOSPC
 * no free object ID.
 */
struct ioasid_ioas_alloc {
	__u32 argsz;
	__u32 flags;
	__u32 out_ioas_id;
	union {
		__u32 fault_queue_id;
		__u32 __reserved;
	};
};
#define IOASID_IOAS_ALLOC _IO(IOASID_TYPE, IOASID_CMD_IOAS_ALLOC)

/**
 * struct ioasid_iova_range - an inclusive range of IOVAs
 * @start: first IOVA
 * @last: last IOVA (inclusive)
 */
struct ioasid_iova_range {
	__aligned_u64 start;
	__aligned_u64 last;
};

/**
 * struct ioasid_ioas_iova_ranges - IOASID_IOAS_IOVA_RANGES argument
 * @argsz: sizeof(struct ioasid_ioas_iova_ranges)
 * @ioas_id: the address space
 * @num_ranges: in, how many struct ioasid_iova_range fit at @allowed_iovas;
 *              out, how many ranges there are
 * @__reserved: must be 0
 * @allowed_iovas: user pointer to an array of struct ioasid_iova_range
 * @out_iova_alignment: out, the alignment every IOVA and length must have
 *
 * Reports the IOVA ranges mappings may use, in increasing order: everything but what the
 * IOMMUs of attached devices reserve (e.g. the MSI window). When the array is too
 * small, the first @num_ranges (in) ranges are written, @num_ranges is set to the total
 * and the ioctl fails with EMSGSIZE.
 *
 * Errors: EINVAL argsz too small or @__reserved not 0, E2BIG, EFAULT, ENOENT unknown
 * @ioas_id, EMSGSIZE array too small.
 */
struct ioasid_ioas_iova_ranges {
	__u32 argsz;
	__u32 ioas_id;
	__u32 num_ranges;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
	__aligned_u64 out_iova_alignment;
};
#define IOASID_IOAS_IOVA_RANGES _IO(IOASID_TYPE, IOASID_CMD_IOAS_IOVA_RANGES)

/**
 * enum ioasid_ioas_map_flags - flags of struct ioasid_ioas_map
 * @IOASID_MAP_FIXED_IOVA: map at @iova exactly; otherwise the kernel picks the IOVA
 * @IOASID_MAP_READABLE: devices may read the memory
 * @IOASID_MAP_WRITEABLE: devices may write the memory
 */
enum ioasid_ioas_map_flags {
	IOASID_MAP_FIXED_IOVA = 1 << 0,
	IOASID_MAP_READABLE = 1 << 1,
	IOASID_MAP_WRITEABLE = 1 << 2,
};

/**
 * struct ioasid_ioas_map - IOASID_IOAS_MAP argument
 * @argsz: sizeof(struct ioasid_ioas_map)
 * @flags: enum ioasid_ioas_map_flags; READABLE, WRITEABLE or both
 * @ioas_id: the address space
 * @__reserved: must be 0
 * @user_va: start of the process memory to map
 * @length: bytes to map
 * @iova: in with IOASID_MAP_FIXED_IOVA, out otherwise: where the memory is mapped
 *
 * Pins the memory long-term and maps it. @user_va, @length and @iova are multiples of
 * the alignment IOASID_IOAS_IOVA_RANGES reports. Each page counts once against the
 * caller's RLIMIT_MEMLOCK however many address spaces of the context map it. Memory is
 * pinned writable only with IOASID_MAP_WRITEABLE. A kernel-picked IOVA is never 0.
 *
 * Errors: EINVAL argsz too small, @__reserved not 0, neither READABLE nor WRITEABLE,
 * zero or unaligned @length, @user_va or @iova; E2BIG; EFAULT bad argument pointer or
 * memory that cannot be pinned; EOPNOTSUPP unknown @flags; EOVERFLOW @user_va + @length
 * or @iova + @length past 2^64; ENOENT unknown @ioas_id; EEXIST the fixed range overlaps
 * a mapping; EADDRINUSE it overlaps a range reserved by an attached device's IOMMU;
 * ENOSPC no free range large enough; ENOMEM past RLIMIT_MEMLOCK or out of memory; EPERM
 * the caller is not the process the context charges: the one that opened it, or the
 * last to call IOASID_CHANGE_PROCESS.
 */
struct ioasid_ioas_map {
	__u32 argsz;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOASID_IOAS_MAP _IO(IOASID_TYPE, IOASID_CMD_IOAS_MAP)

/**
 * struct ioasid_ioas_unmap - IOASID_IOAS_UNMAP argument
 * @argsz: sizeof(struct ioasid_ioas_unmap)
 * @ioas_id: the address space
 * @iova: start of the range
 * @length: in, bytes in the range; out, bytes unmapped
 *
 * Unmaps and unpins every mapping inside the range. A mapping is removed whole: a range
 * that cuts through one fails with EINVAL and unmaps nothing. @iova 0 with @length
 * U64_MAX unmaps everything.
 *
 * Errors: EINVAL argsz too small, zero or unaligned @iova or @length, or a range that
 * cuts a mapping; E2BIG; EFAULT; EOVERFLOW @iova + @length past 2^64; ENOENT unknown
 * @ioas_id, or nothing mapped in the range.
 */
struct ioasid_ioas_unmap {
	__u32 argsz;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define IOASID_IOAS_UNMAP _IO(IOASID_TYPE, IOASID_CMD_IOAS_UNMAP)

/**
 * struct ioasid_device_attach - IOASID_DEVICE_ATTACH argument
 * @argsz: sizeof(struct ioasid_device_attach)
 * @flags: must be 0
 * @dev_id: a device its driver bound to this context
 * @ioas_id: the address space
 *
 * Attaches the device to the address space: from then on its DMA is translated by the
 * address space's mappings, all of them visible at once (including those made before),
 * and faults anywhere else. A device behind another, incompatible IOMMU gets a domain of
 * its own, filled from the existing mappings. The IOMMU group is the unit of isolation:
 * attaching one device of a group attaches the whole group (its other devices reach the
 * address space too), the group stays attached while any of its devices is, and all
 * devices of a group must be in the same address space.
 *
 * Errors: EINVAL argsz too small, or an ID of the wrong object type; E2BIG; EFAULT;
 * EOPNOTSUPP unknown @flags; ENOENT unknown ID; EBUSY the device is already attached, or
 * another device of its IOMMU group is attached to another address space; EADDRINUSE a
 * mapping overlaps a range the IOMMU reserves for any device of the group; ENOMEM.
 */
struct ioasid_device_attach {
	__u32 argsz;
	__u32 flags;
	__u32 dev_id;
	__u32 ioas_id;
};
#define IOASID_DEVICE_ATTACH _IO(IOASID_TYPE, IOASID_CMD_DEVICE_ATTACH)

/**
 * struct ioasid_device_detach - IOASID_DEVICE_DETACH argument
 * @argsz: sizeof(struct ioasid_device_detach)
 * @dev_id: an attached device
 *
 * Detaches the device: it can no longer reach any mapping; its DMA is blocked.
 *
 * Errors: EINVAL argsz too small, not a device, or not attached; E2BIG; EFAULT; ENOENT
 * unknown ID.
 */
struct ioasid_device_detach {
	__u32 argsz;
	__u32 dev_id;
};
#define IOASID_DEVICE_DETACH _IO(IOASID_TYPE, IOASID_CMD_DEVICE_DETACH)

/*
 * The DMA intents a driver declares for its device (enum ioasid_dma_intent of
 * include/linux/ioasid.h), as IOASID_DEVICE_GET_INFO reports them.
 */
enum ioasid_device_intent {
	IOASID_DEVICE_INTENT_RID = 1,
	IOASID_DEVICE_INTENT_PASID = 2,
	IOASID_DEVICE_INTENT_SW_TABLE = 3,
};

/**
 * enum ioasid_device_info_flags - out_flags of struct ioasid_device_info
 * @IOASID_DEVICE_INFO_GROUP_SHARED: other devices share this device's IOMMU group: the
 *	IOMMU cannot isolate them from each other, so they must share an address space
 *	(attaching one attaches the group; attaching another to a different address
 *	space is refused with EBUSY)
 * @IOASID_DEVICE_INFO_NESTING: the device's IOMMU driver offers nested domains
 * @IOASID_DEVICE_INFO_MSI_ISOLATED: the platform isolates the MSIs of every device of
 *	the device's IOMMU group (interrupt remapping, or an MSI controller that checks the
 *	sender): a DMA write to the MSI doorbell cannot raise another device's interrupt.
 *	Without it, binding the device needed the administrator's
 *	ioasid.allow_unsafe_interrupts=1 (see "Interrupt isolation")
 * @IOASID_DEVICE_INFO_ENFORCE_COHERENCY: the device's IOMMU can force its DMA to snoop
 *	the CPU caches (IOMMU_CAP_ENFORCE_CACHE_COHERENCY), so it can be attached to
 *	IOASID_IOAS_ALLOC_COHERENT address spaces. Without it, the device may issue
 *	no-snoop DMA that bypasses the caches
 * @IOASID_DEVICE_INFO_DIRTY_TRACKING: the device's IOMMU records the pages the device
 *	writes (IOMMU_CAP_DIRTY_TRACKING), so it can be attached to address spaces that
 *	track dirty pages. Software-table devices are tracked by ioasid and have it too
 * @IOASID_DEVICE_INFO_SW_NESTING: ioasid translates user-owned stage-1 tables for the
 *	device in software (a shadow of the composed translation in a paging domain of the
 *	device's IOMMU), in the formats of its IOASID_INFO_CAP_SW_NESTING capability
 */
enum ioasid_device_info_flags {
	IOASID_DEVICE_INFO_GROUP_SHARED = 1 << 0,
	IOASID_DEVICE_INFO_NESTING = 1 << 1,
	IOASID_DEVICE_INFO_MSI_ISOLATED = 1 << 2,
	IOASID_DEVICE_INFO_ENFORCE_COHERENCY = 1 << 3,
	IOASID_DEVICE_INFO_DIRTY_TRACKING = 1 << 4,
	IOASID_DEVICE_INFO_SW_NESTING = 1 << 5,
};

/**
 * struct ioasid_device_info - IOASID_DEVICE_GET_INFO argument
 * @argsz: sizeof(struct ioasid_device_info)
 * @dev_id: a device bound to this context
 * @flags: must be 0
 * @out_intent: the enum ioasid_device_intent its driver declared
 * @out_flags: enum ioasid_device_info_flags
 * @out_group_devices: how many devices its IOMMU group has (itself included)
 * @out_pgsize_bitmap: the page sizes its IOMMU maps (bit n: 2^n bytes)
 * @out_addr_width: how many IOVA bits its IOMMU translates
 * @out_pasid_width: how many PASID bits the device and its IOMMU support (0: none)
 * @num_reserved: in, how many struct ioasid_iova_range fit at @reserved_iovas; out,
 *	how many ranges its IOMMU reserves
 * @__reserved: must be 0
 * @reserved_iovas: user pointer to an array of struct ioasid_iova_range
 * @caps_len: (since size 72) in, the size of the buffer at @caps; out, the size of the
 *	device's capability chain
 * @__reserved2: must be 0
 * @caps: (since size 72) user pointer to a buffer for the capability chain: a list of
 *	capabilities, each beginning with a struct ioasid_info_cap_header
 *
 * Reports what userspace needs to know to use the device well. When the array (or the
 * capability buffer) is too small, what fits is written (nothing, for the capability
 * buffer), @num_reserved (@caps_len) is set to what is needed, and the ioctl fails
 * with EMSGSIZE. With @caps 0, only @caps_len is set.
 *
 * Errors: EINVAL argsz too small, @__reserved not 0, or @dev_id not a device; E2BIG;
 * EFAULT; EOPNOTSUPP unknown @flags; ENOENT unknown @dev_id; EMSGSIZE array too small;
 * ENOMEM.
 */
struct ioasid_device_info {
	__u32 argsz;
	__u32 dev_id;
	__u32 flags;
	__u32 out_intent;
	__u32 out_flags;
	__u32 out_group_devices;
	__aligned_u64 out_pgsize_bitmap;
	__u32 out_addr_width;
	__u32 out_pasid_width;
	__u32 num_reserved;
	__u32 __reserved;
	__aligned_u64 reserved_iovas;
	__u32 caps_len;
	__u32 __reserved2;
	__aligned_u64 caps;
};

/**
 * struct ioasid_info_cap_header - the header of a capability in an info chain
 * @id: which capability (IOASID_INFO_CAP_*): unknown IDs are to be skipped
 * @version: the version of that capability's layout
 * @next: offset of the next capability from the start of the buffer; 0: the last one
 */
struct ioasid_info_cap_header {
	__u16 id;
	__u16 version;
	__u32 next;
};

/* The nesting capability: struct ioasid_info_cap_nesting. */
#define IOASID_INFO_CAP_NESTING 1

/**
 * struct ioasid_info_nesting_format - a table format an IOMMU takes
 * @format: enum ioasid_table_format
 * @versions: bitmap of the struct ioasid_bind_table versions it takes (bit n: version n)
 */
struct ioasid_info_nesting_format {
	__u32 format;
	__u32 versions;
};

/**
 * struct ioasid_info_cap_nesting - IOASID_INFO_CAP_NESTING, version 1
 * @header: id IOASID_INFO_CAP_NESTING, version 1
 * @num_formats: how many struct ioasid_info_nesting_format follow this struct: the
 *	formats of user-owned stage-1 tables the device's IOMMU takes
 * @__reserved: 0
 *
 * Present only when the device's IOMMU offers nesting (IOASID_DEVICE_INFO_NESTING).
 */
struct ioasid_info_cap_nesting {
	struct ioasid_info_cap_header header;
	__u32 num_formats;
	__u32 __reserved;
};

/*
 * The software nesting capability, version 1: the same layout as struct
 * ioasid_info_cap_nesting (id IOASID_INFO_CAP_SW_NESTING), listing the table formats
 * ioasid walks in software for the device. A format the IOMMU takes in hardware is
 * listed in IOASID_INFO_CAP_NESTING only, and binds in hardware. Present only with
 * IOASID_DEVICE_INFO_SW_NESTING.
 */
#define IOASID_INFO_CAP_SW_NESTING 2
#define IOASID_DEVICE_GET_INFO _IO(IOASID_TYPE, IOASID_CMD_DEVICE_GET_INFO)

/* PASIDs are 20 bits wide (PCIe); PASID 0 is never handed out (it tags no-PASID DMA). */
#define IOASID_PASID_WIDTH_MAX 20

/**
 * struct ioasid_pasid_ns_alloc - IOASID_PASID_NS_ALLOC argument
 * @argsz: sizeof(struct ioasid_pasid_ns_alloc)
 * @flags: must be 0
 * @out_ns_id: out, the ID of the new, empty PASID namespace
 * @__reserved: must be 0
 *
 * A PASID namespace holds PASIDs shared by the devices of a context: they are allocated
 * and freed on the namespace, not per device. IOASID_DESTROY destroys it and frees every
 * PASID in it (EBUSY while one is attached).
 *
 * Errors: EINVAL argsz too small or @__reserved not 0, E2BIG, EFAULT, EOPNOTSUPP unknown
 * @flags, ENOMEM, ENOSPC no free object ID.
 */
struct ioasid_pasid_ns_alloc {
	__u32 argsz;
	__u32 flags;
	__u32 out_ns_id;
	__u32 __reserved;
};
#define IOASID_PASID_NS_ALLOC _IO(IOASID_TYPE, IOASID_CMD_PASID_NS_ALLOC)

/**
 * enum ioasid_pasid_alloc_flags - flags of struct ioasid_pasid_alloc
 * @IOASID_PASID_ALLOC_VPASID: the user names the PASID (@vpasid, e.g. the one a guest
 *	chose): the kernel maps it to the PASID it allocates. Without it, the PASID the
 *	user uses is the one the kernel allocated (vPASID == pPASID).
 */
enum ioasid_pasid_alloc_flags {
	IOASID_PASID_ALLOC_VPASID = 1 << 0,
};

/**
 * struct ioasid_pasid_alloc - IOASID_PASID_ALLOC argument
 * @argsz: sizeof(struct ioasid_pasid_alloc)
 * @flags: enum ioasid_pasid_alloc_flags
 * @ns_id: the PASID namespace
 * @dev_id: a PASID-capable device of this context; the PASID fits its PASID width
 * @vpasid: with IOASID_PASID_ALLOC_VPASID, the user's PASID: 1 to 2^20 - 1, not yet in
 *	the namespace; else must be 0
 * @out_pasid: out, the PASID the user names it by in this namespace (@vpasid, or the
 *	allocated PASID)
 *
 * Allocates a physical PASID (pPASID) from the IOMMU core's global PASID allocator, the
 * one the kernel's own SVA users take theirs from, so PASIDs never collide across
 * namespaces, contexts, processes or with the kernel. Every PASID counts against its
 * user's quota (the module parameter ioasid.pasid_quota, default 1024 per user ID).
 *
 * Errors: EINVAL argsz too small, wrong object types, or a bad @vpasid; E2BIG; EFAULT;
 * EOPNOTSUPP unknown @flags, or the device has no PASID capability; ENOENT unknown ID;
 * EEXIST @vpasid is already in the namespace; EDQUOT the user has used up the quota;
 * ENOSPC no free PASID within the device's width; ENOMEM.
 */
struct ioasid_pasid_alloc {
	__u32 argsz;
	__u32 flags;
	__u32 ns_id;
	__u32 dev_id;
	__u32 vpasid;
	__u32 out_pasid;
};
#define IOASID_PASID_ALLOC _IO(IOASID_TYPE, IOASID_CMD_PASID_ALLOC)

/**
 * struct ioasid_pasid_free - IOASID_PASID_FREE argument
 * @argsz: sizeof(struct ioasid_pasid_free)
 * @ns_id: the PASID namespace
 * @pasid: a PASID of the namespace, as IOASID_PASID_ALLOC returned it
 * @__reserved: must be 0
 *
 * Returns the PASID to the global allocator and to the user's quota.
 *
 * Errors: EINVAL argsz too small, @__reserved not 0 or not a namespace; E2BIG; EFAULT;
 * ENOENT unknown namespace, or @pasid not in it (e.g. freed already); EBUSY the PASID
 * is attached to a device (detach it first).
 */
struct ioasid_pasid_free {
	__u32 argsz;
	__u32 ns_id;
	__u32 pasid;
	__u32 __reserved;
};
#define IOASID_PASID_FREE _IO(IOASID_TYPE, IOASID_CMD_PASID_FREE)

/**
 * enum ioasid_device_pasid_attach_flags - flags of struct ioasid_device_pasid_attach
 * @IOASID_PASID_ATTACH_REPLACE: if (device, PASID) is attached, move it to @ioas_id in
 *	one step (DMA tagged with the PASID never sees a blocked window)
 */
enum ioasid_device_pasid_attach_flags {
	IOASID_PASID_ATTACH_REPLACE = 1 << 0,
};

/**
 * struct ioasid_device_pasid_attach - IOASID_DEVICE_PASID_ATTACH argument
 * @argsz: sizeof(struct ioasid_device_pasid_attach)
 * @flags: enum ioasid_device_pasid_attach_flags
 * @dev_id: a PASID-capable device of this context
 * @ns_id: the PASID namespace
 * @pasid: a PASID of the namespace (its name there)
 * @ioas_id: the address space
 *
 * DMA the device tags with the PASID is translated by the address space (its physical
 * PASID is what the device uses; see IOASID_PASID_ALLOC). The device's requester-ID
 * attachment is independent of its PASID attachments.
 *
 * Errors: EINVAL argsz too small, wrong object types, or the physical PASID is beyond
 * the device's PASID width; E2BIG; EFAULT; EOPNOTSUPP unknown @flags, or the device has
 * no PASID capability; ENOENT unknown ID, or @pasid not in the namespace; EBUSY (device,
 * PASID) is attached and IOASID_PASID_ATTACH_REPLACE was not given; EADDRINUSE a mapping
 * overlaps a range the IOMMU reserves; ENOMEM.
 */
struct ioasid_device_pasid_attach {
	__u32 argsz;
	__u32 flags;
	__u32 dev_id;
	__u32 ns_id;
	__u32 pasid;
	__u32 ioas_id;
};
#define IOASID_DEVICE_PASID_ATTACH _IO(IOASID_TYPE, IOASID_CMD_DEVICE_PASID_ATTACH)

/**
 * struct ioasid_device_pasid_detach - IOASID_DEVICE_PASID_DETACH argument
 * @argsz: sizeof(struct ioasid_device_pasid_detach)
 * @dev_id: the device
 * @ns_id: the PASID namespace
 * @pasid: a PASID of the namespace attached for the device
 *
 * DMA the device tags with the PASID is blocked again.
 *
 * Errors: EINVAL argsz too small, wrong object types, or (device, PASID) not attached;
 * E2BIG; EFAULT; ENOENT unknown ID or PASID.
 */
struct ioasid_device_pasid_detach {
	__u32 argsz;
	__u32 dev_id;
	__u32 ns_id;
	__u32 pasid;
};
#define IOASID_DEVICE_PASID_DETACH _IO(IOASID_TYPE, IOASID_CMD_DEVICE_PASID_DETACH)

/*
 * Nested translation: a child address space whose stage-1 page tables are owned by
 * userspace (a guest), on a parent address space (kernel-managed stage 2: GPA -> HPA).
 */

/**
 * enum ioasid_table_format - formats of user-owned stage-1 page tables
 * @IOASID_FORMAT_VTD_S1: Intel VT-d first-stage table (struct ioasid_table_vtd)
 * @IOASID_FORMAT_ARM_SMMUV3: Arm SMMUv3 stream table entry pointing at a context
 *	descriptor table (struct ioasid_table_smmuv3): the guest's whole PASID table
 * @IOASID_FORMAT_AMD_V2: AMD v2 guest table via a device table entry
 *	(struct ioasid_table_amd): the guest's whole PASID (GCR3) table
 * @IOASID_FORMAT_MOCK: the test-only mock IOMMU's stage-1 table (struct
 *	ioasid_table_mock), for CONFIG_IOASID_TEST kernels
 * @IOASID_FORMAT_MOCK_PASID_TABLE: the mock IOMMU's guest-owned PASID table (struct
 *	ioasid_table_mock_pasid), bound for the requester ID, as on Arm SMMUv3 and AMD
 *
 * The vendor structs are laid out as the kernel's IOMMU drivers take them.
 */
enum ioasid_table_format {
	IOASID_FORMAT_VTD_S1 = 1,
	IOASID_FORMAT_ARM_SMMUV3 = 2,
	IOASID_FORMAT_AMD_V2 = 3,
	IOASID_FORMAT_MOCK = 0xbb01,
	IOASID_FORMAT_MOCK_PASID_TABLE = 0xbb02,
};

/**
 * enum ioasid_nested_alloc_flags - flags of struct ioasid_nested_alloc
 * @IOASID_NESTED_ALLOC_FAULT_QUEUE: page requests that the tables bound to the child
 *	do not resolve go to the fault queue @fault_queue_id (a field that was __reserved
 *	before this flag)
 */
enum ioasid_nested_alloc_flags {
	IOASID_NESTED_ALLOC_FAULT_QUEUE = 1 << 0,
};

/**
 * struct ioasid_nested_alloc - IOASID_NESTED_ALLOC argument
 * @argsz: sizeof(struct ioasid_nested_alloc)
 * @flags: enum ioasid_nested_alloc_flags
 * @parent_id: the parent address space (stage 2)
 * @format: enum ioasid_table_format of the tables that will be bound
 * @out_child_id: out, the ID of the new child address space
 * @fault_queue_id: with IOASID_NESTED_ALLOC_FAULT_QUEUE, a fault queue; else must be 0
 *	(it shares its place with the former @__reserved, so older sources still build)
 *
 * The parent cannot be destroyed while it has children; the child is destroyed with
 * IOASID_DESTROY once no table is bound to it.
 *
 * Errors: EINVAL argsz too small, @parent_id not an address space (e.g. a child),
 * @fault_queue_id not 0 without its flag or not a fault queue; E2BIG; EFAULT; EOPNOTSUPP
 * unknown @flags or @format; ENOENT unknown ID; ENOMEM; ENOSPC.
 */
struct ioasid_nested_alloc {
	__u32 argsz;
	__u32 flags;
	__u32 parent_id;
	__u32 format;
	__u32 out_child_id;
	union {
		__u32 fault_queue_id;
		__u32 __reserved;
	};
};
#define IOASID_NESTED_ALLOC _IO(IOASID_TYPE, IOASID_CMD_NESTED_ALLOC)

/*
 * IOASID_FORMAT_VTD_S1 (struct iommu_hwpt_vtd_s1 of the VT-d driver): @pgtbl_addr is the
 * guest physical address of the first-stage table's root, @addr_width 48 (4-level) or
 * 57 (5-level). In software (IOASID_INFO_CAP_SW_NESTING), @flags must be 0 (DMA is
 * translated as user-privileged requests, without SRE, EAFE or WPE).
 */
struct ioasid_table_vtd {
	__aligned_u64 flags;
	__aligned_u64 pgtbl_addr;
	__u32 addr_width;
	__u32 __reserved;
};

/**
 * struct ioasid_inval_vtd - an IOASID_FORMAT_VTD_S1 invalidation request (the layout of
 *	struct iommu_hwpt_vtd_s1_invalidate)
 * @addr: start of the stage-1 range, 4 KiB aligned
 * @npages: its length in 4 KiB pages, not 0; U64_MAX (with @addr 0): everything
 * @flags: IOASID_INVAL_VTD_LEAF: only leaf entries changed (a hint)
 * @__reserved: must be 0
 */
struct ioasid_inval_vtd {
	__aligned_u64 addr;
	__aligned_u64 npages;
	__u32 flags;
	__u32 __reserved;
};
#define IOASID_INVAL_VTD_LEAF (1 << 0)

/* IOASID_FORMAT_ARM_SMMUV3: the guest's stream table entry. */
struct ioasid_table_smmuv3 {
	__aligned_u64 ste[2];
};

/* IOASID_FORMAT_AMD_V2: the guest's device table entry. */
struct ioasid_table_amd {
	__aligned_u64 dte[4];
};

/**
 * struct ioasid_table_mock - IOASID_FORMAT_MOCK stage-1 table
 * @table: parent IOVA (guest physical address) of the table, 4 KiB aligned, mapped in
 *	the parent
 * @flags: must be 0
 * @__reserved: must be 0
 *
 * The table is one 4 KiB page of 512 little-endian 64-bit entries: entry i translates
 * the stage-1 IOVA page i (IOVAs 0 to 2 MiB - 1): bit 0 present, bit 1 writable, bits
 * 63..12 the parent IOVA of the page. The mock IOMMU reads entries through the parent
 * (stage 2) when it translates, and may cache them in its IOTLB until invalidated.
 */
struct ioasid_table_mock {
	__aligned_u64 table;
	__u32 flags;
	__u32 __reserved;
};

/**
 * struct ioasid_table_mock_pasid - IOASID_FORMAT_MOCK_PASID_TABLE: a whole PASID table
 * @table: parent IOVA (guest physical address) of the PASID table, 4 KiB aligned,
 *	mapped in the parent
 * @flags: must be 0
 * @__reserved: must be 0
 *
 * The PASID table is 64 little-endian 64-bit entries: entry p (bit 0 present, bits
 * 63..12 a guest physical address) points at the stage-1 table (IOASID_FORMAT_MOCK
 * layout) of PASID p; entry 0 serves DMA without a PASID. Bound once for the device's
 * requester ID, it translates every PASID the device tags: the guest owns the PASID
 * space, as with the SMMUv3 context descriptor table or the AMD GCR3 table.
 */
struct ioasid_table_mock_pasid {
	__aligned_u64 table;
	__u32 flags;
	__u32 __reserved;
};

/* Versions of struct ioasid_bind_table's common fields. */
#define IOASID_BIND_VERSION_1 1

/**
 * enum ioasid_bind_flags - flags of struct ioasid_bind_table (version 1)
 * @IOASID_BIND_PASID: bind the table for (device, @pasid of @ns_id); without it, for
 *	the device's requester-ID DMA
 */
enum ioasid_bind_flags {
	IOASID_BIND_PASID = 1 << 0,
};

/**
 * struct ioasid_bind_table - IOASID_BIND_TABLE argument (version 1)
 * @argsz: the size userspace passes, at least up to the end of @table's member for
 *	@format
 * @version: IOASID_BIND_VERSION_1; it covers the common fields (all but @table)
 * @flags: enum ioasid_bind_flags
 * @format: enum ioasid_table_format; must be the child's format; selects @table's member
 * @child_id: the child address space
 * @dev_id: the device
 * @ns_id: with IOASID_BIND_PASID, the PASID namespace; else must be 0
 * @pasid: with IOASID_BIND_PASID, the PASID (its name in @ns_id); else must be 0
 * @table: the table, in the member @format selects
 *
 * Binds a user-owned stage-1 table: DMA from the device (or with the PASID) is
 * translated by the table, then by the parent. The device (or PASID) must not be
 * attached otherwise. Evolution rules: Documentation/userspace-api/ioasid.rst.
 *
 * Errors: EINVAL argsz too small for @format, wrong object types (e.g. @child_id not a
 * child), @format not the child's, a misaligned table, or a bad field of @table; E2BIG
 * non-zero bytes past what this kernel knows; EFAULT; EPROTONOSUPPORT unknown @version;
 * EOPNOTSUPP unknown @flags, or the device's IOMMU does not take @format; ENOENT unknown
 * ID or PASID; EBUSY the device (or PASID) is attached or bound already; ENXIO the
 * table is not mapped in the parent; ENOMEM. In software (IOASID_INFO_CAP_SW_NESTING):
 * ENOSPC the table needs more shadow entries (or table reads) than the module parameter
 * ioasid.max_shadow_entries allows; EINTR a signal arrived during the walk.
 */
struct ioasid_bind_table {
	__u32 argsz;
	__u32 version;
	__u32 flags;
	__u32 format;
	__u32 child_id;
	__u32 dev_id;
	__u32 ns_id;
	__u32 pasid;
	union {
		struct ioasid_table_vtd vtd;
		struct ioasid_table_smmuv3 smmuv3;
		struct ioasid_table_amd amd;
		struct ioasid_table_mock mock;
		struct ioasid_table_mock_pasid mock_pasid;
	} table;
};
#define IOASID_BIND_TABLE _IO(IOASID_TYPE, IOASID_CMD_BIND_TABLE)

/**
 * struct ioasid_unbind_table - IOASID_UNBIND_TABLE argument
 * @argsz: sizeof(struct ioasid_unbind_table)
 * @flags: IOASID_BIND_PASID, as for the bind
 * @child_id: the child address space
 * @dev_id: the device
 * @ns_id: with IOASID_BIND_PASID, the PASID namespace; else must be 0
 * @pasid: with IOASID_BIND_PASID, the PASID; else must be 0
 *
 * The device (or PASID) reaches nothing afterwards; its cached translations are gone.
 *
 * Errors: EINVAL argsz too small, wrong object types, not bound; E2BIG; EFAULT;
 * EOPNOTSUPP unknown @flags; ENOENT unknown ID.
 */
struct ioasid_unbind_table {
	__u32 argsz;
	__u32 flags;
	__u32 child_id;
	__u32 dev_id;
	__u32 ns_id;
	__u32 pasid;
};
#define IOASID_UNBIND_TABLE _IO(IOASID_TYPE, IOASID_CMD_UNBIND_TABLE)

/**
 * struct ioasid_inval_mock - an IOASID_FORMAT_MOCK(_PASID_TABLE) invalidation request
 * @flags: IOASID_INVAL_MOCK_ALL: everything the table's IOTLB holds; else the range;
 *	IOASID_INVAL_MOCK_PASID: only what was cached for @pasid (PASID tables)
 * @pasid: with IOASID_INVAL_MOCK_PASID, the PASID; else must be 0 (the field was
 *	__reserved before that flag)
 * @iova: start of the stage-1 range, 4 KiB aligned
 * @size: its size in bytes, a multiple of 4 KiB, not 0, @iova + @size not past 2^64
 */
struct ioasid_inval_mock {
	__u32 flags;
	union {
		__u32 pasid;
		__u32 __reserved;
	};
	__aligned_u64 iova;
	__aligned_u64 size;
};
#define IOASID_INVAL_MOCK_ALL (1 << 0)
#define IOASID_INVAL_MOCK_PASID (1 << 1)

/**
 * enum ioasid_invalidate_flags - flags of struct ioasid_cache_invalidate
 * @IOASID_INVALIDATE_DEVICE: only the tables bound for @dev_id
 * @IOASID_INVALIDATE_PASID: only the tables bound for (any device, @pasid of @ns_id)
 */
enum ioasid_invalidate_flags {
	IOASID_INVALIDATE_DEVICE = 1 << 0,
	IOASID_INVALIDATE_PASID = 1 << 1,
};

/**
 * struct ioasid_cache_invalidate - IOASID_CACHE_INVALIDATE argument
 * @argsz: sizeof(struct ioasid_cache_invalidate)
 * @flags: enum ioasid_invalidate_flags; none: every table bound to the child
 * @child_id: the child address space
 * @dev_id: with IOASID_INVALIDATE_DEVICE, the device; else must be 0
 * @ns_id: with IOASID_INVALIDATE_PASID, the PASID namespace; else must be 0
 * @pasid: with IOASID_INVALIDATE_PASID, the PASID; else must be 0
 * @entry_len: size of one request, in the child's format (e.g. struct
 *	ioasid_inval_mock)
 * @entry_num: in, how many requests @entries holds; out, how many were carried out on
 *	every selected table (all of them, unless one failed: the failing one is at that
 *	index)
 * @entries: user pointer to the requests
 *
 * Invalidates the IOTLB entries the selected tables' translations left, after the user
 * changed the tables: all, per device, per PASID, per address range (in the request).
 *
 * Errors: EINVAL argsz too small, wrong object types, a bad request (then @entry_num
 * says where); E2BIG; EFAULT; EOPNOTSUPP unknown @flags or the IOMMU does not
 * invalidate this format; ENOENT unknown ID or PASID. For tables translated in software
 * each request rebuilds its range from the table: also ENOSPC, EINTR (as for
 * IOASID_BIND_TABLE) and ENOMEM, with @entry_num at the failing request.
 */
struct ioasid_cache_invalidate {
	__u32 argsz;
	__u32 flags;
	__u32 child_id;
	__u32 dev_id;
	__u32 ns_id;
	__u32 pasid;
	__u32 entry_len;
	__u32 entry_num;
	__aligned_u64 entries;
};
#define IOASID_CACHE_INVALIDATE _IO(IOASID_TYPE, IOASID_CMD_CACHE_INVALIDATE)

/*
 * I/O page fault queues: page requests of devices, delivered to userspace through a file
 * descriptor (read), answered through it (write).
 */

/* Most fault groups a queue holds unanswered; more are answered FAILURE at once. */
#define IOASID_FAULT_QUEUE_DEPTH 256

/**
 * enum ioasid_fault_queue_flags - flags of struct ioasid_fault_queue_alloc
 * @IOASID_FAULT_QUEUE_EVENTFD: signal @eventfd whenever faults arrive
 */
enum ioasid_fault_queue_flags {
	IOASID_FAULT_QUEUE_EVENTFD = 1 << 0,
};

/**
 * struct ioasid_fault_queue_alloc - IOASID_FAULT_QUEUE_ALLOC argument
 * @argsz: sizeof(struct ioasid_fault_queue_alloc)
 * @flags: enum ioasid_fault_queue_flags
 * @eventfd: with IOASID_FAULT_QUEUE_EVENTFD, an eventfd; else must be 0
 * @out_queue_id: out, the queue's ID (for IOASID_IOAS_ALLOC and IOASID_NESTED_ALLOC)
 * @out_fd: out, the queue's file descriptor (O_CLOEXEC; O_NONBLOCK with fcntl)
 *
 * read() gives whole struct ioasid_fault records; write() takes whole struct
 * ioasid_fault_response; poll() says POLLIN when records wait. Closing the file answers
 * every pending fault INVALID and refuses later ones (answered FAILURE by the core).
 *
 * Errors: EINVAL argsz too small, @eventfd without its flag; E2BIG; EFAULT; EOPNOTSUPP
 * unknown @flags; EBADF @eventfd is not an open fd, EINVAL not an eventfd; EMFILE;
 * ENOMEM; ENOSPC.
 */
struct ioasid_fault_queue_alloc {
	__u32 argsz;
	__u32 flags;
	__s32 eventfd;
	__u32 out_queue_id;
	__s32 out_fd;
	__u32 __reserved;
};
#define IOASID_FAULT_QUEUE_ALLOC _IO(IOASID_TYPE, IOASID_CMD_FAULT_QUEUE_ALLOC)

/**
 * struct ioasid_fault_queue_status - IOASID_FAULT_QUEUE_STATUS argument
 * @argsz: sizeof(struct ioasid_fault_queue_status)
 * @queue_id: the fault queue
 * @out_unread: records waiting to be read
 * @out_pending: fault groups delivered and not yet answered
 * @__reserved: must be 0
 * @out_overflows: fault groups refused (answered FAILURE) because @out_pending was
 *	IOASID_FAULT_QUEUE_DEPTH, since the queue was made
 *
 * Errors: EINVAL argsz too small, not a queue; E2BIG; EFAULT; ENOENT unknown ID.
 */
struct ioasid_fault_queue_status {
	__u32 argsz;
	__u32 queue_id;
	__u32 out_unread;
	__u32 out_pending;
	__u32 __reserved;
	__u32 __reserved2;
	__aligned_u64 out_overflows;
};
#define IOASID_FAULT_QUEUE_STATUS _IO(IOASID_TYPE, IOASID_CMD_FAULT_QUEUE_STATUS)

/**
 * struct ioasid_ioas_copy - IOASID_IOAS_COPY argument
 * @argsz: sizeof(struct ioasid_ioas_copy)
 * @flags: enum ioasid_ioas_map_flags: READABLE, WRITEABLE or both, and FIXED_IOVA
 * @dst_ioas_id: the address space the mappings are copied into
 * @src_ioas_id: the address space they are copied from (may be @dst_ioas_id)
 * @length: bytes of the source range
 * @src_iova: start of the source range
 * @dst_iova: in with IOASID_MAP_FIXED_IOVA, out otherwise: where the copy starts
 *
 * Maps, in @dst_ioas_id, the memory of every mapping inside the source range, at the
 * same offsets from @dst_iova as from @src_iova, without pinning or charging it again:
 * both address spaces then share the pins (the RFC's pre-registration: pin guest memory
 * once, map it into as many address spaces as the devices need). The source range is
 * made of whole mappings, as for IOASID_IOAS_UNMAP; gaps between them stay unmapped in
 * the copy, and the whole destination range must be free. Each copy is a mapping of
 * its own: unmapping the source leaves it intact, and the pages stay pinned (counted
 * once against RLIMIT_MEMLOCK) until the last mapping of them goes. A copy gives at
 * most the access of each source mapping, and WRITEABLE only if the memory was pinned
 * writable and its file (IOASID_IOAS_MAP_FILE) is not sealed against writes now.
 *
 * Errors: EINVAL argsz too small, neither READABLE nor WRITEABLE, zero or unaligned
 * @length, @src_iova or @dst_iova, or a source range that cuts a mapping; E2BIG;
 * EFAULT; EOPNOTSUPP unknown @flags; EOVERFLOW a range past 2^64; ENOENT unknown ID, or
 * nothing mapped in the source range; EACCES more access than a source mapping
 * gives, or WRITEABLE of memory pinned read-only or sealed; EEXIST / EADDRINUSE / ENOSPC as for IOASID_IOAS_MAP; ENOMEM; EPERM the
 * caller is not the process the context charges (see IOASID_CHANGE_PROCESS).
 */
struct ioasid_ioas_copy {
	__u32 argsz;
	__u32 flags;
	__u32 dst_ioas_id;
	__u32 src_ioas_id;
	__aligned_u64 length;
	__aligned_u64 src_iova;
	__aligned_u64 dst_iova;
};
#define IOASID_IOAS_COPY _IO(IOASID_TYPE, IOASID_CMD_IOAS_COPY)

/**
 * struct ioasid_ioas_map_file - IOASID_IOAS_MAP_FILE argument
 * @argsz: sizeof(struct ioasid_ioas_map_file)
 * @flags: enum ioasid_ioas_map_flags, as for IOASID_IOAS_MAP
 * @ioas_id: the address space
 * @fd: a memfd, or another shmem or hugetlbfs file
 * @start: byte offset in the file of the memory to map
 * @length: bytes to map
 * @iova: in with IOASID_MAP_FIXED_IOVA, out otherwise: where the memory is mapped
 *
 * IOASID_IOAS_MAP of a file's pages, found by offset: no mapping of the file in the
 * caller's memory is needed (a VMM can hand devices guest memory it never maps itself).
 * Holes in the file are filled (allocated) first. The pages are pinned, and charged,
 * as for IOASID_IOAS_MAP. @start and @length are multiples of the IOVA alignment; a
 * hugetlbfs file may be mapped at any such offset.
 *
 * The file's size and seals are checked when mapping: the range must lie inside the
 * file, READABLE needs a file open for reading, and WRITEABLE one open for writing and
 * sealed against neither writes nor future writes (F_SEAL_WRITE, F_SEAL_FUTURE_WRITE),
 * checked under the file's inode lock as its pages are pinned; once they are pinned
 * writable, F_SEAL_WRITE fails with EBUSY (the kernel waits for the pins).
 * A mapping keeps its pages whatever happens to the file later: truncating the file,
 * or punching a hole, takes the pages out of the file but not out of the address space;
 * devices reach them until they are unmapped, and only then are they freed.
 *
 * Errors: those of IOASID_IOAS_MAP, and EBADF @fd is not an open file; EINVAL the file
 * is not shmem or hugetlbfs, or the range goes past its end; EACCES the file's open mode
 * or seals forbid the access asked for.
 */
struct ioasid_ioas_map_file {
	__u32 argsz;
	__u32 flags;
	__u32 ioas_id;
	__s32 fd;
	__aligned_u64 start;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOASID_IOAS_MAP_FILE _IO(IOASID_TYPE, IOASID_CMD_IOAS_MAP_FILE)

/**
 * struct ioasid_change_process - IOASID_CHANGE_PROCESS argument
 * @argsz: sizeof(struct ioasid_change_process)
 * @flags: must be 0
 * @out_pages: out, the pages now charged to the caller
 *
 * Makes the calling process the one the context pins memory for and charges: the
 * live-update step of a VMM that received the /dev/ioasid fd (SCM_RIGHTS, or across
 * exec). Every page the context pins moves, in one step, from the locked memory of
 * the previous process (its VmPin and its user's RLIMIT_MEMLOCK count) to the caller's;
 * mappings and DMA are not touched, so devices keep running. Mappings of the previous
 * process's memory stay pinned and mapped (they no longer depend on that process).
 * When both processes belong to the same user, that user's count does not change.
 *
 * Until this call, IOASID_IOAS_MAP, IOASID_IOAS_MAP_FILE and IOASID_IOAS_COPY from any
 * process other than the charged one fail with EPERM (after fork, after exec, or with
 * a passed fd), so that no pin is ever charged to a process that did not make it; the
 * other ioctls work from any process holding the fd. Calling it from the charged
 * process changes nothing.
 *
 * Errors: EINVAL argsz too small; E2BIG; EFAULT; EOPNOTSUPP unknown @flags; ENOMEM the
 * pages do not fit in the caller's RLIMIT_MEMLOCK (nothing changes).
 */
struct ioasid_change_process {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 out_pages;
};
#define IOASID_CHANGE_PROCESS _IO(IOASID_TYPE, IOASID_CMD_CHANGE_PROCESS)

/**
 * enum ioasid_dirty_tracking_flags - flags of struct ioasid_ioas_set_dirty_tracking
 * @IOASID_DIRTY_TRACKING_ENABLE: start tracking (without it: stop)
 */
enum ioasid_dirty_tracking_flags {
	IOASID_DIRTY_TRACKING_ENABLE = 1 << 0,
};

/**
 * struct ioasid_ioas_set_dirty_tracking - IOASID_IOAS_SET_DIRTY_TRACKING argument
 * @argsz: sizeof(struct ioasid_ioas_set_dirty_tracking)
 * @flags: enum ioasid_dirty_tracking_flags
 * @ioas_id: the address space
 * @__reserved: must be 0
 *
 * Starts or stops recording which pages of the address space devices write. Starting
 * clears what was recorded before, so the first IOASID_IOAS_GET_DIRTY_BITMAP reports
 * only writes made since. An address space made without
 * IOASID_IOAS_ALLOC_DIRTY_TRACKING becomes one (with the same attach rules) when
 * tracking starts, which is possible only while no device is attached to it through
 * an IOMMU domain. Devices attached later get domains that track from the start.
 * Starting twice, or stopping when not tracking, changes nothing.
 *
 * Errors: EINVAL argsz too small, @__reserved not 0; E2BIG; EFAULT; EOPNOTSUPP unknown
 * @flags, or a device is attached through an IOMMU domain that cannot track; ENOENT
 * unknown @ioas_id; errors of the IOMMU driver.
 */
struct ioasid_ioas_set_dirty_tracking {
	__u32 argsz;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
};
#define IOASID_IOAS_SET_DIRTY_TRACKING _IO(IOASID_TYPE, IOASID_CMD_IOAS_SET_DIRTY_TRACKING)

/**
 * enum ioasid_dirty_bitmap_flags - flags of struct ioasid_ioas_get_dirty_bitmap
 * @IOASID_DIRTY_BITMAP_NO_CLEAR: report the dirty pages but leave them dirty
 */
enum ioasid_dirty_bitmap_flags {
	IOASID_DIRTY_BITMAP_NO_CLEAR = 1 << 0,
};

/**
 * struct ioasid_ioas_get_dirty_bitmap - IOASID_IOAS_GET_DIRTY_BITMAP argument
 * @argsz: sizeof(struct ioasid_ioas_get_dirty_bitmap)
 * @flags: enum ioasid_dirty_bitmap_flags
 * @ioas_id: the address space, tracking dirty pages
 * @__reserved: must be 0
 * @iova: start of the range
 * @length: bytes in the range
 * @page_size: what one bit stands for: a power of two, at least the IOVA alignment
 * @data: user address of the bitmap, 8-byte aligned: bit n of 64-bit word n / 64 is
 *	the page at @iova + n * @page_size; DIV_ROUND_UP(@length / @page_size, 64) words
 *
 * Writes the bitmap of the pages of the range that devices wrote since tracking started
 * or since the last read of them, and (without IOASID_DIRTY_BITMAP_NO_CLEAR) clears
 * them, with the IOTLB flushed so that the next write is recorded again. The kernel
 * zeroes the bitmap first; a bit is set if any byte of its page was written, whatever
 * the size of the IOMMU page that maps it (a written 2 MiB IOMMU page sets all of its
 * bits at a 4 KiB @page_size). Unmapped parts of the range read as clean. Pages that
 * software-table devices write (ioasid_access_rw()) are recorded by ioasid.
 *
 * IOMMUs report a written IOMMU page whole: an end of the range that falls inside a
 * mapping must be aligned to the largest IOMMU page size of the attached devices
 * (IOASID_DEVICE_GET_INFO out_pgsize_bitmap); ends at or between mappings always fit.
 * After an error of the IOMMU driver, take the whole range as dirty. A bitmap that
 * another thread unmaps during the call loses the bits it would have held.
 *
 * Errors: EINVAL argsz too small, @__reserved not 0, tracking is not started, zero
 * @length, a @page_size that is not a power of two or below the IOVA alignment, @iova
 * or @length not a multiple of @page_size, an end that cuts a mapping unaligned,
 * @data not 8-byte aligned; E2BIG; EFAULT the argument or the bitmap; EINTR a signal
 * while zeroing a large bitmap; EOPNOTSUPP unknown @flags; EOVERFLOW @iova + @length
 * past 2^64; ENOENT unknown @ioas_id; ENOMEM; errors of the IOMMU driver.
 */
struct ioasid_ioas_get_dirty_bitmap {
	__u32 argsz;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 iova;
	__aligned_u64 length;
	__aligned_u64 page_size;
	__aligned_u64 data;
};
#define IOASID_IOAS_GET_DIRTY_BITMAP _IO(IOASID_TYPE, IOASID_CMD_IOAS_GET_DIRTY_BITMAP)

/**
 * enum ioasid_fault_flags - flags of struct ioasid_fault
 * @IOASID_FAULT_PASID_VALID: @pasid is valid
 * @IOASID_FAULT_LAST_PAGE: the last record of its group: answer the group (by @cookie)
 */
enum ioasid_fault_flags {
	IOASID_FAULT_PASID_VALID = 1 << 0,
	IOASID_FAULT_LAST_PAGE = 1 << 1,
};

/* Access a fault asks for. */
enum ioasid_fault_perm {
	IOASID_FAULT_PERM_READ = 1 << 0,
	IOASID_FAULT_PERM_WRITE = 1 << 1,
	IOASID_FAULT_PERM_EXEC = 1 << 2,
	IOASID_FAULT_PERM_PRIV = 1 << 3,
};

/**
 * struct ioasid_fault - a record read from a fault queue
 * @flags: enum ioasid_fault_flags
 * @ioas_id: the address space (or child address space) the fault is in
 * @dev_id: the device
 * @pasid: the PASID as the device tagged it (physical PASID), if PASID_VALID
 * @grpid: the device's page request group index
 * @perm: enum ioasid_fault_perm
 * @addr: the faulting address, page aligned
 * @cookie: names the group in responses; the same for every record of a group
 * @__reserved: 0
 */
struct ioasid_fault {
	__u32 flags;
	__u32 ioas_id;
	__u32 dev_id;
	__u32 pasid;
	__u32 grpid;
	__u32 perm;
	__aligned_u64 addr;
	__u32 cookie;
	__u32 __reserved;
};

/* Response codes (those of PCIe page request group responses). */
enum ioasid_fault_response_code {
	IOASID_FAULT_RESPONSE_SUCCESS = 0,
	IOASID_FAULT_RESPONSE_INVALID = 1,
	IOASID_FAULT_RESPONSE_FAILURE = 2,
};

/**
 * struct ioasid_fault_response - a response written to a fault queue
 * @cookie: the group's cookie
 * @code: enum ioasid_fault_response_code
 *
 * write() answers in order and stops at the first bad response: if none was taken it
 * fails with ENOENT (unknown or already answered cookie) or EINVAL (unknown code);
 * otherwise it returns the bytes of those taken. A size that is not a multiple of the
 * struct fails with EINVAL.
 */
struct ioasid_fault_response {
	__u32 cookie;
	__u32 code;
};

#endif /* _UAPI_LINUX_IOASID_H */
