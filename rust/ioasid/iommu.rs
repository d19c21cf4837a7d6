// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over the host IOMMU API: paging domains, DMA ownership and attach.
//!
//! All raw `iommu_*` calls of the driver are here; everything above this file uses the
//! IOMMU core only through these types, exactly as it would reach any IOMMU driver.

use core::{
    ptr::NonNull,
    sync::atomic::{
        AtomicBool,
        Ordering, //
    },
};

use kernel::{
    bindings,
    device::Device,
    interop::list::CListHead,
    prelude::*,
    sync::{
        aref::ARef,
        Arc, //
    },
    types::Opaque,
};

/// What a device's IOMMU offers.
pub(crate) struct IommuInfo {
    pub(crate) pgsize_bitmap: u64,
    pub(crate) aperture_end: u64,
    pub(crate) max_pasids: u32,
    pub(crate) group_devices: u32,
}

// `struct device` is only passed by pointer, never inspected here.
#[expect(improper_ctypes)]
unsafe extern "C" {
    /// The page sizes and aperture end of a paging domain for `dev`, from `helpers.c`;
    /// 0 or a negative errno.
    fn ioasid_paging_geometry(
        dev: *mut bindings::device,
        pgsize_bitmap: *mut u64,
        aperture_end: *mut u64,
    ) -> c_int;
    /// How many devices `group` has, from `helpers.c`.
    fn ioasid_group_devices(group: *mut bindings::iommu_group) -> u32;
    /// `ioasid.allow_unsafe_interrupts`, from `helpers.c`.
    fn ioasid_allow_unsafe_interrupts() -> bool;
    /// `dev->iommu->max_pasids`, from `helpers.c`.
    fn ioasid_dev_max_pasids(dev: *mut bindings::device) -> u32;
    // Nesting, from `helpers.c`.
    fn ioasid_domain_alloc_nested(
        dev: *mut bindings::device,
        parent: *mut bindings::iommu_domain,
        type_: u32,
        uptr: *mut c_void,
        len: usize,
    ) -> *mut bindings::iommu_domain;
    fn ioasid_domain_invalidate_user(
        domain: *mut bindings::iommu_domain,
        type_: u32,
        uptr: *mut c_void,
        entry_len: u32,
        entry_num: *mut u32,
    ) -> c_int;
    fn ioasid_domain_fits(domain: *mut bindings::iommu_domain, dev: *mut bindings::device) -> bool;
    fn ioasid_gather_init(gather: *mut bindings::iommu_iotlb_gather);
    fn ioasid_gather_sync(
        domain: *mut bindings::iommu_domain,
        gather: *mut bindings::iommu_iotlb_gather,
    );

    fn ioasid_nesting_hw(dev: *mut bindings::device, hw: *mut u32, ecap: *mut u64) -> c_int;
    fn ioasid_dev_reports_faults(dev: *mut bindings::device) -> bool;
    // Dirty tracking, from `helpers.c`.
    fn ioasid_dirty_bitmap_alloc(
        iova: u64,
        length: u64,
        page_size: u64,
        data: *mut u64,
    ) -> *mut bindings::iova_bitmap;
    fn ioasid_dirty_bitmap_free(bitmap: *mut bindings::iova_bitmap);
    fn ioasid_dirty_bitmap_set(bitmap: *mut bindings::iova_bitmap, iova: u64, length: u64);
    fn ioasid_domain_tracks_dirty(domain: *mut bindings::iommu_domain) -> bool;
    fn ioasid_domain_set_dirty(domain: *mut bindings::iommu_domain, enable: bool) -> c_int;
    fn ioasid_domain_read_dirty(
        domain: *mut bindings::iommu_domain,
        bitmap: *mut bindings::iova_bitmap,
        iova: u64,
        length: u64,
        no_clear: bool,
    ) -> c_int;
    // Attach a group with a handle, and undo it (drivers/iommu/iommu-priv.h).
    fn iommu_attach_group_handle(
        domain: *mut bindings::iommu_domain,
        group: *mut bindings::iommu_group,
        handle: *mut bindings::iommu_attach_handle,
    ) -> c_int;
    fn iommu_detach_group_handle(
        domain: *mut bindings::iommu_domain,
        group: *mut bindings::iommu_group,
    );
    /// Moves (device, PASID) to another domain in one step (drivers/iommu/iommu-priv.h).
    fn iommu_replace_device_pasid(
        domain: *mut bindings::iommu_domain,
        dev: *mut bindings::device,
        pasid: bindings::ioasid_t,
        handle: *mut bindings::iommu_attach_handle,
    ) -> c_int;
}

/// Device access a mapping grants.
#[derive(Clone, Copy)]
pub(crate) struct Prot(u32);

impl Prot {
    /// Whether it allows everything `other` does.
    pub(crate) fn contains(self, other: Prot) -> bool {
        other.0 & !self.0 == 0
    }

    /// Whether it allows writes (`write`) or reads.
    pub(crate) fn allows(self, write: bool) -> bool {
        self.0
            & if write {
                bindings::IOMMU_WRITE
            } else {
                bindings::IOMMU_READ
            }
            != 0
    }

    /// Devices may read and/or write. Always cacheable (`IOMMU_CACHE`), as iommufd and
    /// VFIO type1 map: where page tables carry memory attributes (Arm SMMU), a mapping
    /// without it is non-cacheable, and a device would read memory under the CPU caches
    /// (the previous owner's data, below the kernel's cached zeroing).
    pub(crate) fn new(read: bool, write: bool) -> Self {
        let mut p = bindings::IOMMU_CACHE;
        if read {
            p |= bindings::IOMMU_READ;
        }
        if write {
            p |= bindings::IOMMU_WRITE;
        }
        Prot(p)
    }
}

