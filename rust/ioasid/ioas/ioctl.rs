// SPDX-License-Identifier: GPL-2.0

//! The ioctls of I/O address spaces: `IOASID_IOAS_*`.

use kernel::{
    current,
    prelude::*, //
};

use super::{
    iova,
    Ioas,
    Placement,
    IOVA_ALIGNMENT, //
};
use crate::{
    abi::*,
    context::Context,
    iommu::Prot,
    object::Object,
    pin::PinnedPages,
    uapi::{
        self,
        check_flags,
        selector,
        UserArg, //
    },
};

/// Maps IOVA arithmetic errors to the documented errnos.
fn range_errno(e: iova::RangeError) -> Error {
    match e {
        iova::RangeError::Invalid => EINVAL,
        iova::RangeError::Overflow => EOVERFLOW,
    }
}

/// `IOASID_IOAS_ALLOC`, routed to a fault queue if the user names one, enforcing
/// coherent DMA if asked.
///
/// Errors: `EOPNOTSUPP` unknown flags, `EINVAL` a queue ID without the flag, `ENOENT` /
/// `EINVAL` the queue ID, `ENOMEM`, `ENOSPC`.
pub(crate) fn alloc(ctx: &Context, mut arg: UserArg<ioasid_ioas_alloc>) -> Result {
    let known = IOASID_IOAS_ALLOC_FAULT_QUEUE | IOASID_IOAS_ALLOC_COHERENT;
    check_flags(arg.flags, known, 0)?;
    let queue = selector(
        arg.flags,
        IOASID_IOAS_ALLOC_FAULT_QUEUE,
        arg.fault_queue_id(),
    )?;
    let coherent = arg.flags & IOASID_IOAS_ALLOC_COHERENT != 0;
    let id = ctx.create(|objects| {
        let queue = queue.map(|q| objects.fault_queue(q)).transpose()?;
        let account = ctx.account().clone();
        Ok(move |id| {
            Ok(Object::Ioas(Ioas::new(
                account,
                queue.map(|q| (q, id)),
                coherent,
            )?))
        })
    })?;
    arg.out_ioas_id = id;
    ctx.publish(id, arg.write_back())
}

/// `IOASID_IOAS_IOVA_RANGES`.
///
/// Errors: `EINVAL` reserved field, `ENOENT` / `EINVAL` the ID, `EMSGSIZE` the array is
/// too small (after writing back the count), `EFAULT`.
pub(crate) fn iova_ranges(ctx: &Context, mut arg: UserArg<ioasid_ioas_iova_ranges>) -> Result {
    check_flags(0, 0, arg.__reserved)?;
    let ioas = ctx.objects().ioas(arg.ioas_id)?;
    let ranges = ioas.allowed()?;
    let ptr = arg.allowed_iovas;
    let fits = uapi::write_iova_ranges(ptr, &mut arg.num_ranges, &ranges)?;
    arg.out_iova_alignment = IOVA_ALIGNMENT;
    arg.write_back()?;
    if !fits {
        return Err(EMSGSIZE);
    }
    Ok(())
}

/// `IOASID_IOAS_MAP`: pins the user's pages and maps them at a fixed or a chosen IOVA.
///
/// Errors: see the uAPI documentation (flags, alignment, overflow, `EPERM` another
/// process than the opener, and those of pinning and of [`Ioas::map`]).
pub(crate) fn map(ctx: &Context, mut arg: UserArg<ioasid_ioas_map>) -> Result {
    let known = IOASID_MAP_FIXED_IOVA | IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE;
    check_flags(arg.flags, known, arg.__reserved)?;
    if arg.flags & (IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE) == 0 {
        return Err(EINVAL);
    }
    iova::check_range(arg.user_va, arg.length, IOVA_ALIGNMENT).map_err(range_errno)?;
    let placement = if arg.flags & IOASID_MAP_FIXED_IOVA != 0 {
        iova::check_range(arg.iova, arg.length, IOVA_ALIGNMENT).map_err(range_errno)?;
        Placement::Fixed(arg.iova)
    } else {
        Placement::Any
    };
    let user_va = usize::try_from(arg.user_va).map_err(|_| EOVERFLOW)?;
    let npages = usize::try_from(arg.length / IOVA_ALIGNMENT).map_err(|_| EOVERFLOW)?;
    let writable = arg.flags & IOASID_MAP_WRITEABLE != 0;
    let prot = Prot::new(arg.flags & IOASID_MAP_READABLE != 0, writable);

    let ioas = ctx.objects().ioas(arg.ioas_id)?;
    let account = ctx.account();
    let opener = account.lock().mm().as_raw();
    if current!().mm().map(|mm| mm.as_raw()) != Some(opener) {
        return Err(EPERM);
    }
    let (pages, pre) = PinnedPages::pin(user_va, npages, writable, account)?;
    let made = ioas.map(pages, pre, prot, placement)?;
    arg.iova = made.iova;
    if let Err(e) = arg.write_back() {
        // The user never learnt the IOVA: undo the mapping.
        ioas.unmap_made(made);
        return Err(e);
    }
    Ok(())
}

/// `IOASID_IOAS_UNMAP` of a range, or of everything (IOVA 0, length `u64::MAX`).
///
/// Errors: `EINVAL` / `EOVERFLOW` a bad range, `ENOENT` / `EINVAL` the ID, and those of
/// [`Ioas::unmap`].
pub(crate) fn unmap(ctx: &Context, mut arg: UserArg<ioasid_ioas_unmap>) -> Result {
    let (start, last) = if arg.iova == 0 && arg.length == u64::MAX {
        (0, u64::MAX)
    } else {
        let last = iova::check_range(arg.iova, arg.length, IOVA_ALIGNMENT).map_err(range_errno)?;
        (arg.iova, last)
    };
    let ioas = ctx.objects().ioas(arg.ioas_id)?;
    arg.length = ioas.unmap(start, last)?;
    arg.write_back()
}
