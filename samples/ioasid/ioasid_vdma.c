// SPDX-License-Identifier: GPL-2.0
/*
 * ioasid-vdma: a sample emulated VFIO device with a DMA engine.
 *
 * Like the devices of samples/vfio-mdev it has no IOMMU: it is registered with
 * vfio_register_emulated_iommu_dev() and reaches the memory of its user's address space
 * through the CPU with vfio_dma_rw(). Bound to an ioasid context (VFIO_DEVICE_BIND_IOASID)
 * it gets the software-table intent, and vfio_dma_rw() goes through ioasid_access_rw();
 * bound to an iommufd it works the same way through an iommufd access. One device, on a
 * faux device of its own; registers in region 0 (see ioasid-samples.h).
 */
#include <linux/device/faux.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

#include "ioasid-samples.h"

struct vdma {
	struct vfio_device vdev;
	/* Protects the registers; a command runs under it. */
	struct mutex lock;
	u64 regs[IOASID_VDMA_REGS / sizeof(u64)];
};

static struct faux_device *vdma_faux;
static struct vdma *vdma_dev;

static struct vdma *to_vdma(struct vfio_device *vdev)
{
	return container_of(vdev, struct vdma, vdev);
}

static int vdma_init(struct vfio_device *vdev)
{
	mutex_init(&to_vdma(vdev)->lock);
	return 0;
}

static void vdma_release(struct vfio_device *vdev)
{
	mutex_destroy(&to_vdma(vdev)->lock);
}

static int vdma_open(struct vfio_device *vdev)
{
	struct vdma *v = to_vdma(vdev);

	mutex_lock(&v->lock);
	memset(v->regs, 0, sizeof(v->regs));
	mutex_unlock(&v->lock);
	return 0;
}

/* Runs command @cmd with the registers; returns its status. Called with the lock held. */
static s64 vdma_run(struct vdma *v, u64 cmd)
{
	u64 src = v->regs[IOASID_VDMA_SRC / 8], dst = v->regs[IOASID_VDMA_DST / 8];
	u64 count = v->regs[IOASID_VDMA_COUNT / 8];
	struct page *page;
	void *buf;
	int ret;

	switch (cmd) {
	case IOASID_VDMA_CMD_COPY:
		if (!count || count > IOASID_VDMA_MAX)
			return -EINVAL;
		buf = kmalloc(count, GFP_KERNEL);
		if (!buf)
			return -ENOMEM;
		ret = vfio_dma_rw(&v->vdev, src, buf, count, false);
		if (!ret)
			ret = vfio_dma_rw(&v->vdev, dst, buf, count, true);
		kfree(buf);
		return ret;
	case IOASID_VDMA_CMD_PIN:
		ret = vfio_pin_pages(&v->vdev, src, 1, IOMMU_READ, &page);
		if (ret < 0)
			return ret;
		vfio_unpin_pages(&v->vdev, src, 1);
		return 0;
	default:
		return -EINVAL;
	}
}

static ssize_t vdma_rw(struct vfio_device *vdev, char __user *ubuf, size_t count,
		       loff_t *ppos, bool write)
{
	struct vdma *v = to_vdma(vdev);
	loff_t pos = *ppos;
	u64 val;

	if (count != sizeof(u64) || pos < 0 || pos % 8 || pos >= IOASID_VDMA_REGS)
		return -EINVAL;
	if (write && copy_from_user(&val, ubuf, sizeof(val)))
		return -EFAULT;
	mutex_lock(&v->lock);
	if (!write) {
		val = v->regs[pos / 8];
	} else if (pos == IOASID_VDMA_CMD) {
		v->regs[IOASID_VDMA_CMD / 8] = val;
		v->regs[IOASID_VDMA_STATUS / 8] = vdma_run(v, val);
	} else if (pos != IOASID_VDMA_STATUS) {
		v->regs[pos / 8] = val;
	}
	mutex_unlock(&v->lock);
	if (!write && copy_to_user(ubuf, &val, sizeof(val)))
		return -EFAULT;
	*ppos += sizeof(u64);
	return sizeof(u64);
}

static ssize_t vdma_read(struct vfio_device *vdev, char __user *buf, size_t count,
			 loff_t *ppos)
{
	return vdma_rw(vdev, buf, count, ppos, false);
}

static ssize_t vdma_write(struct vfio_device *vdev, const char __user *buf, size_t count,
			  loff_t *ppos)
{
	return vdma_rw(vdev, (char __user *)buf, count, ppos, true);
}

static long vdma_ioctl(struct vfio_device *vdev, unsigned int cmd, unsigned long arg)
{
	struct vfio_device_info info;
	unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);

	if (cmd != VFIO_DEVICE_GET_INFO)
		return -ENOTTY;
	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	info.flags = VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = 1;
	info.num_irqs = 0;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}

static int vdma_region_info(struct vfio_device *vdev, struct vfio_region_info *info,
			    struct vfio_info_cap *caps)
{
	if (info->index != 0)
		return -EINVAL;
	info->offset = 0;
	info->size = IOASID_VDMA_REGS;
	info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	return 0;
}

/* Nothing stays pinned past a command: an unmap has nothing to wait for. */
static void vdma_dma_unmap(struct vfio_device *vdev, u64 iova, u64 length)
{
}

static const struct vfio_device_ops vdma_ops = {
	.name = "ioasid-vdma",
	.init = vdma_init,
	.release = vdma_release,
	.open_device = vdma_open,
	.read = vdma_read,
	.write = vdma_write,
	.ioctl = vdma_ioctl,
	.get_region_info_caps = vdma_region_info,
	.dma_unmap = vdma_dma_unmap,
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
	.bind_ioasid = vfio_ioasid_emulated_bind,
	.unbind_ioasid = vfio_ioasid_unbind,
};

static int __init vdma_module_init(void)
{
	int ret;

	vdma_faux = faux_device_create("ioasid-vdma", NULL, NULL);
	if (!vdma_faux)
		return -ENODEV;
	vdma_dev = vfio_alloc_device(vdma, vdev, &vdma_faux->dev, &vdma_ops);
	if (IS_ERR(vdma_dev)) {
		ret = PTR_ERR(vdma_dev);
		goto err_faux;
	}
	ret = vfio_register_emulated_iommu_dev(&vdma_dev->vdev);
	if (ret)
		goto err_put;
	return 0;

err_put:
	vfio_put_device(&vdma_dev->vdev);
err_faux:
	faux_device_destroy(vdma_faux);
	return ret;
}

static void __exit vdma_module_exit(void)
{
	vfio_unregister_group_dev(&vdma_dev->vdev);
	vfio_put_device(&vdma_dev->vdev);
	faux_device_destroy(vdma_faux);
}

/* After VFIO (a device_initcall too, but earlier in link order) is up. */
late_initcall(vdma_module_init);
module_exit(vdma_module_exit);

MODULE_DESCRIPTION("ioasid sample: an emulated VFIO device with a DMA engine");
MODULE_LICENSE("GPL");
