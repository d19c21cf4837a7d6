// SPDX-License-Identifier: GPL-2.0

//! The ioctls of I/O address spaces: `IOASID_IOAS_*`.

use kernel::{
    fs::LocalFile,
    prelude::*, //
};

use super::{
    iova,
    Ioas,
    Placement,
    SharedPart,
    IOVA_ALIGNMENT, //
};
use crate::{
    abi::*,
    context::Context,
    iommu::{
        DirtyBitmap,
        Prot, //
    },
    object::Object,
    pin::{
        self,
        PinnedPages,
        Source, //
    },
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
    let known = IOASID_IOAS_ALLOC_FAULT_QUEUE
        | IOASID_IOAS_ALLOC_COHERENT
        | IOASID_IOAS_ALLOC_DIRTY_TRACKING;
    check_flags(arg.flags, known, 0)?;
    let queue = selector(
        arg.flags,
        IOASID_IOAS_ALLOC_FAULT_QUEUE,
        arg.fault_queue_id(),
    )?;
    let coherent = arg.flags & IOASID_IOAS_ALLOC_COHERENT != 0;
    let dirty = arg.flags & IOASID_IOAS_ALLOC_DIRTY_TRACKING != 0;
    let id = ctx.create(|objects| {
        let queue = queue.map(|q| objects.fault_queue(q)).transpose()?;
        let account = ctx.account().clone();
        Ok(move |id| {
            Ok(Object::Ioas(Ioas::new(
                account,
                queue.map(|q| (q, id)),
                coherent,
                dirty,
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

/// What the map ioctls share: the protection and placement their flags ask for.
struct MapRequest {
    prot: Prot,
    writable: bool,
    placement: Placement,
}

impl MapRequest {
    /// Checks the flags (`IOASID_MAP_*`), the length and, with `IOASID_MAP_FIXED_IOVA`,
    /// the IOVA of a map or a copy.
    ///
    /// Errors: `EOPNOTSUPP` unknown flags, `EINVAL` a reserved field, neither readable
    /// nor writable, a zero or unaligned range, `EOVERFLOW` past 2^64.
    fn parse(flags: u32, reserved: u32, length: u64, iova: u64) -> Result<Self> {
        let known = IOASID_MAP_FIXED_IOVA | IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE;
        check_flags(flags, known, reserved)?;
        if flags & (IOASID_MAP_READABLE | IOASID_MAP_WRITEABLE) == 0 {
            return Err(EINVAL);
        }
        let placement = if flags & IOASID_MAP_FIXED_IOVA != 0 {
            iova::check_range(iova, length, IOVA_ALIGNMENT).map_err(range_errno)?;
            Placement::Fixed(iova)
        } else {
            iova::check_range(0, length, IOVA_ALIGNMENT).map_err(range_errno)?;
            Placement::Any
        };
        let writable = flags & IOASID_MAP_WRITEABLE != 0;
        Ok(Self {
            prot: Prot::new(flags & IOASID_MAP_READABLE != 0, writable),
            writable,
            placement,
        })
    }

    /// Pins `npages` of `source` and maps them into the address space `ioas_id`;
    /// returns the IOVA once the user learnt it through `write_back` (on failure of
    /// which the mapping is undone). A fixed IOVA is only an input: nothing is written
    /// back.
    ///
    /// Errors: `EPERM` the caller is not the process the context charges, and those of
    /// lookup, pinning, [`Ioas::map`] and `write_back`.
    fn pin_and_map(
        self,
        ctx: &Context,
        ioas_id: u32,
        source: Source<'_>,
        npages: usize,
        write_back: impl FnOnce(u64) -> Result,
    ) -> Result {
        let ioas = ctx.objects().ioas(ioas_id)?;
        let account = ctx.account();
        // Checked again, under the accounting's lock, whenever pages are charged.
        ctx.check_owner()?;
        let (pages, pre) = PinnedPages::pin(source, npages, self.writable, account)?;
        let fixed = matches!(self.placement, Placement::Fixed(_));
        let made = ioas.map(pages, pre, self.prot, self.placement)?;
        if fixed {
            return Ok(());
        }
        if let Err(e) = write_back(made.iova) {
            // The user never learnt the IOVA: undo the mapping.
            ioas.unmap_made(made);
            return Err(e);
        }
        Ok(())
    }
}

/// Pages in `length` bytes (a checked, aligned length).
fn pages_in(length: u64) -> Result<usize> {
    usize::try_from(length / IOVA_ALIGNMENT).map_err(|_| EOVERFLOW)
}

/// `IOASID_IOAS_MAP`: pins the user's pages and maps them at a fixed or a chosen IOVA.
///
/// Errors: see the uAPI documentation (flags, alignment, overflow, `EPERM` another
/// process than the one charged, and those of pinning and of [`Ioas::map`]).
pub(crate) fn map(ctx: &Context, mut arg: UserArg<ioasid_ioas_map>) -> Result {
    let req = MapRequest::parse(arg.flags, arg.__reserved, arg.length, arg.iova)?;
    iova::check_range(arg.user_va, arg.length, IOVA_ALIGNMENT).map_err(range_errno)?;
    let user_va = usize::try_from(arg.user_va).map_err(|_| EOVERFLOW)?;
    let source = Source::User(user_va);
    req.pin_and_map(ctx, arg.ioas_id, source, pages_in(arg.length)?, |iova| {
        arg.iova = iova;
        arg.write_back()
    })
}

/// `IOASID_IOAS_MAP_FILE`: pins a shmem or hugetlbfs file's pages by offset and maps
/// them, as `IOASID_IOAS_MAP` does the user's.
///
/// Errors: those of `IOASID_IOAS_MAP`, `EBADF` not an open file, `EINVAL` not shmem or
/// hugetlbfs or past the end of the file, `EACCES` the file's mode or seals.
pub(crate) fn map_file(ctx: &Context, mut arg: UserArg<ioasid_ioas_map_file>) -> Result {
    let req = MapRequest::parse(arg.flags, 0, arg.length, arg.iova)?;
    iova::check_range(arg.start, arg.length, IOVA_ALIGNMENT).map_err(range_errno)?;
    let fd = u32::try_from(arg.fd).map_err(|_| EBADF)?;
    // SAFETY: an ioctl handler runs no `fdget_pos` on this thread.
    let file = unsafe { LocalFile::assume_no_fdget_pos(LocalFile::fget(fd).map_err(|_| EBADF)?) };
    pin::check_file(&file, arg.flags & IOASID_MAP_READABLE != 0, req.writable)?;
    let source = Source::File(&file, arg.start);
    req.pin_and_map(ctx, arg.ioas_id, source, pages_in(arg.length)?, |iova| {
        arg.iova = iova;
        arg.write_back()
    })
}

/// `IOASID_IOAS_COPY`: maps the memory of another range's mappings again, sharing
/// their pins and their charge.
///
/// Errors: see the uAPI documentation (flags and ranges as for `IOASID_IOAS_MAP`,
/// `EINVAL` / `ENOENT` the source range as for `IOASID_IOAS_UNMAP`, `EACCES` writable
/// copy of read-only pins, and those of [`Ioas::map_shared`]).
pub(crate) fn copy(ctx: &Context, mut arg: UserArg<ioasid_ioas_copy>) -> Result {
    let req = MapRequest::parse(arg.flags, 0, arg.length, arg.dst_iova)?;
    let src_last =
        iova::check_range(arg.src_iova, arg.length, IOVA_ALIGNMENT).map_err(range_errno)?;
    let (src, dst) = {
        let objects = ctx.objects();
        (
            objects.ioas(arg.src_ioas_id)?,
            objects.ioas(arg.dst_ioas_id)?,
        )
    };
    ctx.check_owner()?;
    let parts = src.shared(arg.src_iova, src_last)?;
    // No more access than each source mapping gives (a file mapped write-only stays so),
    // and no new writable mapping of memory pinned read-only or sealed since.
    let refused = |(_, pages, prot): &SharedPart| {
        !prot.contains(req.prot) || (req.writable && !pages.may_map_writable())
    };
    if parts.iter().any(refused) {
        return Err(EACCES);
    }
    // As for a map, a fixed IOVA is only an input: nothing is written back.
    let fixed = matches!(req.placement, Placement::Fixed(_));
    let (iova, made) = dst.map_shared(parts, arg.length, req.prot, req.placement)?;
    if fixed {
        return Ok(());
    }
    arg.dst_iova = iova;
    if let Err(e) = arg.write_back() {
        // The user never learnt the IOVA: undo the copy.
        for token in made {
            dst.unmap_made(token);
        }
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

/// `IOASID_IOAS_SET_DIRTY_TRACKING`.
///
/// Errors: `EOPNOTSUPP` unknown flags, `EINVAL` reserved field, `ENOENT` / `EINVAL`
/// the ID, and those of [`Ioas::set_dirty_tracking`].
pub(crate) fn set_dirty_tracking(
    ctx: &Context,
    arg: UserArg<ioasid_ioas_set_dirty_tracking>,
) -> Result {
    check_flags(arg.flags, IOASID_DIRTY_TRACKING_ENABLE, arg.__reserved)?;
    let ioas = ctx.objects().ioas(arg.ioas_id)?;
    ioas.set_dirty_tracking(arg.flags & IOASID_DIRTY_TRACKING_ENABLE != 0)
}

/// `IOASID_IOAS_GET_DIRTY_BITMAP`: zeroes the user's bitmap, then fills it.
///
/// Errors: see the uAPI documentation (flags, range and page size, `EFAULT` the bitmap,
/// and those of [`Ioas::read_dirty`]).
pub(crate) fn get_dirty_bitmap(
    ctx: &Context,
    arg: UserArg<ioasid_ioas_get_dirty_bitmap>,
) -> Result {
    check_flags(arg.flags, IOASID_DIRTY_BITMAP_NO_CLEAR, arg.__reserved)?;
    let page_size = arg.page_size;
    if !page_size.is_power_of_two() || page_size < IOVA_ALIGNMENT || arg.data % 8 != 0 {
        return Err(EINVAL);
    }
    let last = iova::check_range(arg.iova, arg.length, page_size).map_err(range_errno)?;
    let data = usize::try_from(arg.data).map_err(|_| EFAULT)?;
    let words = (arg.length / page_size).div_ceil(64);
    let bytes = usize::try_from(words * 8).map_err(|_| EFAULT)?;
    let ioas = ctx.objects().ioas(arg.ioas_id)?;
    // Refused before the user's bitmap is touched (checked again under the locks).
    if !ioas.tracks_dirty() {
        return Err(EINVAL);
    }
    // The bitmap is written here with no lock held; the kernel only sets bits later.
    uapi::zero_user(data, bytes)?;
    let bitmap = DirtyBitmap::new(arg.iova, arg.length, page_size, data)?;
    ioas.read_dirty(
        arg.iova,
        last,
        &bitmap,
        arg.flags & IOASID_DIRTY_BITMAP_NO_CLEAR != 0,
    )
}