/// A user's dirty bitmap, as the IOMMU core's drivers fill it (`struct iova_bitmap`):
/// setting a bit writes the user's memory, pinning its pages as needed, so it is set
/// only where no lock of the fault path, unbind or unplug is held.
///
/// # Invariants
///
/// `0` came from `iova_bitmap_alloc` and is freed only by `Drop`.
pub(crate) struct DirtyBitmap(NonNull<bindings::iova_bitmap>);

impl DirtyBitmap {
    /// The bitmap at user address `data` of `iova..iova + length`, one bit per
    /// `page_size` (a power of two; `iova` and `length` are multiples of it).
    ///
    /// Errors: `ENOMEM`.
    pub(crate) fn new(iova: u64, length: u64, page_size: u64, data: usize) -> Result<Self> {
        // SAFETY: `data` is a user address, only ever accessed through user-copy and GUP
        // functions, so any value is safe.
        let ptr = unsafe { ioasid_dirty_bitmap_alloc(iova, length, page_size, data as _) };
        let ptr = kernel::error::from_err_ptr(ptr)?;
        // INVARIANT: from `iova_bitmap_alloc`.
        Ok(Self(NonNull::new(ptr).ok_or(ENOMEM)?))
    }

    /// Records `iova..iova + length` as dirty (a user write that may fault pages in).
    pub(crate) fn set(&self, iova: u64, length: u64) {
        // SAFETY: a live bitmap (invariant).
        unsafe { ioasid_dirty_bitmap_set(self.0.as_ptr(), iova, length) };
    }
}

impl Drop for DirtyBitmap {
    fn drop(&mut self) {
        // SAFETY: from `iova_bitmap_alloc`, freed once (invariant).
        unsafe { ioasid_dirty_bitmap_free(self.0.as_ptr()) };
    }
}

/// An IOMMU paging domain (one I/O page table), allocated for the IOMMU of a device.
///
/// # Invariants
///
/// `ptr` was returned by `iommu_paging_domain_alloc_flags` and is freed only by `Drop`.
pub(crate) struct Domain {
    ptr: NonNull<bindings::iommu_domain>,
    /// A nested domain's parent, freed after it (fields drop after `Drop::drop`).
    _parent: Option<Arc<Domain>>,
    /// Its driver forces every DMA through it to snoop ([`Domain::enforce_coherency`]).
    coherent: AtomicBool,
}

// SAFETY: the IOMMU core serialises what needs it inside the domain; its operations may be
// called from any thread.
unsafe impl Send for Domain {}
// SAFETY: as above; `map`/`unmap` on disjoint ranges may run concurrently, and the callers
// serialise overlapping ones with the address space's lock.
unsafe impl Sync for Domain {}

impl Domain {
    /// A new paging domain suitable for the IOMMU of the device `owner` holds, that
    /// can track dirty pages if `dirty`.
    pub(crate) fn new_paging(owner: &DmaOwner, dirty: bool) -> Result<Self> {
        Self::new_paging_flags(owner, Self::dirty_flag(dirty))
    }

    /// A new paging domain that can be the parent (stage 2) of nested domains (and
    /// track dirty pages if `dirty`).
    pub(crate) fn new_nest_parent(owner: &DmaOwner, dirty: bool) -> Result<Self> {
        Self::new_paging_flags(
            owner,
            bindings::iommufd_hwpt_alloc_flags_IOMMU_HWPT_ALLOC_NEST_PARENT
                | Self::dirty_flag(dirty),
        )
    }

    fn dirty_flag(dirty: bool) -> u32 {
        if dirty {
            bindings::iommufd_hwpt_alloc_flags_IOMMU_HWPT_ALLOC_DIRTY_TRACKING
        } else {
            0
        }
    }

    /// The largest IOMMU page size the domain may map with.
    pub(crate) fn largest_page(&self) -> u64 {
        // SAFETY: a live domain (invariant); its page sizes are set when it is allocated
        // and never change.
        let bitmap = unsafe { (*self.ptr.as_ptr()).pgsize_bitmap } as u64;
        match bitmap {
            0 => kernel::page::PAGE_SIZE as u64,
            b => 1u64 << (63 - b.leading_zeros()),
        }
    }

    /// Whether the domain can track dirty pages (its driver gave it dirty ops).
    pub(crate) fn tracks_dirty(&self) -> bool {
        // SAFETY: a live domain (invariant).
        unsafe { ioasid_domain_tracks_dirty(self.ptr.as_ptr()) }
    }

    /// Starts or stops dirty tracking in the IOMMU.
    ///
    /// Errors: `EOPNOTSUPP` the domain cannot track, and the driver's.
    pub(crate) fn set_dirty_tracking(&self, enable: bool) -> Result {
        // SAFETY: a live domain (invariant).
        kernel::error::to_result(unsafe { ioasid_domain_set_dirty(self.ptr.as_ptr(), enable) })
    }

    /// Reads the dirty bits of `iova..iova + length` into `bitmap` (or, with `None`,
    /// only clears them) and, unless `no_clear`, clears them and flushes the IOTLB. The
    /// caller keeps the range's mappings in place meanwhile.
    ///
    /// Errors: `EOPNOTSUPP` the domain cannot track, and the driver's.
    pub(crate) fn read_dirty(
        &self,
        bitmap: Option<&DirtyBitmap>,
        iova: u64,
        length: u64,
        no_clear: bool,
    ) -> Result {
        let bitmap = bitmap.map_or(core::ptr::null_mut(), |b| b.0.as_ptr());
        // SAFETY: a live domain (invariant) and a live bitmap or none; the caller keeps
        // the page table of the range from being freed (no unmap runs meanwhile).
        kernel::error::to_result(unsafe {
            ioasid_domain_read_dirty(self.ptr.as_ptr(), bitmap, iova, length, no_clear)
        })
    }

