// SPDX-License-Identifier: GPL-2.0

//! The ioctls of bound devices: `IOASID_DEVICE_*`.

use kernel::prelude::*;

use crate::{
    abi::*,
    context::Context,
    uapi::{
        self,
        check_flags,
        UserArg, //
    },
};

/// `IOASID_DEVICE_ATTACH`.
///
/// Errors: `EOPNOTSUPP` unknown flags, `ENOENT` / `EINVAL` the IDs, and those of
/// [`super::BoundDevice::attach`].
pub(crate) fn attach(ctx: &Context, arg: UserArg<ioasid_device_attach>) -> Result {
    check_flags(arg.flags, 0, 0)?;
    let (dev, ioas) = {
        let objects = ctx.objects();
        (objects.device(arg.dev_id)?, objects.ioas(arg.ioas_id)?)
    };
    dev.attach(ioas)
}

/// `IOASID_DEVICE_DETACH`.
///
/// Errors: `ENOENT` / `EINVAL` the ID, and those of [`super::BoundDevice::detach`].
pub(crate) fn detach(ctx: &Context, arg: UserArg<ioasid_device_detach>) -> Result {
    let dev = ctx.objects().device(arg.dev_id)?;
    dev.detach()
}

/// `IOASID_DEVICE_GET_INFO`: the device's IOMMU, reserved ranges and capability chain.
///
/// Errors: `EOPNOTSUPP` unknown flags, `EINVAL` reserved fields, `ENOENT` / `EINVAL` the
/// ID, `EMSGSIZE` an array or the chain did not fit (after writing back the sizes),
/// `EFAULT`.
pub(crate) fn get_info(ctx: &Context, mut arg: UserArg<ioasid_device_info>) -> Result {
    check_flags(arg.flags, 0, arg.__reserved | arg.__reserved2)?;
    let dev = ctx.objects().device(arg.dev_id)?;
    let (reserved, formats, sw_formats) = dev.info(&mut arg)?;
    let ptr = arg.reserved_iovas;
    let mut fits = uapi::write_iova_ranges(ptr, &mut arg.num_reserved, &reserved)?;
    fits &= uapi::write_info_caps(arg.caps, &mut arg.caps_len, &formats, &sw_formats)?;
    arg.write_back()?;
    if !fits {
        return Err(EMSGSIZE);
    }
    Ok(())
}

/// `IOASID_DEVICE_PASID_ATTACH`.
///
/// Errors: `EOPNOTSUPP` unknown flags, `ENOENT` / `EINVAL` the IDs, and those of
/// [`super::BoundDevice::attach_pasid`].
pub(crate) fn pasid_attach(ctx: &Context, arg: UserArg<ioasid_device_pasid_attach>) -> Result {
    check_flags(arg.flags, IOASID_PASID_ATTACH_REPLACE, 0)?;
    let (dev, ns, ioas) = {
        let objects = ctx.objects();
        (
            objects.device(arg.dev_id)?,
            objects.pasid_ns(arg.ns_id)?,
            objects.ioas(arg.ioas_id)?,
        )
    };
    let replace = arg.flags & IOASID_PASID_ATTACH_REPLACE != 0;
    dev.attach_pasid(ns, arg.pasid, ioas, replace)
}

/// `IOASID_DEVICE_PASID_DETACH`.
///
/// Errors: `ENOENT` / `EINVAL` the IDs, and those of
/// [`super::BoundDevice::detach_pasid`].
pub(crate) fn pasid_detach(ctx: &Context, arg: UserArg<ioasid_device_pasid_detach>) -> Result {
    let (dev, ns) = {
        let objects = ctx.objects();
        (objects.device(arg.dev_id)?, objects.pasid_ns(arg.ns_id)?)
    };
    dev.detach_pasid(&ns, arg.pasid)
}
