// SPDX-License-Identifier: GPL-2.0
/*
 * What the mock IOMMU (Rust, mock/) cannot write without C macros: the software-node
 * property that gives a mock device its PASID width, and list insertion of a reserved
 * region. Built only with CONFIG_IOASID_TEST.
 */
#include <linux/device.h>
#include <linux/iommu.h>
#include <linux/irqdomain.h>
#include <linux/property.h>
#include <linux/slab.h>

int ioasid_mock_set_pasid_width(struct device *dev, u32 bits);
int ioasid_mock_add_resv(struct list_head *head, u64 start, u64 length);

/* The IOMMU core reads "pasid-num-bits" of a non-PCI device as its PASID width. */
int ioasid_mock_set_pasid_width(struct device *dev, u32 bits)
{
	const struct property_entry props[] = {
		PROPERTY_ENTRY_U32("pasid-num-bits", bits),
		{}
	};

	return device_create_managed_software_node(dev, props, NULL);
}

/* Adds a reserved region (no access) to a get_resv_regions() list. */
int ioasid_mock_add_resv(struct list_head *head, u64 start, u64 length)
{
	struct iommu_resv_region *region;

	region = iommu_alloc_resv_region(start, length, 0, IOMMU_RESV_RESERVED, GFP_KERNEL);
	if (!region)
		return -ENOMEM;
	list_add_tail(&region->list, head);
	return 0;
}

int ioasid_mock_add_sw_msi(struct list_head *head, u64 start, u64 length);

/* Adds a software MSI window, as the SMMU drivers report theirs. */
int ioasid_mock_add_sw_msi(struct list_head *head, u64 start, u64 length)
{
	struct iommu_resv_region *region;

	region = iommu_alloc_resv_region(start, length, IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_MMIO,
					 IOMMU_RESV_SW_MSI, GFP_KERNEL);
	if (!region)
		return -ENOMEM;
	list_add_tail(&region->list, head);
	return 0;
}

#include <linux/highmem.h>

void ioasid_mock_read_phys(u64 phys, void *buf, size_t len);

/* Reads @len bytes at physical address @phys (within one page the caller keeps). */
void ioasid_mock_read_phys(u64 phys, void *buf, size_t len)
{
	memcpy_from_page(buf, pfn_to_page(PHYS_PFN(phys)), offset_in_page(phys), len);
}

void *ioasid_mock_hw_info_alloc(void);

/* The (empty) hw_info the mock reports; the IOMMU core's user kfree()s it. */
void *ioasid_mock_hw_info_alloc(void)
{
	return kzalloc(8, GFP_KERNEL);
}

void ioasid_mock_free_dev_iommu(struct device *dev);

/*
 * After iommu_mock_device_add() failed: when iommu_fwspec_init() fails after allocating
 * dev->iommu (the fwspec allocation), the core returns without freeing it (its
 * dev_iommu_free() is static and runs only when device_add() fails). Frees what it left.
 */
void ioasid_mock_free_dev_iommu(struct device *dev)
{
	struct dev_iommu *param = dev->iommu;
	struct iommu_fwspec *fwspec;

	if (!param)
		return;
	/* What iommu_fwspec_free() of the core (not exported) does. */
	fwspec = dev_iommu_fwspec_get(dev);
	if (fwspec) {
		fwnode_handle_put(fwspec->iommu_fwnode);
		kfree(fwspec);
	}
	mutex_destroy(&param->lock);
	dev->iommu = NULL;
	kfree(param);
}

int ioasid_mock_msi_init(void);
void ioasid_mock_msi_exit(void);
void ioasid_mock_isolate_msi(struct device *dev);

/*
 * An interrupt domain that isolates MSIs, as interrupt remapping does: mock devices put
 * under it have isolated MSI as far as the IOMMU core (iommu_group_has_isolated_msi())
 * can tell. No interrupt is ever allocated in it.
 */
static struct irq_domain *ioasid_mock_msi;
static const struct irq_domain_ops ioasid_mock_msi_ops = {};

int ioasid_mock_msi_init(void)
{
	struct fwnode_handle *fwnode = irq_domain_alloc_named_fwnode("ioasid-mock-msi");

	if (!fwnode)
		return -ENOMEM;
	ioasid_mock_msi = irq_domain_create_linear(fwnode, 1, &ioasid_mock_msi_ops, NULL);
	if (!ioasid_mock_msi) {
		irq_domain_free_fwnode(fwnode);
		return -ENOMEM;
	}
	ioasid_mock_msi->flags |= IRQ_DOMAIN_FLAG_ISOLATED_MSI;
	return 0;
}

void ioasid_mock_msi_exit(void)
{
	struct fwnode_handle *fwnode = ioasid_mock_msi->fwnode;

	irq_domain_remove(ioasid_mock_msi);
	irq_domain_free_fwnode(fwnode);
}

/* Puts @dev, not yet added, under the isolating interrupt domain. */
void ioasid_mock_isolate_msi(struct device *dev)
{
	dev_set_msi_domain(dev, ioasid_mock_msi);
}

void ioasid_mock_dirty_record(struct iommu_dirty_bitmap *dirty, u64 iova, u64 length);

/* iommu_dirty_bitmap_record() is inline: for the mock's read_and_clear_dirty(). */
void ioasid_mock_dirty_record(struct iommu_dirty_bitmap *dirty, u64 iova, u64 length)
{
	iommu_dirty_bitmap_record(dirty, iova, length);
}
