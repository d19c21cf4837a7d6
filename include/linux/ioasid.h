/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel API of /dev/ioasid for device drivers.
 *
 * A driver that hands its device to userspace binds it to the user's ioasid context and
 * declares the DMA it will do; ioasid claims DMA ownership of the device from the IOMMU
 * core, and from then on userspace attaches the device to its address spaces through the
 * ioasid file descriptor, by the device ID this call returns.
 *
 * See Documentation/driver-api/ioasid.rst.
 */
#ifndef _LINUX_IOASID_H
#define _LINUX_IOASID_H

#include <linux/types.h>
#include <uapi/linux/ioasid.h>

struct device;
struct file;
struct ioasid_device;

/*
 * What DMA a bound device will do: it decides how ioasid sets up the IOMMU. The values
 * are those of enum ioasid_device_intent of the uAPI, which reports them to userspace.
 */
enum ioasid_dma_intent {
	/* Plain DMA tagged with the device's requester ID, through its own IOMMU. */
	IOASID_INTENT_RID = IOASID_DEVICE_INTENT_RID,
	/*
	 * PASID-tagged DMA through its own IOMMU (and requester-ID DMA): userspace
	 * allocates PASIDs in a PASID namespace and attaches (device, PASID) pairs.
	 */
	IOASID_INTENT_PASID = IOASID_DEVICE_INTENT_PASID,
	/* No IOMMU of its own: the driver reaches memory with ioasid_access_rw(). */
	IOASID_INTENT_SW_TABLE = IOASID_DEVICE_INTENT_SW_TABLE,
};

/*
 * Binds @dev to the ioasid context of @ioasid_file (which must be an open /dev/ioasid)
 * with the declared @intent, claims DMA ownership of @dev and stores its device ID,
 * unique in that context, in @out_id. The driver must have set driver_managed_dma. The
 * binding keeps the context alive until ioasid_unbind_device().
 *
 * A software-table device (IOASID_INTENT_SW_TABLE) needs no IOMMU and no DMA ownership:
 * it reaches its address space only through ioasid_access_rw().
 *
 * Returns the binding or an ERR_PTR: -EBADF not an ioasid file, -EINVAL unknown intent,
 * -ENODEV no IOMMU group, -EPERM/-EBUSY DMA ownership
 * held by another user or driver, -ENOMEM, -ENOSPC. Sleeps.
 */
struct ioasid_device *ioasid_bind_device(struct file *ioasid_file, struct device *dev,
					 u32 intent, u32 *out_id);

/*
 * Detaches the device from any address space, releases its DMA ownership, removes its
 * ID from the context and drops the reference on the context. Must be called, once, for
 * every successful ioasid_bind_device(), before the driver unbinds from @dev.
 */
void ioasid_unbind_device(struct ioasid_device *idev);

/*
 * For a device bound with IOASID_INTENT_SW_TABLE and attached to an address space:
 * copies @len bytes between @buf and the address space at @iova, reading it (@write
 * false) or writing it (@write true), through the CPU. An unmap of the range waits
 * until the copy is done; bytes copied before an error stay copied.
 *
 * Returns 0, -EINVAL the device is not a software-table device or not attached, or
 * -EFAULT a byte of the range is not mapped with the access asked for.
 */
int ioasid_access_rw(struct ioasid_device *idev, u64 iova, void *buf, size_t len,
		     bool write);

/*
 * For an in-kernel consumer of the user's PASIDs (e.g. a KVM_MAP_PASID-like interface
 * that lets a guest's ENQCMD use its vPASIDs): stores in @ppasid the physical PASID that
 * PASID @vpasid of PASID namespace @ns_id in the context of @ioasid_file stands for. The
 * answer is only valid while the PASID stays allocated; the caller must not cache it
 * past the user's IOASID_PASID_FREE.
 *
 * Returns 0, -EBADF not an ioasid file, -ENOENT no such namespace or PASID, -EINVAL
 * @ns_id is not a PASID namespace. Sleeps.
 */
int ioasid_pasid_translate(struct file *ioasid_file, u32 ns_id, u32 vpasid, u32 *ppasid);

#endif /* _LINUX_IOASID_H */
