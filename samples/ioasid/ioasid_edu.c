// SPDX-License-Identifier: GPL-2.0
/*
 * Sample PCI driver: hands a QEMU edu device to userspace through /dev/ioasid.
 *
 * Bind it with driver_override:
 *   echo ioasid-edu > /sys/bus/pci/devices/<addr>/driver_override
 *   echo <addr> > /sys/bus/pci/drivers_probe
 * It creates /dev/ioasid-edu-<addr>. A VMM opens it, binds the device to its ioasid
 * context (IOASID_EDU_BIND, plain RID DMA intent), attaches it to an address space
 * through the ioasid fd, and programs the device's DMA engine through mmap() of BAR0.
 * Bus mastering is on only while the device is bound, so it never DMAs through the
 * kernel's own DMA domain on userspace's behalf.
 *
 * A sample, not a production driver: removing the PCI device while its file is open is
 * not handled.
 */
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/ioasid.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "sample_bind.h"

struct ioasid_edu {
	struct pci_dev *pdev;
	struct miscdevice misc;
	char name[48];
	struct mutex lock;		/* protects idev and owner */
	struct ioasid_device *idev;
	struct file *owner;		/* the device file that made the binding */
};

static struct ioasid_edu *to_edu(struct file *file)
{
	return container_of(file->private_data, struct ioasid_edu, misc);
}

static void edu_unbind_locked(struct ioasid_edu *edu)
{
	if (edu->idev) {
		/* The device masters the bus only while userspace's IOMMU setup applies. */
		pci_clear_master(edu->pdev);
		ioasid_unbind_device(edu->idev);
		edu->idev = NULL;
		edu->owner = NULL;
	}
}

struct edu_binder {
	struct ioasid_edu *edu;
	struct file *owner;
};

/* Under edu->lock, with the binding just stored. */
static void edu_bound(void *arg)
{
	struct edu_binder *b = arg;

	b->edu->owner = b->owner;
	pci_set_master(b->edu->pdev);
}

static long edu_bind(struct ioasid_edu *edu, struct file *owner, void __user *uarg)
{
	struct edu_binder b = { .edu = edu, .owner = owner };

	return sample_bind(uarg, &edu->lock, &edu->idev, &edu->pdev->dev, IOASID_INTENT_RID,
			   edu_bound, &b);
}

static long edu_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ioasid_edu *edu = to_edu(file);
	long ret = 0;

	switch (cmd) {
	case IOASID_EDU_BIND:
		return edu_bind(edu, file, (void __user *)arg);
	case IOASID_EDU_UNBIND:
		mutex_lock(&edu->lock);
		if (!edu->idev)
			ret = -ENOENT;
		else if (edu->owner != file)
			ret = -EPERM;
		else
			edu_unbind_locked(edu);
		mutex_unlock(&edu->lock);
		return ret;
	default:
		return -ENOTTY;
	}
}

static int edu_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct ioasid_edu *edu = to_edu(file);

	if (vma->vm_pgoff)
		return -EINVAL;
	vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	return vm_iomap_memory(vma, pci_resource_start(edu->pdev, 0),
			       pci_resource_len(edu->pdev, 0));
}

static int edu_release(struct inode *inode, struct file *file)
{
	struct ioasid_edu *edu = to_edu(file);

	mutex_lock(&edu->lock);
	if (edu->owner == file)
		edu_unbind_locked(edu);
	mutex_unlock(&edu->lock);
	return 0;
}

static const struct file_operations edu_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = edu_ioctl,
	.mmap = edu_mmap,
	.release = edu_release,
};

static int edu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct ioasid_edu *edu;
	int ret;

	edu = devm_kzalloc(&pdev->dev, sizeof(*edu), GFP_KERNEL);
	if (!edu)
		return -ENOMEM;
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	edu->pdev = pdev;
	mutex_init(&edu->lock);
	snprintf(edu->name, sizeof(edu->name), "ioasid-edu-%s", pci_name(pdev));
	edu->misc.minor = MISC_DYNAMIC_MINOR;
	edu->misc.name = edu->name;
	edu->misc.fops = &edu_fops;
	edu->misc.parent = &pdev->dev;
	ret = misc_register(&edu->misc);
	if (ret)
		return ret;
	pci_set_drvdata(pdev, edu);
	return 0;
}

static void edu_remove(struct pci_dev *pdev)
{
	struct ioasid_edu *edu = pci_get_drvdata(pdev);

	misc_deregister(&edu->misc);
	mutex_lock(&edu->lock);
	edu_unbind_locked(edu);
	mutex_unlock(&edu->lock);
}

/* No IDs: the driver binds only where driver_override names it. */
static const struct pci_device_id edu_ids[] = {
	{}
};

static struct pci_driver edu_driver = {
	.name = "ioasid-edu",
	.id_table = edu_ids,
	.probe = edu_probe,
	.remove = edu_remove,
	/* ioasid takes the device's DMA ownership from the IOMMU core. */
	.driver_managed_dma = true,
};
module_pci_driver(edu_driver);

MODULE_DESCRIPTION("ioasid sample: QEMU edu device for userspace through /dev/ioasid");
MODULE_LICENSE("GPL");
