// SPDX-License-Identifier: GPL-2.0

//! Domains of the mock IOMMU: a blocking domain, and paging domains whose page table
//! and IOTLB state tests can inspect.
//!
//! The page table is a sorted map of entries, one per IOMMU page the core mapped, each
//! of the size the core chose from [`IOASID_MOCK_PGSIZES`] (so tests see whether huge
//! pages were used). Removing an entry leaves it "stale" (a device could still hit it in
//! the IOTLB) until the core issues the IOTLB invalidation for it.

use core::ptr::NonNull;
use kernel::{
    bindings, new_mutex,
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNode, //
    },
    sync::Mutex,
    types::Opaque,
};

use super::{
    hw::{
        Global,
        MockDev,
        Slot, //
    },
    nested::MockNested,
    raw::IOASID_MOCK_PGSIZES,
};

/// One page-table entry: `size` bytes at its IOVA translate to `phys`.
#[derive(Clone, Copy)]
pub(super) struct Pte {
    pub(super) phys: u64,
    pub(super) size: u64,
    /// `IOMMU_READ` / `IOMMU_WRITE`.
    pub(super) prot: u32,
    /// Written through while the domain tracked dirty pages, not yet read and cleared.
    pub(super) dirty: bool,
}

/// A mock page table and its IOTLB state.
pub(super) struct PageTable {
    entries: RBTree<u64, Pte>,
    /// Entries removed whose invalidation has not been issued.
    stale: u64,
    /// Invalidations received.
    invalidations: u64,
    /// Every DMA through the domain snoops the CPU caches (`enforce_cache_coherency`).
    pub(super) coherent: bool,
    /// Dirty tracking is on (`set_dirty_tracking`).
    tracking: bool,
}

impl PageTable {
    /// The entry that translates `iova`, with its IOVA.
    pub(super) fn lookup(&self, iova: u64) -> Option<(u64, Pte)> {
        let (start, pte) = match self.entries.cursor_lower_bound(&iova) {
            Some(c) if *c.current().0 == iova => return Some((iova, *c.current().1)),
            Some(c) => c.peek_prev().map(|(&s, p)| (s, *p))?,
            None => self
                .entries
                .cursor_back()
                .map(|c| (*c.current().0, *c.current().1))?,
        };
        (iova - start < pte.size).then_some((start, pte))
    }

    /// Whether any entry translates an address of `start..=last`.
    fn overlaps(&self, start: u64, last: u64) -> bool {
        if self.lookup(start).is_some() {
            return true;
        }
        self.entries
            .cursor_lower_bound(&start)
            .is_some_and(|c| *c.current().0 <= last)
    }

    /// `(entries, stale, invalidations)`.
    pub(super) fn iotlb(&self) -> (u64, u64, u64) {
        (
            self.entries.iter().count() as u64,
            self.stale,
            self.invalidations,
        )
    }

    fn invalidate(&mut self) {
        self.stale = 0;
        self.invalidations += 1;
    }

    /// A device write of `start..=last`: sets the dirty bit of every entry it goes
    /// through while tracking is on.
    ///
    /// Errors: `EFAULT` a byte is not mapped writable (nothing is marked).
    pub(super) fn dma_write(&mut self, start: u64, last: u64) -> Result {
        let mut at = start;
        loop {
            let (s, pte) = self.lookup(at).ok_or(EFAULT)?;
            if pte.prot & bindings::IOMMU_WRITE == 0 {
                return Err(EFAULT);
            }
            match (s + (pte.size - 1)).checked_add(1) {
                Some(next) if next <= last => at = next,
                _ => break,
            }
        }
        if !self.tracking {
            return Ok(());
        }
        let mut at = start;
        loop {
            let Some((s, _)) = self.lookup(at) else { break };
            let Some(pte) = self.entries.get_mut(&s) else {
                break;
            };
            pte.dirty = true;
            match (s + (pte.size - 1)).checked_add(1) {
                Some(next) if next <= last => at = next,
                _ => break,
            }
        }
        Ok(())
    }
}

