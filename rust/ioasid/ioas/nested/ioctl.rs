// SPDX-License-Identifier: GPL-2.0

//! The ioctls of child (nested) address spaces: `IOASID_NESTED_ALLOC`,
//! `IOASID_BIND_TABLE`, `IOASID_UNBIND_TABLE` and `IOASID_CACHE_INVALIDATE`.

use kernel::{
    prelude::*,
    sync::Arc, //
};

use super::{
    Child,
    Filter, //
};
use crate::{
    abi::*,
    context::Context,
    device::BoundDevice,
    object::Object,
    pasid::PasidNs,
    uapi::{
        check_flags,
        pasid_selector,
        selector,
        table_size,
        UserArg,
        BIND_COMMON_SIZE, //
    },
};

/// `IOASID_NESTED_ALLOC`: a child of an address space, for tables in `format`.
///
/// Errors: `EOPNOTSUPP` unknown flags or format, `EINVAL` a queue ID without the flag,
/// `ENOENT` / `EINVAL` the IDs, and those of [`Child::new`].
pub(crate) fn alloc(ctx: &Context, mut arg: UserArg<ioasid_nested_alloc>) -> Result {
    check_flags(arg.flags, IOASID_NESTED_ALLOC_FAULT_QUEUE, 0)?;
    let queue = selector(
        arg.flags,
        IOASID_NESTED_ALLOC_FAULT_QUEUE,
        arg.fault_queue_id(),
    )?;
    if table_size(arg.format).is_none() {
        return Err(EOPNOTSUPP);
    }
    let format = arg.format;
    let id = ctx.create(|objects| {
        let parent = objects.ioas(arg.parent_id)?;
        let queue = queue.map(|q| objects.fault_queue(q)).transpose()?;
        Ok(move |id| {
            let child = Child::new(parent, format, queue.map(|q| (q, id)))?;
            Ok(Object::Child(child))
        })
    })?;
    arg.out_child_id = id;
    ctx.publish(id, arg.write_back())
}

/// The child, device and (namespace, PASID) a table bind or unbind names.
///
/// Errors: `ENOENT` unknown IDs, `EINVAL` IDs of the wrong types.
fn target(
    ctx: &Context,
    child_id: u32,
    dev_id: u32,
    pasid: Option<(u32, u32)>,
) -> Result<(Arc<Child>, Arc<BoundDevice>, Option<(Arc<PasidNs>, u32)>)> {
    let objects = ctx.objects();
    let pasid = match pasid {
        Some((ns_id, v)) => Some((objects.pasid_ns(ns_id)?, v)),
        None => None,
    };
    Ok((objects.child(child_id)?, objects.device(dev_id)?, pasid))
}

/// `IOASID_BIND_TABLE`: binds the user's table description (which follows the common
/// fields in the argument) for a device's RID or one of its PASIDs.
///
/// Errors: `EPROTONOSUPPORT` unknown version, `EOPNOTSUPP` unknown flags or format,
/// `EINVAL` argsz too small for the format, a format other than the child's, and those
/// of [`BoundDevice::bind_table`].
pub(crate) fn bind_table(ctx: &Context, arg: UserArg<ioasid_bind_table>) -> Result {
    if arg.version != IOASID_BIND_VERSION_1 {
        return Err(EPROTONOSUPPORT);
    }
    check_flags(arg.flags, IOASID_BIND_PASID, 0)?;
    let len = table_size(arg.format).ok_or(EOPNOTSUPP)?;
    if (arg.argsz as usize) < BIND_COMMON_SIZE + len {
        return Err(EINVAL);
    }
    let pasid = pasid_selector(arg.flags, IOASID_BIND_PASID, arg.ns_id, arg.pasid)?;
    let (child, dev, pasid) = target(ctx, arg.child_id, arg.dev_id, pasid)?;
    if arg.format != child.format() {
        return Err(EINVAL);
    }
    let desc = (arg.user_addr() + BIND_COMMON_SIZE, len);
    dev.bind_table(child, pasid, desc, arg.vtd())
}

/// `IOASID_UNBIND_TABLE`.
///
/// Errors: `EOPNOTSUPP` unknown flags, `EINVAL` PASID fields without the flag, the IDs,
/// and those of [`BoundDevice::unbind_table`].
pub(crate) fn unbind_table(ctx: &Context, arg: UserArg<ioasid_unbind_table>) -> Result {
    check_flags(arg.flags, IOASID_BIND_PASID, 0)?;
    let pasid = pasid_selector(arg.flags, IOASID_BIND_PASID, arg.ns_id, arg.pasid)?;
    let (child, dev, pasid) = target(ctx, arg.child_id, arg.dev_id, pasid)?;
    dev.unbind_table(&child, pasid.as_ref().map(|(ns, v)| (ns, *v)))
}

/// `IOASID_CACHE_INVALIDATE`: hands the user's invalidation entries to the child's
/// domains, filtered by device and PASID; the count handled is written back even on
/// failure.
///
/// Errors: `EOPNOTSUPP` unknown flags, `EINVAL` selector fields without their flag, the
/// IDs, and those of [`Child::invalidate`].
pub(crate) fn cache_invalidate(ctx: &Context, mut arg: UserArg<ioasid_cache_invalidate>) -> Result {
    let known = IOASID_INVALIDATE_DEVICE | IOASID_INVALIDATE_PASID;
    check_flags(arg.flags, known, 0)?;
    let dev_id = selector(arg.flags, IOASID_INVALIDATE_DEVICE, arg.dev_id)?;
    let pasid = pasid_selector(arg.flags, IOASID_INVALIDATE_PASID, arg.ns_id, arg.pasid)?;
    let (child, pasid) = {
        let objects = ctx.objects();
        if let Some(d) = dev_id {
            objects.device(d)?;
        }
        let pasid = match pasid {
            Some((ns_id, v)) => Some((PasidNs::key(&objects.pasid_ns(ns_id)?), v)),
            None => None,
        };
        (objects.child(arg.child_id)?, pasid)
    };
    let filter = Filter { dev_id, pasid };
    let mut n = arg.entry_num;
    let result = child.invalidate(&filter, arg.entries as usize, arg.entry_len, &mut n);
    arg.entry_num = n;
    arg.write_back()?;
    result
}
