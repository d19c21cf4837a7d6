// SPDX-License-Identifier: GPL-2.0

//! The ioctls of PASID namespaces: `IOASID_PASID_*`.

use kernel::prelude::*;

use super::PasidNs;
use crate::{
    abi::*,
    context::Context,
    object::Object,
    uapi::{
        check_flags,
        selector,
        UserArg, //
    },
};

/// `IOASID_PASID_NS_ALLOC`.
///
/// Errors: `EOPNOTSUPP` unknown flags, `EINVAL` reserved field, `ENOMEM`, `ENOSPC`.
pub(crate) fn ns_alloc(ctx: &Context, mut arg: UserArg<ioasid_pasid_ns_alloc>) -> Result {
    check_flags(arg.flags, 0, arg.__reserved)?;
    let ns = PasidNs::new()?;
    let id = ctx.create(|_| Ok(move |_| Ok(Object::PasidNs(ns))))?;
    arg.out_ns_id = id;
    ctx.publish(id, arg.write_back())
}

/// `IOASID_PASID_ALLOC`: a PASID for a device, under the user's vPASID if named.
///
/// Errors: `EOPNOTSUPP` unknown flags, `EINVAL` a vPASID without the flag, `ENOENT` /
/// `EINVAL` the IDs, and those of [`crate::device::BoundDevice::alloc_pasid`].
pub(crate) fn alloc(ctx: &Context, mut arg: UserArg<ioasid_pasid_alloc>) -> Result {
    check_flags(arg.flags, IOASID_PASID_ALLOC_VPASID, 0)?;
    let vpasid = selector(arg.flags, IOASID_PASID_ALLOC_VPASID, arg.vpasid)?;
    let (ns, dev) = {
        let objects = ctx.objects();
        (objects.pasid_ns(arg.ns_id)?, objects.device(arg.dev_id)?)
    };
    let pasid = dev.alloc_pasid(&ns, vpasid, crate::pasid_quota())?;
    arg.out_pasid = pasid;
    if let Err(e) = arg.write_back() {
        // The user never learnt it.
        let _ = ns.free(pasid);
        return Err(e);
    }
    Ok(())
}

/// `IOASID_PASID_FREE`.
///
/// Errors: `EINVAL` reserved field, `ENOENT` / `EINVAL` the IDs, and those of
/// [`PasidNs::free`].
pub(crate) fn free(ctx: &Context, arg: UserArg<ioasid_pasid_free>) -> Result {
    check_flags(0, 0, arg.__reserved)?;
    let ns = ctx.objects().pasid_ns(arg.ns_id)?;
    ns.free(arg.pasid)
}