    fn new_paging_flags(owner: &DmaOwner, flags: u32) -> Result<Self> {
        // SAFETY: `owner.raw` is a valid device (`owner` holds a reference on it).
        let ptr = unsafe { bindings::iommu_paging_domain_alloc_flags(owner.raw, flags) };
        let ptr = kernel::error::from_err_ptr(ptr)?;
        let domain = Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
            _parent: None,
            coherent: AtomicBool::new(false),
        };
        // On an IOMMU that translates MSIs (a software MSI window, as on Arm), the IOMMU
        // core maps each doorbell into the window when the device's MSI is set up, as
        // VFIO type1 asks it to: without it, the device's interrupts would fault.
        if let Some(base) = owner.sw_msi_base()? {
            // SAFETY: a new unmanaged paging domain of ours, with no cookie yet; the core
            // frees the cookie with the domain.
            kernel::error::to_result(unsafe {
                bindings::iommu_get_msi_cookie(domain.ptr.as_ptr(), base)
            })?;
        }
        Ok(domain)
    }

    /// A nested domain on `parent` for the IOMMU of the device `owner` holds, from the
    /// user's table description of format `format` at `uptr` (`len` bytes), which the
    /// IOMMU driver reads and checks itself.
    ///
    /// Errors: `EOPNOTSUPP` the IOMMU has no nesting or not this format, and the driver's.
    /// The nested domain keeps `parent` alive.
    pub(crate) fn new_nested(
        owner: &DmaOwner,
        parent: &Arc<Domain>,
        format: u32,
        uptr: usize,
        len: usize,
    ) -> Result<Self> {
        // SAFETY: `owner.raw` is a valid, probed device; `parent` is a live domain;
        // `uptr` is a user address the driver only copies from.
        let ptr = unsafe {
            ioasid_domain_alloc_nested(
                owner.raw,
                parent.ptr.as_ptr(),
                format,
                uptr as *mut c_void,
                len,
            )
        };
        let ptr = kernel::error::from_err_ptr(ptr)?;
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
            _parent: Some(parent.clone()),
            coherent: AtomicBool::new(false),
        })
    }

    /// Passes `*entry_num` invalidation requests of `format` (each `entry_len` bytes at
    /// user address `uptr`) to the driver; `*entry_num` becomes how many it carried out.
    pub(crate) fn invalidate_user(
        &self,
        format: u32,
        uptr: usize,
        entry_len: u32,
        entry_num: &mut u32,
    ) -> Result {
        // SAFETY: live domain by the invariant; the driver only copies from `uptr`.
        let ret = unsafe {
            ioasid_domain_invalidate_user(
                self.ptr.as_ptr(),
                format,
                uptr as *mut c_void,
                entry_len,
                entry_num,
            )
        };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }

    /// Makes every DMA through the domain snoop the CPU caches, whatever the device's
    /// requests say; call it before anything is mapped (the drivers require it).
    ///
    /// Errors: `EOPNOTSUPP` the IOMMU driver cannot.
    pub(crate) fn enforce_coherency(&self) -> Result {
        // SAFETY: `self.ptr` is a live domain whose ops are its driver's static table.
        let op = unsafe { (*(*self.ptr.as_ptr()).ops).enforce_cache_coherency };
        // SAFETY: the driver's op, called on its own live domain, nothing mapped yet.
        match op.map(|f| unsafe { f(self.ptr.as_ptr()) }) {
            Some(true) => {
                self.coherent.store(true, Ordering::Relaxed);
                Ok(())
            }
            _ => Err(EOPNOTSUPP),
        }
    }

    /// Whether [`Domain::enforce_coherency`] succeeded on it.
    pub(crate) fn is_coherent(&self) -> bool {
        self.coherent.load(Ordering::Relaxed)
    }

    /// Whether a device `owner` holds may share this domain as far as cache coherency
    /// goes: a device whose IOMMU can force snooping gets only domains that force it,
    /// and one whose IOMMU cannot never joins one that does.
    pub(crate) fn coherency_fits(&self, owner: &DmaOwner) -> bool {
        self.is_coherent() == owner.can_enforce_coherency()
    }

    /// Whether this domain belongs to the IOMMU driver of the device `owner` holds.
    pub(crate) fn fits(&self, owner: &DmaOwner) -> bool {
        // SAFETY: live domain; valid, probed device.
        unsafe { ioasid_domain_fits(self.ptr.as_ptr(), owner.raw) }
    }

    /// Maps `len` bytes at `iova` to physical address `phys`, without syncing the IOMMU's
    /// caches: the caller ends a batch of maps with [`Domain::sync_map`].
    pub(crate) fn map(&self, iova: u64, phys: u64, len: usize, prot: Prot) -> Result {
        self.map_gfp(iova, phys, len, prot, bindings::GFP_KERNEL)
    }

    /// [`Domain::map`], allocating page-table pages with `gfp`.
    fn map_gfp(
        &self,
        iova: u64,
        phys: u64,
        len: usize,
        prot: Prot,
        gfp: bindings::gfp_t,
    ) -> Result {
        // SAFETY: `self.ptr` is a live domain by the invariant; the caller owns the physical
        // range (pinned pages) for as long as it stays mapped.
        let ret = unsafe {
            bindings::iommu_map_nosync(self.ptr.as_ptr(), iova as _, phys, len, prot.0 as _, gfp)
        };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }

    /// Makes the maps of `iova..iova + len` made with [`Domain::map`] visible to devices
    /// (one IOTLB/cache sync for a whole batch).
    pub(crate) fn sync_map(&self, iova: u64, len: usize) -> Result {
        // SAFETY: `self.ptr` is a live domain by the invariant.
        let ret = unsafe { bindings::iommu_sync_map(self.ptr.as_ptr(), iova as _, len) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }

    /// A batch of unmaps of this domain whose IOTLB flush (and the sync of maps made
    /// meanwhile) happens once, when the batch is dropped, gathered in `gather` (on the
    /// caller's stack: a batch allocates nothing).
    pub(crate) fn batch<'a>(&'a self, gather: Pin<&'a mut Gather>) -> Batch<'a> {
        // INVARIANT: `gather` was initialised by `Gather::new`, is pinned, and is borrowed
        // by the batch alone.
        Batch {
            domain: self,
            gather,
            mapped: None,
        }
    }

    /// Unmaps `len` bytes at `iova`; returns how many bytes were unmapped.
    pub(crate) fn unmap(&self, iova: u64, len: usize) -> usize {
        // SAFETY: `self.ptr` is a live domain by the invariant.
        unsafe { bindings::iommu_unmap(self.ptr.as_ptr(), iova as _, len) }
    }

    /// Attaches the IOMMU group of the device `owner` holds (all of its devices: a group
    /// is the unit of isolation) to this domain.
    ///
    /// Errors: `EINVAL` this domain does not fit the device's IOMMU (the caller then uses
    /// another domain), `EBUSY` the group is attached to another domain.
    pub(crate) fn attach(&self, owner: &DmaOwner) -> Result {
        // SAFETY: live domain by the invariant; `owner.group` is the live group of a
        // device whose DMA ownership we hold (for the whole group), so no kernel driver
        // uses the group's DMA domain.
        let ret = unsafe { bindings::iommu_attach_group(self.ptr.as_ptr(), owner.group.as_ptr()) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }

    /// Attaches (device, `pasid`) of the device `owner` holds to this domain; `replace`:
    /// it is attached to another domain, which this one replaces in one step.
    ///
    /// Errors: `EINVAL` this domain does not fit the device's IOMMU or `pasid` is beyond
    /// the width of a device of its group, `EBUSY` already attached (not `replace`).
    ///
    /// `handle` names the attachment in the IOMMU core; it must be new (never used for
    /// another attachment) and outlive the attachment.
    pub(crate) fn attach_pasid<S: FaultSink>(
        &self,
        owner: &DmaOwner,
        pasid: u32,
        handle: &AttachHandle<S>,
        replace: bool,
    ) -> Result {
        let handle = handle.raw();
        // SAFETY: live domain by the invariant; we own the device's DMA, and (device,
        // `pasid`) is attached by us only, as the caller says with `replace`; `handle`
        // is a fresh handle the caller keeps until the attachment ends.
        let ret = unsafe {
            if replace {
                iommu_replace_device_pasid(self.ptr.as_ptr(), owner.raw, pasid, handle)
            } else {
                bindings::iommu_attach_device_pasid(self.ptr.as_ptr(), owner.raw, pasid, handle)
            }
        };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }

    /// Detaches (device, `pasid`) from this domain: DMA with that PASID is blocked.
    pub(crate) fn detach_pasid(&self, owner: &DmaOwner, pasid: u32) {
        // SAFETY: (device, `pasid`) was attached to this live domain by `attach_pasid`.
        unsafe { bindings::iommu_detach_device_pasid(self.ptr.as_ptr(), owner.raw, pasid) };
    }

    /// Attaches the group of the device `owner` holds to this domain with `handle`, so
    /// that page requests of its requester ID find the handle's route.
    ///
    /// Errors: as for [`Domain::attach`].
    pub(crate) fn attach_with_handle<S: FaultSink>(
        &self,
        owner: &DmaOwner,
        handle: &AttachHandle<S>,
    ) -> Result {
        // SAFETY: as for `attach`; `handle` is fresh and kept until the detach.
        let ret = unsafe {
            iommu_attach_group_handle(self.ptr.as_ptr(), owner.group.as_ptr(), handle.raw())
        };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }

    /// Undoes [`Domain::attach_with_handle`].
    pub(crate) fn detach_with_handle(&self, owner: &DmaOwner) {
        // SAFETY: attached by `attach_with_handle`.
        unsafe { iommu_detach_group_handle(self.ptr.as_ptr(), owner.group.as_ptr()) };
    }

    /// Routes this domain's page requests to the sinks (of type `S`) of the handles it is
    /// attached with; for a domain not yet attached to anything.
    pub(crate) fn route_faults<S: FaultSink>(&self) {
        // SAFETY: live domain; not attached yet, so the core does not read the field
        // concurrently. Only `AttachHandle<S>`s attach it (the callers' contract).
        unsafe { (*self.ptr.as_ptr()).iopf_handler = Some(iopf_handler::<S>) };
    }

    /// Detaches the group of the device `owner` holds from this domain; it goes back to
    /// blocking all DMA.
    pub(crate) fn detach(&self, owner: &DmaOwner) {
        // SAFETY: the group was attached to this live domain by `attach`.
        unsafe { bindings::iommu_detach_group(self.ptr.as_ptr(), owner.group.as_ptr()) };
    }
}

/// The IOTLB gather of a [`Batch`]: what its unmaps leave to flush (and the page-table
/// pages they free). Pinned, since its free list points at itself; made on the stack
/// with `stack_pin_init!(let gather = Gather::new())`.
#[pin_data]
pub(crate) struct Gather {
    #[pin]
    inner: Opaque<bindings::iommu_iotlb_gather>,
}

impl Gather {
    /// An empty gather (`iommu_iotlb_gather_init`).
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` points to the gather's memory, pinned from now on, which the
            // helper initialises in place.
            inner <- Opaque::ffi_init(|slot| unsafe { ioasid_gather_init(slot) }),
        })
    }
}

/// Unmaps and maps of a domain whose IOTLB flush and map sync are done once, on drop
/// ([`Domain::batch`]): devices may use an unmapped translation until then, so the
/// memory behind it must stay pinned until the batch is dropped.
///
/// # Invariants
///
/// `gather` was initialised by `iommu_iotlb_gather_init` (or synced since, which
/// re-initialises it) and is only given to `iommu_unmap_fast` of `domain` while the batch
/// lives; it never moves (pinned).
pub(crate) struct Batch<'a> {
    domain: &'a Domain,
    gather: Pin<&'a mut Gather>,
    /// The range maps were made in, to sync on drop.
    mapped: Option<(u64, u64)>,
}

impl Batch<'_> {
    /// Unmaps `len` bytes at `iova`, flushing the IOTLB when the batch ends; returns how
    /// many bytes were unmapped.
    pub(crate) fn unmap(&mut self, iova: u64, len: usize) -> usize {
        // SAFETY: a live domain; the gather is this domain's (invariant).
        unsafe {
            bindings::iommu_unmap_fast(
                self.domain.ptr.as_ptr(),
                iova as _,
                len,
                self.gather.inner.get(),
            )
        }
    }

    /// Maps as [`Domain::map`] does, its page-table pages charged to the caller's memory
    /// cgroup (what a user's table makes the kernel allocate); synced when the batch ends.
    pub(crate) fn map(&mut self, iova: u64, phys: u64, len: usize, prot: Prot) -> Result {
        self.domain
            .map_gfp(iova, phys, len, prot, bindings::GFP_KERNEL_ACCOUNT)?;
        let last = iova + (len as u64 - 1);
        self.mapped = Some(match self.mapped {
            Some((s, l)) => (s.min(iova), l.max(last)),
            None => (iova, last),
        });
        Ok(())
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        // SAFETY: a live domain and its gather (invariant); the IOMMU core frees the
        // page-table pages the unmaps collected and re-initialises the gather.
        unsafe { ioasid_gather_sync(self.domain.ptr.as_ptr(), self.gather.inner.get()) };
        if let Some((s, l)) = self.mapped {
            // Best effort, as for any map: the driver's sync does not fail in practice.
            let _ = self.domain.sync_map(s, (l - s).saturating_add(1) as usize);
        }
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        // SAFETY: by the invariant the domain is ours to free, once; no device is attached
        // (every attachment holds a reference to the domain).
        unsafe { bindings::iommu_domain_free(self.ptr.as_ptr()) };
    }
}

/// The identity of a device whose DMA we own (the address of its `struct device`, never
/// dereferenced through this): equal keys name the same device while it is owned.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceKey(usize);

/// The identity of an IOMMU group we hold a reference on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupKey(usize);

/// The identity of a live attach handle: the attachment its page requests come through.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct HandleKey(usize);

/// A reserved region of the IOMMU core's list.
#[repr(transparent)]
struct ResvRegion(bindings::iommu_resv_region);

/// DMA ownership of a device, claimed from the IOMMU core: while it is held, no kernel
/// driver's DMA domain is used for the device, which blocks DMA unless attached by us.
///
/// # Invariants
///
/// `raw` is the device `_dev` refers to, and `iommu_device_claim_dma_owner(raw, cookie)`
/// succeeded; it is undone only by `Drop`. `group` is the device's IOMMU group, on which
/// we hold a reference (`iommu_group_get`), dropped by `Drop`.
pub(crate) struct DmaOwner {
    raw: *mut bindings::device,
    group: NonNull<bindings::iommu_group>,
    /// Page sizes of the IOMMU's paging domains for the device.
    pgsize_bitmap: u64,
    /// Last IOVA those domains translate.
    aperture_end: u64,
    /// Keeps the device alive while owned.
    _dev: ARef<Device>,
}

// SAFETY: `raw` is only a name for `dev`, which is reference counted and thread-safe.
unsafe impl Send for DmaOwner {}
// SAFETY: as above; no method mutates through `raw` without the IOMMU core's locking.
unsafe impl Sync for DmaOwner {}

impl DmaOwner {
    /// Claims ownership of `raw` for `cookie` (the same for every device of one context,
    /// so devices of one IOMMU group can be owned together).
    ///
    /// Errors: `ENODEV` no IOMMU group, `EPERM` owned by another cookie or in use by a
    /// kernel driver's DMA domain, `ENOMEM`, and the IOMMU driver's errors allocating a
    /// paging domain (its page sizes and aperture are learnt here, once).
    ///
    /// # Safety
    ///
    /// `raw` is a valid, probed device whose driver set `driver_managed_dma` and stays bound
    /// until this value is dropped.
    pub(crate) unsafe fn claim(raw: *mut bindings::device, cookie: *const c_void) -> Result<Self> {
        // SAFETY: `raw` is valid by the caller's guarantee; the cookie is only compared.
        let ret = unsafe { bindings::iommu_device_claim_dma_owner(raw, cookie as *mut _) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        // SAFETY: `raw` is valid; the group exists (the claim needed it) and this takes a
        // reference of its own on it.
        let Some(group) = NonNull::new(unsafe { bindings::iommu_group_get(raw) }) else {
            // SAFETY: claimed just above.
            unsafe { bindings::iommu_device_release_dma_owner(raw) };
            return Err(ENODEV);
        };
        let (mut pgsize_bitmap, mut aperture_end) = (0, 0);
        // SAFETY: `raw` is a valid, probed device; both outputs are locals.
        let ret = unsafe { ioasid_paging_geometry(raw, &mut pgsize_bitmap, &mut aperture_end) };
        if ret < 0 {
            // SAFETY: claimed and referenced just above, undone once.
            unsafe {
                bindings::iommu_device_release_dma_owner(raw);
                bindings::iommu_group_put(group.as_ptr());
            }
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: claimed, and the group reference taken, above.
        Ok(Self {
            raw,
            group,
            pgsize_bitmap,
            aperture_end,
            // SAFETY: `raw` is valid; this takes a reference of its own.
            _dev: unsafe { Device::get_device(raw) },
        })
    }
}

impl DmaOwner {
    /// The IOVA ranges the IOMMU reserves for any device of this device's group (MSI
    /// windows, firmware-owned direct mappings, ...) or cannot translate (above its
    /// aperture), as inclusive ranges: attaching one device of a group opens the IOMMU
    /// to all of them.
    /// Relaxable direct mappings are left out: they may be reused once the device is
    /// owned by userspace.
    pub(crate) fn reserved_regions(&self) -> Result<KVec<(u64, u64)>> {
        let mut ranges = KVec::new();
        self.walk_resv_regions(|region| {
            let relaxable = region.type_ == bindings::iommu_resv_type_IOMMU_RESV_DIRECT_RELAXABLE;
            if !relaxable && region.length > 0 {
                let last = region.start.saturating_add(region.length as u64 - 1);
                ranges.push((region.start, last), GFP_KERNEL)?;
            }
            Ok(())
        })?;
        if self.aperture_end < u64::MAX {
            ranges.push((self.aperture_end + 1, u64::MAX), GFP_KERNEL)?;
        }
        Ok(ranges)
    }

    /// Where the IOMMU's software MSI window begins, if it has one
    /// (`IOMMU_RESV_SW_MSI`: MSIs are translated, and the IOMMU core maps doorbells there).
    pub(crate) fn sw_msi_base(&self) -> Result<Option<u64>> {
        let mut base = None;
        self.walk_resv_regions(|region| {
            if region.type_ == bindings::iommu_resv_type_IOMMU_RESV_SW_MSI && base.is_none() {
                base = Some(region.start);
            }
            Ok(())
        })?;
        Ok(base)
    }

    /// Calls `f` with each reserved region of the device's group, stopping at its first
    /// error.
    fn walk_resv_regions(
        &self,
        mut f: impl FnMut(&bindings::iommu_resv_region) -> Result,
    ) -> Result {
        pin_init::stack_pin_init!(let head = CListHead::new());
        let head = head.as_raw();
        // SAFETY: `self.group` is a live group (we hold a reference); `head` is an
        // initialised, empty, pinned list that outlives the walk below. Its entries are
        // ours until the put.
        let ret = unsafe { bindings::iommu_get_group_resv_regions(self.group.as_ptr(), head) };
        let mut result = if ret < 0 {
            Err(Error::from_errno(ret))
        } else {
            Ok(())
        };
        {
            // SAFETY: the list holds `iommu_resv_region`s by their `list` member and only
            // we change it, after this borrow; `ResvRegion` is transparent over them.
            let list = unsafe {
                kernel::interop::list::clist_create!(
                    head,
                    ResvRegion,
                    bindings::iommu_resv_region,
                    list
                )
            };
            for region in list.iter() {
                if result.is_ok() {
                    result = f(&region.0);
                }
            }
        }
        // SAFETY: the list's entries are the core's merged copies, allocated by
        // `iommu_alloc_resv_region` with no `free` callback, which the put frees.
        unsafe { bindings::iommu_put_resv_regions(self.raw, head) };
        result
    }

    /// Whether the platform isolates the MSIs of every device of the group (interrupt
    /// remapping, or an MSI controller that checks the sender), as the IOMMU core says.
    pub(crate) fn msi_isolated(&self) -> bool {
        // SAFETY: `self.group` is a live group (we hold a reference).
        unsafe { bindings::iommu_group_has_isolated_msi(self.group.as_ptr()) }
    }

    /// Whether the device's IOMMU can record the pages it writes
    /// (`IOMMU_CAP_DIRTY_TRACKING`).
    pub(crate) fn can_track_dirty(&self) -> bool {
        // SAFETY: `self.raw` is a valid, probed device (we own its DMA).
        unsafe {
            bindings::device_iommu_capable(self.raw, bindings::iommu_cap_IOMMU_CAP_DIRTY_TRACKING)
        }
    }

    /// Whether the device's IOMMU can make its DMA snoop the CPU caches
    /// (`IOMMU_CAP_ENFORCE_CACHE_COHERENCY`).
    pub(crate) fn can_enforce_coherency(&self) -> bool {
        // SAFETY: `self.raw` is a valid, probed device (we own its DMA).
        unsafe {
            bindings::device_iommu_capable(
                self.raw,
                bindings::iommu_cap_IOMMU_CAP_ENFORCE_CACHE_COHERENCY,
            )
        }
    }

    /// Refuses (`EPERM`) the ownership of a device whose MSIs are not isolated, unless
    /// the administrator allowed it (`ioasid.allow_unsafe_interrupts=1`); then says so
    /// in the kernel log, as iommufd does.
    pub(crate) fn check_msi_isolation(&self) -> Result {
        if self.msi_isolated() {
            return Ok(());
        }
        // SAFETY: reads a module parameter.
        if !unsafe { ioasid_allow_unsafe_interrupts() } {
            return Err(EPERM);
        }
        kernel::dev_warn!(
            self._dev,
            "MSI interrupts are not isolated by the platform (is interrupt remapping on?); \
             bound anyway, as ioasid.allow_unsafe_interrupts allows\n"
        );
        Ok(())
    }

    /// What the device's IOMMU offers.
    pub(crate) fn iommu_info(&self) -> IommuInfo {
        IommuInfo {
            pgsize_bitmap: self.pgsize_bitmap,
            aperture_end: self.aperture_end,
            max_pasids: self.max_pasids(),
            // SAFETY: `self.group` is a live group (we hold a reference).
            group_devices: unsafe { ioasid_group_devices(self.group.as_ptr()) },
        }
    }

    /// The `hw_info` type of the device's IOMMU if its driver offers nested domains (0
    /// if not), and for VT-d its extended capability register.
    ///
    /// Errors: the driver's (`ENOMEM`).
    pub(crate) fn nesting_hw(&self) -> Result<(u32, u64)> {
        let (mut hw, mut ecap) = (0, 0);
        // SAFETY: `self.raw` is a valid, probed device; `hw` and `ecap` are locals.
        kernel::error::to_result(unsafe { ioasid_nesting_hw(self.raw, &mut hw, &mut ecap) })?;
        Ok((hw, ecap))
    }

    /// Whether the device's page requests can reach the IOMMU core's fault path.
    pub(crate) fn reports_faults(&self) -> bool {
        // SAFETY: `self.raw` is a valid, probed device (we own its DMA).
        unsafe { ioasid_dev_reports_faults(self.raw) }
    }

    /// How many PASIDs the device and its IOMMU support; 0: no PASID capability.
    pub(crate) fn max_pasids(&self) -> u32 {
        // SAFETY: `self.raw` is a valid, probed device (we own its DMA).
        unsafe { ioasid_dev_max_pasids(self.raw) }
    }

    /// The device's identity.
    pub(crate) fn key(&self) -> DeviceKey {
        DeviceKey(self.raw as usize)
    }

    /// The identity of the device's IOMMU group.
    pub(crate) fn group_key(&self) -> GroupKey {
        GroupKey(self.group.as_ptr() as usize)
    }
}

impl Drop for DmaOwner {
    fn drop(&mut self) {
        // SAFETY: by the invariant we hold the ownership and the group reference, both
        // released exactly once here.
        unsafe {
            bindings::iommu_device_release_dma_owner(self.raw);
            bindings::iommu_group_put(self.group.as_ptr());
        }
    }
}

/// A PASID from the IOMMU core's global allocator (shared with the kernel's SVA users);
/// freed on drop.
///
/// # Invariants
///
/// `0` was returned by `iommu_alloc_global_pasid` and is freed only by `Drop`.
pub(crate) struct GlobalPasid(u32);

impl GlobalPasid {
    /// Allocates a PASID within the PASID width of the device `owner` holds.
    ///
    /// Errors: `ENOSPC` none free within that width (or no PASID capability).
    pub(crate) fn alloc(owner: &DmaOwner) -> Result<Self> {
        // SAFETY: `owner.raw` is a valid, probed device.
        let pasid = unsafe { bindings::iommu_alloc_global_pasid(owner.raw) };
        if pasid == bindings::IOMMU_PASID_INVALID as u32 {
            return Err(ENOSPC);
        }
        Ok(Self(pasid))
    }

    /// Its value.
    pub(crate) fn value(&self) -> u32 {
        self.0
    }
}

impl Drop for GlobalPasid {
    fn drop(&mut self) {
        // SAFETY: allocated by `alloc`, freed once (invariant).
        unsafe { bindings::iommu_free_global_pasid(self.0) };
    }
}

/// What a routed attachment does with its page requests: the IOMMU core's fault path
/// hands each complete group to the sink of the [`AttachHandle`] it came through (a
/// trait the C side calls into, like `MiscDevice`'s vtable). Keys name the attachment
/// ([`AttachHandle::key`]) and devices ([`DmaOwner::key`]).
pub(crate) trait FaultSink: Send + Sync + Sized {
    /// Takes `group`, which came through attachment `handle`; an error gives it back,
    /// and the core answers it itself.
    fn deliver(
        &self,
        group: IopfGroup,
        handle: HandleKey,
    ) -> core::result::Result<(), (Error, IopfGroup)>;
    /// The device `dev`, with ID `dev_id`, is attached through `handle`: its page
    /// requests are taken from now on.
    fn join(&self, handle: HandleKey, dev: DeviceKey, dev_id: u32) -> Result;
    /// The device `dev` (`None`: every device) no longer is: what it delivered and
    /// nobody answered yet is answered now, and its page requests are refused.
    fn leave(&self, handle: HandleKey, dev: Option<DeviceKey>);
    /// The ID of the device that makes the attachment.
    fn first_device(&self) -> u32;
}

/// A complete page request group the IOMMU core handed over (`struct iopf_group`).
///
/// # Invariants
///
/// `0` is a live group the core handed to our `iopf_handler` and that nobody answered
/// yet; only [`IopfGroup::respond`] answers it (and gives it back to the core).
pub(crate) struct IopfGroup(NonNull<bindings::iopf_group>);

// SAFETY: the group is ours until answered, and the core's functions that take it may be
// called from any thread.
unsafe impl Send for IopfGroup {}

/// One page request of a group (`struct iopf_fault`).
#[repr(transparent)]
pub(crate) struct PageRequest(bindings::iopf_fault);

impl PageRequest {
    /// What the device asked for.
    pub(crate) fn prm(&self) -> &bindings::iommu_fault_page_request {
        &self.0.fault.prm
    }
}

impl IopfGroup {
    /// The device that issued it (as [`DmaOwner::key`] names it).
    pub(crate) fn device_key(&self) -> DeviceKey {
        // SAFETY: a live group (invariant) has the live fault parameter of its device.
        DeviceKey(unsafe { (*(*self.0.as_ptr()).fault_param).dev as usize })
    }

    /// Its page requests, each with whether it is the last of the group.
    pub(crate) fn requests(&self) -> impl Iterator<Item = (&PageRequest, bool)> + '_ {
        let group = self.0.as_ptr();
        // SAFETY: a live group (invariant): its `faults` list holds `iopf_fault`s by their
        // `list` member and does not change while the group is ours; `PageRequest` is
        // transparent over `iopf_fault`.
        let list = unsafe {
            kernel::interop::list::clist_create!(
                &raw mut (*group).faults,
                PageRequest,
                bindings::iopf_fault,
                list
            )
        };
        // SAFETY: as above.
        let last = unsafe { &raw const (*group).last_fault };
        list.iter().map(move |r| (r, core::ptr::eq(&r.0, last)))
    }

    /// Answers it with `code` (an `iommu_page_response_code`) and gives it back.
    pub(crate) fn respond(self, code: u32) {
        // SAFETY: ours and not yet answered (invariant); answering and freeing it, once,
        // ends that.
        unsafe {
            bindings::iopf_group_response(self.0.as_ptr(), code);
            bindings::iopf_free_group(self.0.as_ptr());
        }
    }
}

/// The `iopf_handler` of domains routed to sinks of type `S`.
///
/// # Safety
///
/// Called by the IOMMU core with a live group whose `attach_handle` is the handle of a
/// live `AttachHandle<S>` (only domains [`Domain::route_faults`] for `S` use it, and only
/// such handles attach them).
unsafe extern "C" fn iopf_handler<S: FaultSink>(group: *mut bindings::iopf_group) -> c_int {
    // SAFETY: a live group (caller).
    let raw = unsafe { (*group).attach_handle };
    // SAFETY: `raw` is the first field of a live `HandleInner<S>` (caller).
    let Some(sink) = (unsafe { (*raw.cast::<HandleInner<S>>()).route.as_ref() }) else {
        return ENODEV.to_errno();
    };
    // INVARIANT: the core hands the group to this handler, unanswered; on error it is
    // given back (the core answers it).
    // SAFETY: a live group is not null.
    let group = IopfGroup(unsafe { NonNull::new_unchecked(group) });
    match sink.deliver(group, HandleKey(raw as usize)) {
        Ok(()) => 0,
        Err((e, _back_to_the_core)) => e.to_errno(),
    }
}

/// The IOMMU core's handle of one attachment (`struct iommu_attach_handle`), which the
/// core may reach without locks while the attachment lasts: the owner keeps it, at a
/// fixed address, until the attachment has ended. It carries the attachment's fault
/// sink, to which the domain's `iopf_handler` hands page requests.
pub(crate) struct AttachHandle<S: FaultSink>(KBox<HandleInner<S>>);

#[repr(C)]
struct HandleInner<S> {
    /// First field: the core's handle is a `HandleInner`.
    raw: kernel::types::Opaque<bindings::iommu_attach_handle>,
    route: Option<S>,
}

// SAFETY: Rust never reads or writes the handle; it only hands its address to the IOMMU
// core, which does its own locking. The sink is `Send`.
unsafe impl<S: FaultSink> Send for AttachHandle<S> {}
// SAFETY: as above; `&AttachHandle` yields the address and `&S`, which is `Sync`.
unsafe impl<S: FaultSink> Sync for AttachHandle<S> {}

impl<S: FaultSink> AttachHandle<S> {
    /// A new, unused handle, whose faults (if its domain reports any) go to `route`; the
    /// device `owner` holds is its first member (see [`AttachHandle::join`]).
    ///
    /// Errors: `EOPNOTSUPP` routed, for a device that cannot report page requests;
    /// `ENOMEM`.
    pub(crate) fn new(route: Option<S>, owner: &DmaOwner) -> Result<Self> {
        let dev_id = route.as_ref().map(|r| r.first_device());
        let this = Self(KBox::new(
            HandleInner {
                raw: kernel::types::Opaque::zeroed(),
                route,
            },
            GFP_KERNEL,
        )?);
        if let Some(dev_id) = dev_id {
            this.join(owner, dev_id)?;
        }
        Ok(this)
    }

    /// The device `owner` holds, with ID `dev_id`, is attached through this handle too
    /// (another device of an attached group): its page requests are taken.
    ///
    /// Errors: `EOPNOTSUPP` routed, for a device that cannot report page requests;
    /// `ENOMEM`.
    pub(crate) fn join(&self, owner: &DmaOwner, dev_id: u32) -> Result {
        let Some(route) = self.route() else {
            return Ok(());
        };
        if !owner.reports_faults() {
            return Err(EOPNOTSUPP);
        }
        route.join(self.key(), owner.key(), dev_id)
    }

    /// The device `owner` holds is no longer attached through this handle, which stays
    /// (its group is attached through another device): its waiting page requests are
    /// answered INVALID and new ones refused, before the IOMMU core can release them
    /// with the device.
    pub(crate) fn leave(&self, owner: &DmaOwner) {
        if let Some(route) = self.route() {
            route.leave(self.key(), Some(owner.key()));
        }
    }

    fn raw(&self) -> *mut bindings::iommu_attach_handle {
        self.0.raw.get()
    }

    /// Its fault sink, if any.
    pub(crate) fn route(&self) -> Option<&S> {
        self.0.route.as_ref()
    }

    /// Answers INVALID the page requests still waiting that came through this handle,
    /// whose attachment has ended.
    pub(crate) fn abort_faults(&self) {
        if let Some(route) = self.route() {
            route.leave(self.key(), None);
        }
    }

    /// The attachment's identity.
    pub(crate) fn key(&self) -> HandleKey {
        HandleKey(self.raw() as usize)
    }
}

impl<S: FaultSink> Drop for AttachHandle<S> {
    fn drop(&mut self) {
        // The attachment has ended (the owner keeps the handle until then): nothing of it
        // may wait in a queue, even on paths that failed before attaching.
        self.abort_faults();
    }
}
