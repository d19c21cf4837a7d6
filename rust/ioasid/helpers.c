// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for what the Rust side cannot reach through bindings: macros and inline
 * functions of the memory-management headers.
 */
#include <linux/mm.h>

phys_addr_t ioasid_page_to_phys(struct page *page);

phys_addr_t ioasid_page_to_phys(struct page *page)
{
	return page_to_phys(page);
}

#include <linux/iommu.h>

/* What a device's IOMMU offers, for IOASID_DEVICE_GET_INFO. */
struct ioasid_iommu_info {
	u64 pgsize_bitmap;
	u64 aperture_end;
	u32 max_pasids;
	u32 group_devices;
	bool nesting;
};

int ioasid_iommu_info(struct device *dev, struct ioasid_iommu_info *info);

static int count_dev(struct device *dev, void *data)
{
	(*(u32 *)data)++;
	return 0;
}

int ioasid_iommu_info(struct device *dev, struct ioasid_iommu_info *info)
{
	struct iommu_group *group = iommu_group_get(dev);
	struct iommu_domain *domain;

	if (!group)
		return -ENODEV;
	info->group_devices = 0;
	iommu_group_for_each_dev(group, &info->group_devices, count_dev);
	iommu_group_put(group);

	/* Page sizes and aperture are those of a paging domain for this device. */
	domain = iommu_paging_domain_alloc(dev);
	if (IS_ERR(domain))
		return PTR_ERR(domain);
	info->pgsize_bitmap = domain->pgsize_bitmap;
	info->aperture_end = domain->geometry.aperture_end;
	iommu_domain_free(domain);

	info->max_pasids = dev->iommu ? dev->iommu->max_pasids : 0;
	info->nesting = dev->iommu && dev->iommu->iommu_dev &&
			dev->iommu->iommu_dev->ops->domain_alloc_nested;
	return 0;
}

/* How many PASIDs the device and its IOMMU support (0: no PASID capability). */
u32 ioasid_dev_max_pasids(struct device *dev);

u32 ioasid_dev_max_pasids(struct device *dev)
{
	return dev->iommu ? dev->iommu->max_pasids : 0;
}

#include <linux/highmem.h>

void ioasid_page_rw(struct page *page, size_t offset, void *buf, size_t len, bool write);

/* Copies between a kernel buffer and part of one page, mapping it as needed. */
void ioasid_page_rw(struct page *page, size_t offset, void *buf, size_t len, bool write)
{
	if (write)
		memcpy_to_page(page, offset, buf, len);
	else
		memcpy_from_page(buf, page, offset, len);
}
