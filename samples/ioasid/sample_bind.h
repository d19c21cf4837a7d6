/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The BIND ioctl shared by the sample drivers: how a driver turns a user's ioasid fd
 * into a binding of its device (struct ioasid_edu_bind in, the device ID out).
 */
#ifndef _IOASID_SAMPLE_BIND_H
#define _IOASID_SAMPLE_BIND_H

#include <linux/err.h>
#include <linux/file.h>
#include <linux/ioasid.h>
#include <linux/mutex.h>
#include <linux/uaccess.h>

#include "ioasid-samples.h"

/*
 * Binds @dev with @intent to the context of the ioasid fd in @uarg and stores the
 * binding in *@idev, which @lock protects. -EBUSY if *@idev is already set. @bound_cb,
 * if set, runs with @cb_arg under @lock once the binding is stored, so that what the
 * driver enables for it (bus mastering) can never outlive it.
 */
static inline long sample_bind(void __user *uarg, struct mutex *lock, struct ioasid_device **idev,
			       struct device *dev, u32 intent,
			       void (*bound_cb)(void *cb_arg), void *cb_arg)
{
	struct ioasid_edu_bind arg;
	struct ioasid_device *bound;
	struct file *file;
	long ret = 0;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.argsz < sizeof(arg) || arg.__reserved)
		return -EINVAL;
	file = fget(arg.ioasid_fd);
	if (!file)
		return -EBADF;
	mutex_lock(lock);
	if (*idev) {
		ret = -EBUSY;
		goto out;
	}
	bound = ioasid_bind_device(file, dev, intent, &arg.out_dev_id);
	if (IS_ERR(bound)) {
		ret = PTR_ERR(bound);
		goto out;
	}
	if (copy_to_user(uarg, &arg, sizeof(arg))) {
		ioasid_unbind_device(bound);
		ret = -EFAULT;
		goto out;
	}
	*idev = bound;
	if (bound_cb)
		bound_cb(cb_arg);
out:
	mutex_unlock(lock);
	fput(file);
	return ret;
}

#endif