/// A paging domain of the mock IOMMU.
///
/// # Invariants
///
/// Allocated by [`MockDomain::new`], handed to the IOMMU core as `domain`, and freed only
/// by the core's `free` callback.
#[repr(C)]
#[pin_data]
pub(super) struct MockDomain {
    /// First field: the core's `struct iommu_domain` of a paging domain is a `MockDomain`.
    domain: Opaque<bindings::iommu_domain>,
    /// The mock IOMMU instance it was allocated for.
    instance: u32,
    #[pin]
    pub(super) table: Mutex<PageTable>,
}

const _: () = assert!(core::mem::offset_of!(MockDomain, domain) == 0);

impl MockDomain {
    /// Whether the IOMMU core gave the domain an MSI cookie (`iommu_get_msi_cookie`).
    pub(super) fn msi_cookie(&self) -> bool {
        // SAFETY: the domain is initialised; its cookie type is set before any device
        // is attached and read here under the device's lock.
        let cookie = unsafe { (*self.domain.get()).cookie_type };
        cookie == bindings::iommu_domain_cookie_type_IOMMU_COOKIE_DMA_MSI
    }

    /// A new, empty paging domain for devices of `instance`, translating `addr_width`
    /// bits of IOVA, as the core's `struct iommu_domain` pointer.
    pub(super) fn new(
        instance: u32,
        addr_width: u32,
        dirty: bool,
    ) -> Result<*mut bindings::iommu_domain> {
        let dirty_ops = if dirty {
            DIRTY_OPS.get().cast_const()
        } else {
            core::ptr::null()
        };
        let domain = bindings::iommu_domain {
            ops: PAGING_OPS.get().cast_const(),
            dirty_ops,
            pgsize_bitmap: IOASID_MOCK_PGSIZES as _,
            geometry: bindings::iommu_domain_geometry {
                aperture_start: 0,
                aperture_end: (1u64 << addr_width) - 1,
                force_aperture: true,
            },
            ..pin_init::zeroed()
        };
        let boxed = KBox::pin_init(
            pin_init!(MockDomain {
                domain: Opaque::new(domain),
                instance,
                table <- new_mutex!(PageTable {
                    entries: RBTree::new(),
                    stale: 0,
                    invalidations: 0,
                    coherent: false,
                    tracking: false,
                }),
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: freed by `free` only, never moved.
        let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(boxed) });
        Ok(raw.cast())
    }

    /// The mock domain of a paging domain the core hands the mock.
    ///
    /// # Safety
    ///
    /// `domain` was returned by [`MockDomain::new`] and not freed.
    unsafe fn from_raw<'a>(domain: *mut bindings::iommu_domain) -> &'a MockDomain {
        // SAFETY: `new` returned the first field of a live `MockDomain`.
        unsafe { &*domain.cast::<MockDomain>() }
    }

    /// As [`MockDomain::from_raw`], for the mock's other modules.
    ///
    /// # Safety
    ///
    /// As for [`MockDomain::from_raw`].
    pub(super) unsafe fn from_raw_ref<'a>(domain: *mut bindings::iommu_domain) -> &'a MockDomain {
        // SAFETY: as the caller guarantees.
        unsafe { Self::from_raw(domain) }
    }

    /// The instance it was allocated for.
    pub(super) fn instance(&self) -> u32 {
        self.instance
    }
}

/// Paging-domain operations of the mock.
pub(super) static PAGING_OPS: Global<bindings::iommu_domain_ops> =
    Global::new(bindings::iommu_domain_ops {
        attach_dev: Some(paging_attach_dev),
        set_dev_pasid: Some(paging_set_dev_pasid),
        map_pages: Some(map_pages),
        unmap_pages: Some(unmap_pages),
        flush_iotlb_all: Some(flush_iotlb_all),
        iotlb_sync: Some(iotlb_sync),
        iova_to_phys: Some(iova_to_phys),
        enforce_cache_coherency: Some(enforce_cache_coherency),
        free: Some(free),
        ..pin_init::zeroed()
    });

/// Dirty-tracking operations of mock paging domains allocated for it.
static DIRTY_OPS: Global<bindings::iommu_dirty_ops> = Global::new(bindings::iommu_dirty_ops {
    set_dirty_tracking: Some(set_dirty_tracking),
    read_and_clear_dirty: Some(read_and_clear_dirty),
});

unsafe extern "C" {
    /// `iommu_dirty_bitmap_record()`, from `glue.c`.
    fn ioasid_mock_dirty_record(dirty: *mut bindings::iommu_dirty_bitmap, iova: u64, len: u64);
}

/// # Safety
///
/// `iommu_dirty_ops.set_dirty_tracking`: called by the core's users with a live mock
/// paging domain allocated for dirty tracking.
unsafe extern "C" fn set_dirty_tracking(domain: *mut bindings::iommu_domain, on: bool) -> c_int {
    // SAFETY: as the caller guarantees.
    unsafe { MockDomain::from_raw(domain) }
        .table
        .lock()
        .tracking = on;
    0
}

/// # Safety
///
/// `iommu_dirty_ops.read_and_clear_dirty`: called by the core's users with a live mock
/// paging domain allocated for dirty tracking and a valid `dirty`, with no unmap of the
/// range running.
unsafe extern "C" fn read_and_clear_dirty(
    domain: *mut bindings::iommu_domain,
    iova: c_ulong,
    size: usize,
    flags: c_ulong,
    dirty: *mut bindings::iommu_dirty_bitmap,
) -> c_int {
    let (start, end) = (iova as u64, iova as u64 + size as u64);
    let clear = flags & bindings::IOMMU_DIRTY_NO_CLEAR as c_ulong == 0;
    let mut found = KVVec::new();
    {
        // SAFETY: as the caller guarantees.
        let mut table = unsafe { MockDomain::from_raw(domain) }.table.lock();
        // Entries that begin before the range and reach into it, then those inside it.
        let first = table.lookup(start).map_or(start, |(s, _)| s);
        let mut at = table.entries.cursor_lower_bound_mut(&first);
        while let Some(mut c) = at {
            let (s, pte) = c.current_mut();
            if *s >= end {
                break;
            }
            if pte.dirty {
                // Recorded for the part inside the range (a bitmap covers only that).
                let lo = (*s).max(start);
                let hi = (*s + pte.size).min(end);
                if found.push((lo, hi - lo), GFP_KERNEL).is_err() {
                    return ENOMEM.to_errno();
                }
                if clear {
                    pte.dirty = false;
                }
            }
            at = c.move_next();
        }
    }
    // Recorded without the table's lock: recording writes the user's bitmap, which may
    // fault and wait, and the lock is one that attach and DMA checks take.
    for &(lo, len) in found.iter() {
        // SAFETY: `dirty` is valid (caller).
        unsafe { ioasid_mock_dirty_record(dirty, lo, len) };
    }
    0
}

static BLOCKED_OPS: Global<bindings::iommu_domain_ops> = Global::new(bindings::iommu_domain_ops {
    attach_dev: Some(blocked_attach_dev),
    set_dev_pasid: Some(blocked_set_dev_pasid),
    ..pin_init::zeroed()
});

/// The mock's blocking domain (also every device's default domain): no DMA gets through.
pub(super) static BLOCKED: Global<bindings::iommu_domain> = Global::new(bindings::iommu_domain {
    type_: bindings::IOMMU_DOMAIN_BLOCKED,
    ops: BLOCKED_OPS.get().cast_const(),
    ..pin_init::zeroed()
});

/// Points (`dev`, `pasid`) at `domain` (`None`: blocked) in the mock hardware.
///
/// # Safety
///
/// `dev` is a device probed by the mock; `domain`, if any, is a live mock paging domain.
unsafe fn set_domain(
    dev: *mut bindings::device,
    pasid: Option<u32>,
    domain: Option<*mut bindings::iommu_domain>,
) -> c_int {
    // SAFETY: probed by the mock (caller), so on its bus.
    let mdev = unsafe { MockDev::from_raw(dev) };
    let domain = match domain {
        Some(d) => {
            // SAFETY: a live mock paging domain (caller).
            let d = unsafe { MockDomain::from_raw(d) };
            if d.instance != mdev.instance {
                // Another IOMMU's page table: this one cannot walk it.
                return EINVAL.to_errno();
            }
            Some(Slot::Paging(NonNull::from(d)))
        }
        None => None,
    };
    match mdev.attached.lock().set(pasid, domain) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Points (`dev`, `pasid`) at nested domain `nested` in the mock hardware.
///
/// # Safety
///
/// `dev` is a device probed by the mock.
pub(super) unsafe fn set_nested(
    dev: *mut bindings::device,
    pasid: Option<u32>,
    nested: &MockNested,
) -> c_int {
    // SAFETY: probed by the mock (caller), so on its bus.
    let mdev = unsafe { MockDev::from_raw(dev) };
    if nested.instance != mdev.instance {
        return EINVAL.to_errno();
    }
    match mdev
        .attached
        .lock()
        .set(pasid, Some(Slot::Nested(NonNull::from(nested))))
    {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// `iommu_domain_ops.attach_dev` of the blocking domain: called by the IOMMU core
/// with a device the mock probed.
unsafe extern "C" fn blocked_attach_dev(
    _domain: *mut bindings::iommu_domain,
    dev: *mut bindings::device,
    _old: *mut bindings::iommu_domain,
) -> c_int {
    // SAFETY: the core attaches only devices the mock probed.
    unsafe { set_domain(dev, None, None) }
}

/// # Safety
///
/// `iommu_domain_ops.set_dev_pasid` of the blocking domain: called by the IOMMU
/// core with a device the mock probed.
unsafe extern "C" fn blocked_set_dev_pasid(
    _domain: *mut bindings::iommu_domain,
    dev: *mut bindings::device,
    pasid: bindings::ioasid_t,
    _old: *mut bindings::iommu_domain,
) -> c_int {
    // SAFETY: the core attaches only devices the mock probed.
    unsafe { set_domain(dev, Some(pasid), None) }
}

/// # Safety
///
/// `iommu_domain_ops.attach_dev` of paging domains: called by the IOMMU core with
/// a live mock paging domain and a device the mock probed.
unsafe extern "C" fn paging_attach_dev(
    domain: *mut bindings::iommu_domain,
    dev: *mut bindings::device,
    _old: *mut bindings::iommu_domain,
) -> c_int {
    // SAFETY: a device the mock probed, and a paging domain of the mock (these ops are
    // only ever set on mock paging domains).
    unsafe { set_domain(dev, None, Some(domain)) }
}

/// # Safety
///
/// `iommu_domain_ops.set_dev_pasid` of paging domains: called by the IOMMU core
/// with a live mock paging domain and a device the mock probed.
unsafe extern "C" fn paging_set_dev_pasid(
    domain: *mut bindings::iommu_domain,
    dev: *mut bindings::device,
    pasid: bindings::ioasid_t,
    _old: *mut bindings::iommu_domain,
) -> c_int {
    // SAFETY: as for `paging_attach_dev`.
    unsafe { set_domain(dev, Some(pasid), Some(domain)) }
}

/// # Safety
///
/// `iommu_domain_ops.map_pages`: called by the IOMMU core with a live mock paging
/// domain and, if it returns a count, a valid `mapped`.
unsafe extern "C" fn map_pages(
    domain: *mut bindings::iommu_domain,
    iova: c_ulong,
    paddr: bindings::phys_addr_t,
    pgsize: usize,
    pgcount: usize,
    prot: c_int,
    _gfp: bindings::gfp_t,
    mapped: *mut usize,
) -> c_int {
    // SAFETY: the core maps only into live domains; these ops are only on mock ones.
    let d = unsafe { MockDomain::from_raw(domain) };
    let mut table = d.table.lock();
    let size = pgsize as u64;
    for i in 0..pgcount as u64 {
        let at = iova as u64 + i * size;
        if table.overlaps(at, at + (size - 1)) {
            // The core never maps over a mapping; a bug of its caller's.
            return EEXIST.to_errno();
        }
        let pte = Pte {
            phys: paddr + i * size,
            size,
            prot: prot as u32,
            dirty: false,
        };
        // The mock needs a sleepable context: it is only used by /dev/ioasid.
        let node = match RBTreeNode::new(at, pte, GFP_KERNEL) {
            Ok(node) => node,
            Err(_) => return ENOMEM.to_errno(),
        };
        table.entries.insert(node);
        // SAFETY: the core passes a valid counter of bytes mapped.
        unsafe { *mapped += pgsize };
    }
    0
}

/// # Safety
///
/// `iommu_domain_ops.unmap_pages`: called by the IOMMU core with a live mock paging
/// domain.
unsafe extern "C" fn unmap_pages(
    domain: *mut bindings::iommu_domain,
    iova: c_ulong,
    pgsize: usize,
    pgcount: usize,
    _gather: *mut bindings::iommu_iotlb_gather,
) -> usize {
    // SAFETY: as for `map_pages`.
    let d = unsafe { MockDomain::from_raw(domain) };
    let mut table = d.table.lock();
    let total = (pgsize * pgcount) as u64;
    let mut done = 0u64;
    // Entries are removed whole, as they were mapped; the core asks only for what it
    // mapped. The invalidation comes with `iotlb_sync`.
    while done < total {
        match table.entries.remove(&(iova as u64 + done)) {
            Some(pte) => {
                done += pte.size;
                table.stale += 1;
            }
            None => break,
        }
    }
    done as usize
}

/// # Safety
///
/// `iommu_domain_ops.flush_iotlb_all`: called by the IOMMU core with a live mock
/// paging domain.
unsafe extern "C" fn flush_iotlb_all(domain: *mut bindings::iommu_domain) {
    // SAFETY: as for `map_pages`.
    unsafe { MockDomain::from_raw(domain) }
        .table
        .lock()
        .invalidate();
}

/// # Safety
///
/// `iommu_domain_ops.iotlb_sync`: called by the IOMMU core with a live mock paging
/// domain.
unsafe extern "C" fn iotlb_sync(
    domain: *mut bindings::iommu_domain,
    _gather: *mut bindings::iommu_iotlb_gather,
) {
    // SAFETY: as for `map_pages`.
    unsafe { MockDomain::from_raw(domain) }
        .table
        .lock()
        .invalidate();
}

/// # Safety
///
/// `iommu_domain_ops.iova_to_phys`: called by the IOMMU core with a live mock
/// paging domain.
unsafe extern "C" fn iova_to_phys(
    domain: *mut bindings::iommu_domain,
    iova: bindings::dma_addr_t,
) -> bindings::phys_addr_t {
    // SAFETY: as for `map_pages`.
    let d = unsafe { MockDomain::from_raw(domain) };
    match d.table.lock().lookup(iova) {
        Some((start, pte)) => pte.phys + (iova - start),
        None => 0,
    }
}

/// # Safety
///
/// `iommu_domain_ops.enforce_cache_coherency`: called by the IOMMU core's users with a
/// live mock paging domain.
unsafe extern "C" fn enforce_cache_coherency(domain: *mut bindings::iommu_domain) -> bool {
    // SAFETY: as the caller guarantees.
    let mut table = unsafe { MockDomain::from_raw(domain) }.table.lock();
    // As real IOMMUs: only before anything is mapped (or once it is already enforced).
    if table.entries.iter().next().is_some() && !table.coherent {
        return false;
    }
    table.coherent = true;
    true
}

/// # Safety
///
/// `iommu_domain_ops.free`: called by the IOMMU core once per mock paging domain,
/// with no device attached; the domain is not used afterwards.
unsafe extern "C" fn free(domain: *mut bindings::iommu_domain) {
    // SAFETY: `domain` came from `MockDomain::new` as a `KBox`, and the core frees it once,
    // with no device attached.
    drop(unsafe { KBox::from_raw(domain.cast::<MockDomain>()) });
}
