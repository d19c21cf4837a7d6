// SPDX-License-Identifier: GPL-2.0

//! Nested domains of the mock IOMMU: a user-owned stage-1 table (`IOASID_FORMAT_MOCK`,
//! `struct ioasid_table_mock` of `include/uapi/linux/ioasid.h`) on a mock paging domain
//! as stage 2.
//!
//! Translating a stage-1 IOVA reads the table's entry through stage 2 (the table lives
//! in guest memory), caches it in the domain's IOTLB, and translates its output through
//! stage 2 again. Cached entries stay until an invalidation (`cache_invalidate_user`)
//! removes them, as in hardware: a test that changes the table without invalidating
//! still sees the old translation.

use core::ptr::NonNull;
use kernel::{
    bindings, new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::Mutex,
    types::Opaque,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

use super::{
    domain::{
        self,
        MockDomain, //
    },
    hw::{
        Global, //
    },
};
use crate::abi::{
    ioasid_inval_mock, ioasid_table_mock, IOASID_FORMAT_MOCK, IOASID_FORMAT_MOCK_PASID_TABLE,
    IOASID_INVAL_MOCK_ALL, IOASID_INVAL_MOCK_PASID,
};

// SAFETY: integer fields only, no padding: any bit pattern is valid.
unsafe impl kernel::transmute::FromBytes for ioasid_table_mock {}
// SAFETY: as above.
unsafe impl kernel::transmute::FromBytes for ioasid_inval_mock {}

/// Stage-1 IOVAs a mock table translates: 512 entries of 4 KiB.
const S1_ENTRIES: u64 = 512;
const PTE_PRESENT: u64 = 1 << 0;
const PTE_WRITE: u64 = 1 << 1;

// From glue.c.
unsafe extern "C" {
    fn ioasid_mock_read_phys(phys: u64, buf: *mut c_void, len: usize);
}

/// The IOTLB of a nested domain: stage-1 entries it read, by stage-1 page.
struct Iotlb {
    /// `(PASID table entry, stage-1 page, stage-1 entry)`.
    cached: KVec<(u32, u64, u64)>,
    invalidations: u64,
}

/// Entries of a mock PASID table.
const PASID_ENTRIES: u32 = 64;

/// A nested domain of the mock IOMMU.
///
/// # Invariants
///
/// Allocated by [`alloc`] and freed only by the core's `free` callback; `parent` is a
/// live mock paging domain for as long as this one lives (the core's user keeps a
/// parent alive under its nested domains).
#[repr(C)]
#[pin_data]
pub(super) struct MockNested {
    /// First field: the core's `struct iommu_domain` of a nested domain is a `MockNested`.
    domain: Opaque<bindings::iommu_domain>,
    parent: NonNull<MockDomain>,
    /// Guest physical address (parent IOVA) of the table.
    table: u64,
    /// The table is a PASID table (`IOASID_FORMAT_MOCK_PASID_TABLE`) whose entries point
    /// at stage-1 tables, rather than a stage-1 table.
    pasid_table: bool,
    pub(super) instance: u32,
    #[pin]
    iotlb: Mutex<Iotlb>,
}

const _: () = assert!(core::mem::offset_of!(MockNested, domain) == 0);

// SAFETY: `parent` is only read through `&`, and the domain's mutable state is under
// its lock.
unsafe impl Send for MockNested {}
// SAFETY: as above.
unsafe impl Sync for MockNested {}

/// One translation: `phys` of the 4 KiB page, its `IOMMU_READ`/`IOMMU_WRITE`, entry size.
pub(super) type Translation = (u64, u32, u64);

impl MockNested {
    /// The parent (stage 2).
    fn parent(&self) -> &MockDomain {
        // SAFETY: live as long as `self` (invariant).
        unsafe { self.parent.as_ref() }
    }

    /// Whether it is a whole PASID table, which serves every PASID of the device.
    pub(super) fn is_pasid_table(&self) -> bool {
        self.pasid_table
    }

    /// The physical page and permissions DMA to stage-1 `iova` reaches, if any; `pasid`
    /// picks the PASID table's entry (`None`: entry 0, DMA without PASID).
    pub(super) fn translate(&self, pasid: Option<u32>, iova: u64) -> Option<Translation> {
        let page = iova / PAGE_SIZE as u64;
        let entry = if self.pasid_table {
            pasid.unwrap_or(0)
        } else {
            0
        };
        if page >= S1_ENTRIES || entry >= PASID_ENTRIES {
            return None;
        }
        let mut iotlb = self.iotlb.lock();
        let pte = match iotlb
            .cached
            .iter()
            .find(|(e, p, _)| *e == entry && *p == page)
        {
            Some(&(_, _, pte)) => pte,
            None => {
                let table = if self.pasid_table {
                    let pe = self.read_entry(self.table, entry as u64)?;
                    if pe & PTE_PRESENT == 0 {
                        return None;
                    }
                    pe & !(PAGE_SIZE as u64 - 1)
                } else {
                    self.table
                };
                let pte = self.read_entry(table, page)?;
                if pte & PTE_PRESENT == 0 {
                    return None;
                }
                // An entry that cannot be cached is read again next time.
                let _ = iotlb.cached.push((entry, page, pte), GFP_KERNEL);
                pte
            }
        };
        if pte & PTE_PRESENT == 0 {
            return None;
        }
        let gpa = (pte & !(PAGE_SIZE as u64 - 1)) + iova % PAGE_SIZE as u64;
        let table = self.parent().table.lock();
        let (start, s2) = table.lookup(gpa)?;
        let mut prot = s2.prot & bindings::IOMMU_READ;
        if pte & PTE_WRITE != 0 {
            prot |= s2.prot & bindings::IOMMU_WRITE;
        }
        Some((s2.phys + (gpa - start), prot, PAGE_SIZE as u64))
    }

    /// Reads entry `index` of the guest table at `table` through stage 2.
    fn read_entry(&self, table: u64, index: u64) -> Option<u64> {
        let gpa = table + index * 8;
        let table = self.parent().table.lock();
        let (start, s2) = table.lookup(gpa)?;
        if s2.prot & bindings::IOMMU_READ == 0 {
            return None;
        }
        let mut pte = [0u8; 8];
        // SAFETY: stage 2 maps the page, pinned by the parent's user; it cannot be
        // unmapped (and unpinned) while we hold the parent's table lock. 8-aligned
        // reads never cross a page.
        unsafe { ioasid_mock_read_phys(s2.phys + (gpa - start), pte.as_mut_ptr().cast(), 8) };
        Some(u64::from_le_bytes(pte))
    }

    /// `(cached entries, invalidations)`.
    pub(super) fn iotlb(&self) -> (u64, u64) {
        let iotlb = self.iotlb.lock();
        (iotlb.cached.len() as u64, iotlb.invalidations)
    }

    /// The mock nested domain of a nested domain the core hands the mock.
    ///
    /// # Safety
    ///
    /// `domain` was returned by [`alloc`] and not freed.
    pub(super) unsafe fn from_raw<'a>(domain: *mut bindings::iommu_domain) -> &'a MockNested {
        // SAFETY: `alloc` returned the first field of a live `MockNested`.
        unsafe { &*domain.cast::<MockNested>() }
    }
}

/// Allocates a nested domain for `instance` on `parent` from the user's table.
///
/// Errors: `EINVAL` the parent is not a mock paging domain of the instance, a bad or
/// misaligned table, `EOPNOTSUPP` not the mock format, `ENXIO` the table is not mapped
/// (readable) in the parent, `EFAULT`, `ENOMEM`.
///
/// # Safety
///
/// `parent` is a live domain; `user` is the core's valid description of user data.
pub(super) unsafe fn alloc(
    instance: u32,
    parent: *mut bindings::iommu_domain,
    user: *const bindings::iommu_user_data,
) -> Result<*mut bindings::iommu_domain> {
    // SAFETY: `parent` is live (caller).
    if unsafe { (*parent).ops } != domain::PAGING_OPS.get().cast_const() {
        return Err(EINVAL);
    }
    // SAFETY: a mock paging domain (its ops say so).
    let parent_ref = unsafe { MockDomain::from_raw_ref(parent) };
    if parent_ref.instance() != instance {
        return Err(EINVAL);
    }
    // SAFETY: valid (caller).
    let user = unsafe { &*user };
    if user.type_ != IOASID_FORMAT_MOCK && user.type_ != IOASID_FORMAT_MOCK_PASID_TABLE {
        return Err(EOPNOTSUPP);
    }
    // Both formats' descriptions have the same layout (`ioasid_table_mock_pasid`).
    const _: () =
        assert!(size_of::<ioasid_table_mock>() == size_of::<crate::abi::ioasid_table_mock_pasid>());
    if user.len != size_of::<ioasid_table_mock>() {
        return Err(EINVAL);
    }
    let desc: ioasid_table_mock = UserSlice::new(UserPtr::from_ptr(user.uptr), user.len)
        .reader()
        .read()?;
    if desc.flags != 0 || desc.__reserved != 0 || desc.table % PAGE_SIZE as u64 != 0 {
        return Err(EINVAL);
    }
    match parent_ref.table.lock().lookup(desc.table) {
        Some((_, s2)) if s2.prot & bindings::IOMMU_READ != 0 => {}
        _ => return Err(ENXIO),
    }
    let domain = bindings::iommu_domain {
        type_: bindings::IOMMU_DOMAIN_NESTED,
        ops: NESTED_OPS.get().cast_const(),
        ..pin_init::zeroed()
    };
    let boxed = KBox::pin_init(
        pin_init!(MockNested {
            domain: Opaque::new(domain),
            parent: NonNull::from(parent_ref),
            table: desc.table,
            pasid_table: user.type_ == IOASID_FORMAT_MOCK_PASID_TABLE,
            instance,
            iotlb <- new_mutex!(Iotlb {
                cached: KVec::new(),
                invalidations: 0,
            }),
        }),
        GFP_KERNEL,
    )?;
    // SAFETY: freed by `free` only, never moved.
    Ok(KBox::into_raw(unsafe { Pin::into_inner_unchecked(boxed) }).cast())
}

static NESTED_OPS: Global<bindings::iommu_domain_ops> = Global::new(bindings::iommu_domain_ops {
    attach_dev: Some(attach_dev),
    set_dev_pasid: Some(set_dev_pasid),
    cache_invalidate_user: Some(cache_invalidate_user),
    free: Some(free),
    ..pin_init::zeroed()
});

/// # Safety
///
/// `iommu_domain_ops.attach_dev` of nested domains: called by the IOMMU core with a
/// live mock nested domain and a device the mock probed.
unsafe extern "C" fn attach_dev(
    domain: *mut bindings::iommu_domain,
    dev: *mut bindings::device,
    _old: *mut bindings::iommu_domain,
) -> c_int {
    // SAFETY: a device the mock probed; a nested domain of the mock (these ops are only
    // set on those).
    unsafe { domain::set_nested(dev, None, MockNested::from_raw(domain)) }
}

/// # Safety
///
/// `iommu_domain_ops.set_dev_pasid` of nested domains: called by the IOMMU core
/// with a live mock nested domain and a device the mock probed.
unsafe extern "C" fn set_dev_pasid(
    domain: *mut bindings::iommu_domain,
    dev: *mut bindings::device,
    pasid: bindings::ioasid_t,
    _old: *mut bindings::iommu_domain,
) -> c_int {
    // SAFETY: as for `attach_dev`.
    unsafe { domain::set_nested(dev, Some(pasid), MockNested::from_raw(domain)) }
}

/// # Safety
///
/// `iommu_domain_ops.cache_invalidate_user`: called by the IOMMU core with a live
/// mock nested domain and a valid user array description.
unsafe extern "C" fn cache_invalidate_user(
    domain: *mut bindings::iommu_domain,
    array: *mut bindings::iommu_user_data_array,
) -> c_int {
    // SAFETY: a nested domain of the mock; the core passes a valid array.
    let (nested, array) = unsafe { (MockNested::from_raw(domain), &mut *array) };
    if array.type_ != IOASID_FORMAT_MOCK && array.type_ != IOASID_FORMAT_MOCK_PASID_TABLE {
        return EOPNOTSUPP.to_errno();
    }
    let len = size_of::<ioasid_inval_mock>();
    if array.entry_len < len {
        array.entry_num = 0;
        return EINVAL.to_errno();
    }
    for i in 0..array.entry_num {
        let at = array.uptr as usize + i as usize * array.entry_len;
        let mut reader = UserSlice::new(UserPtr::from_addr(at), array.entry_len).reader();
        let req = match reader.read::<ioasid_inval_mock>() {
            Ok(req) => req,
            Err(e) => {
                array.entry_num = i;
                return e.to_errno();
            }
        };
        if let Err(e) = nested.invalidate(&req) {
            array.entry_num = i;
            return e.to_errno();
        }
    }
    0
}

impl MockNested {
    /// Carries out one invalidation request.
    fn invalidate(&self, req: &ioasid_inval_mock) -> Result {
        let page = PAGE_SIZE as u64;
        if req.flags & !(IOASID_INVAL_MOCK_ALL | IOASID_INVAL_MOCK_PASID) != 0 {
            return Err(EOPNOTSUPP);
        }
        // SAFETY: both members of the union are `__u32`.
        let pasid = unsafe { req.__bindgen_anon_1.pasid };
        let only = if req.flags & IOASID_INVAL_MOCK_PASID != 0 {
            if !self.pasid_table || pasid >= PASID_ENTRIES {
                return Err(EINVAL);
            }
            Some(pasid)
        } else if pasid != 0 {
            return Err(EINVAL);
        } else {
            None
        };
        let mut range = (0, u64::MAX);
        if req.flags & IOASID_INVAL_MOCK_ALL == 0 {
            if req.size == 0 || req.iova % page != 0 || req.size % page != 0 {
                return Err(EINVAL);
            }
            let last = req.iova.checked_add(req.size - 1).ok_or(EINVAL)?;
            range = (req.iova / page, last / page);
        }
        let mut iotlb = self.iotlb.lock();
        iotlb
            .cached
            .retain(|(e, p, _)| only.is_some_and(|o| o != *e) || *p < range.0 || *p > range.1);
        iotlb.invalidations += 1;
        Ok(())
    }
}

/// # Safety
///
/// `iommu_domain_ops.free` of nested domains: called by the IOMMU core once per mock
/// nested domain, with no device attached; the domain is not used afterwards.
unsafe extern "C" fn free(domain: *mut bindings::iommu_domain) {
    // SAFETY: `domain` came from `alloc` as a `KBox`; the core's user frees it once, with
    // no device attached.
    drop(unsafe { KBox::from_raw(domain.cast::<MockNested>()) });
}
