// SPDX-License-Identifier: GPL-2.0
/*
 * Sample software device with no IOMMU of its own (an mdev-like device): it binds to an
 * ioasid context with the software-table intent and reaches its address space through
 * the CPU with ioasid_access_rw(), the way a mediated device's driver emulates DMA.
 *
 * /dev/ioasid-swdev: each open file is one device instance. IOASID_SWDEV_BIND binds it
 * to the context of an ioasid fd; once userspace attached it to an address space,
 * IOASID_SWDEV_COPY copies between two IOVAs, a page at a time.
 */
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/ioasid.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "sample_bind.h"

struct swdev_instance {
	struct mutex lock;		/* protects idev */
	struct ioasid_device *idev;
};

static struct miscdevice swdev_misc;

static int swdev_open(struct inode *inode, struct file *file)
{
	struct swdev_instance *inst = kzalloc(sizeof(*inst), GFP_KERNEL);

	if (!inst)
		return -ENOMEM;
	mutex_init(&inst->lock);
	file->private_data = inst;
	return 0;
}

static int swdev_release(struct inode *inode, struct file *file)
{
	struct swdev_instance *inst = file->private_data;

	if (inst->idev)
		ioasid_unbind_device(inst->idev);
	kfree(inst);
	return 0;
}

static long swdev_copy(struct swdev_instance *inst, void __user *uarg)
{
	struct ioasid_swdev_copy arg;
	u64 done;
	void *page;
	long ret = 0;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.argsz < sizeof(arg) || arg.__reserved)
		return -EINVAL;
	page = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	mutex_lock(&inst->lock);
	if (!inst->idev) {
		ret = -EINVAL;
		goto out;
	}
	for (done = 0; done < arg.length && !ret; done += PAGE_SIZE) {
		size_t n = min_t(u64, PAGE_SIZE, arg.length - done);

		ret = ioasid_access_rw(inst->idev, arg.src_iova + done, page, n, false);
		if (!ret)
			ret = ioasid_access_rw(inst->idev, arg.dst_iova + done, page, n, true);
	}
out:
	mutex_unlock(&inst->lock);
	kfree(page);
	return ret;
}

static long swdev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct swdev_instance *inst = file->private_data;
	long ret = 0;

	switch (cmd) {
	case IOASID_SWDEV_BIND:
		return sample_bind((void __user *)arg, &inst->lock, &inst->idev,
				   swdev_misc.this_device, IOASID_INTENT_SW_TABLE, NULL, NULL);
	case IOASID_SWDEV_UNBIND:
		mutex_lock(&inst->lock);
		if (inst->idev) {
			ioasid_unbind_device(inst->idev);
			inst->idev = NULL;
		} else {
			ret = -ENOENT;
		}
		mutex_unlock(&inst->lock);
		return ret;
	case IOASID_SWDEV_COPY:
		return swdev_copy(inst, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations swdev_fops = {
	.owner = THIS_MODULE,
	.open = swdev_open,
	.release = swdev_release,
	.unlocked_ioctl = swdev_ioctl,
};

static struct miscdevice swdev_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "ioasid-swdev",
	.fops = &swdev_fops,
};
module_misc_device(swdev_misc);

MODULE_DESCRIPTION("ioasid sample: a software device reaching its address space via the CPU");
MODULE_LICENSE("GPL");
