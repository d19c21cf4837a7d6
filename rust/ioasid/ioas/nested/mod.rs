// SPDX-License-Identifier: GPL-2.0

//! Child (nested) address spaces: a user-owned stage-1 table format on a parent
//! [`Ioas`] (stage 2).
//!
//! A child holds no mappings of its own: it is the name under which userspace binds its
//! tables for devices (and PASIDs), and the scope of its cache invalidations. Each bind
//! is either a nested IOMMU domain on a nest-parent domain of the parent (the device's
//! IOMMU takes the format), or a [`soft::Shadow`] that ioasid keeps itself (it walks the
//! format); the device's binding (`crate::device`) owns it, and the child keeps a
//! reference to reach it for invalidations.

use kernel::{
    bindings, new_mutex,
    prelude::*,
    sync::{
        Arc,
        Mutex, //
    },
};

use super::{
    ChildUse,
    Ioas, //
};
use crate::{
    abi::{
        IOASID_FORMAT_AMD_V2,
        IOASID_FORMAT_ARM_SMMUV3,
        IOASID_FORMAT_MOCK,
        IOASID_FORMAT_MOCK_PASID_TABLE,
        IOASID_FORMAT_VTD_S1, //
    },
    fault::{
        FaultQueue,
        Route, //
    },
    iommu::Domain,
    pasid::NsKey,
};

pub(crate) mod ioctl;
pub(crate) mod soft;

/// `IOMMU_HWPT_INVALIDATE_DATA_VTD_S1` of `include/uapi/linux/iommufd.h` (checked in
/// `helpers.c`); bindgen leaves that enum out.
const HWPT_INVALIDATE_DATA_VTD_S1: u32 = 0;

// A child's format is the IOMMU core's data type of its nested domains.
const _: () = {
    assert!(IOASID_FORMAT_VTD_S1 == bindings::iommu_hwpt_data_type_IOMMU_HWPT_DATA_VTD_S1);
    assert!(IOASID_FORMAT_ARM_SMMUV3 == bindings::iommu_hwpt_data_type_IOMMU_HWPT_DATA_ARM_SMMUV3);
    assert!(IOASID_FORMAT_AMD_V2 == bindings::iommu_hwpt_data_type_IOMMU_HWPT_DATA_AMD_GUEST);
};

/// The IOMMU core's invalidation data type for the caches of a child of `format`, which
/// is not the format's own value (VT-d: tables of type 1, invalidations of type 0); `None`
/// for formats whose nested domains take no invalidation of their own (the SMMUv3 and AMD
/// drivers invalidate through a vIOMMU object, which ioasid does not offer).
fn invalidation_type(format: u32) -> Option<u32> {
    match format {
        IOASID_FORMAT_VTD_S1 => Some(HWPT_INVALIDATE_DATA_VTD_S1),
        // The mock's invalidations are typed by its format.
        IOASID_FORMAT_MOCK | IOASID_FORMAT_MOCK_PASID_TABLE => Some(format),
        _ => None,
    }
}

/// Software invalidation requests read (and applied under one lock hold) at a time.
const REQUESTS_AT_ONCE: usize = 128;

/// Which bound tables an invalidation is for.
pub(crate) struct Filter {
    /// Only those of this device ID.
    pub(crate) dev_id: Option<u32>,
    /// Only those of this PASID: its namespace's key and its name there.
    pub(crate) pasid: Option<(NsKey, u32)>,
}

/// One table bound to the child.
struct Bound {
    dev_id: u32,
    pasid: Option<(NsKey, u32)>,
    domain: Arc<Domain>,
    /// Translated by ioasid: its invalidations rebuild the shadow.
    shadow: Option<Arc<soft::Shadow>>,
}

struct Inner {
    bound: KVec<Bound>,
    dead: bool,
}

/// A child address space.
#[pin_data]
pub(crate) struct Child {
    /// The parent, which counts this child in while it lives.
    parent: ChildUse,
    format: u32,
    /// The fault queue its bound tables report to, and its own ID.
    faults: Option<(Arc<FaultQueue>, u32)>,
    #[pin]
    inner: Mutex<Inner>,
}

impl Child {
    /// A child of `parent` for tables of `format`.
    ///
    /// Errors: `ENOENT` the parent was destroyed meanwhile, `ENOMEM`.
    pub(crate) fn new(
        parent: Arc<Ioas>,
        format: u32,
        faults: Option<(Arc<FaultQueue>, u32)>,
    ) -> Result<Arc<Self>> {
        let parent = parent.add_child()?;
        Arc::pin_init(
            pin_init!(Self {
                parent,
                format,
                faults,
                inner <- new_mutex!(Inner {
                    bound: KVec::new(),
                    dead: false,
                }),
            }),
            GFP_KERNEL,
        )
    }

    /// The parent address space.
    pub(crate) fn parent(&self) -> &Arc<Ioas> {
        self.parent.ioas()
    }

    /// Where the page requests of `dev_id`'s tables go.
    pub(crate) fn fault_route(&self, dev_id: u32) -> Option<Route> {
        self.faults.as_ref().map(|(queue, id)| Route {
            queue: queue.clone(),
            ioas_id: *id,
            dev_id,
        })
    }

    /// The format of its tables.
    pub(crate) fn format(&self) -> u32 {
        self.format
    }

    /// Records a bound table.
    ///
    /// Errors: `ENOENT` destroyed meanwhile, `ENOMEM`.
    pub(crate) fn add(
        &self,
        dev_id: u32,
        pasid: Option<(NsKey, u32)>,
        domain: Arc<Domain>,
        shadow: Option<Arc<soft::Shadow>>,
    ) -> Result {
        let mut inner = self.inner.lock();
        if inner.dead {
            return Err(ENOENT);
        }
        inner.bound.push(
            Bound {
                dev_id,
                pasid,
                domain,
                shadow,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// Forgets the table bound as `domain`.
    pub(crate) fn remove(&self, domain: &Arc<Domain>) {
        self.inner
            .lock()
            .bound
            .retain(|b| !Arc::ptr_eq(&b.domain, domain));
    }

    /// Passes `*entry_num` invalidation requests to every bound table `filter` selects;
    /// `*entry_num` becomes how many were carried out on all of them.
    ///
    /// The requests are read from user memory (by the IOMMU driver for hardware tables,
    /// here for software ones) without the child's lock or any lock of the parent held:
    /// a request buffer that blocks (a userfaultfd page) must not stall binds, unbinds or
    /// the parent's maps. A table unbound during the call may still be invalidated, which
    /// is harmless: its domain (and the parent under it) lives while referenced, and a
    /// killed shadow ignores it.
    ///
    /// Errors: `EOPNOTSUPP` the format takes no invalidation through its domains, and
    /// those of the IOMMU driver or of [`soft::vtd_request`] and
    /// [`soft::Shadow::refresh`] (`EINVAL` a bad request).
    pub(crate) fn invalidate(
        &self,
        filter: &Filter,
        uptr: usize,
        entry_len: u32,
        entry_num: &mut u32,
    ) -> Result {
        // The first target (one table bound: the common case) needs no memory.
        let (first, more) = {
            let inner = self.inner.lock();
            let mut first = None;
            let mut more = KVec::new();
            for b in inner.bound.iter() {
                if filter.dev_id.is_some_and(|d| d != b.dev_id)
                    || filter.pasid.is_some_and(|p| Some(p) != b.pasid)
                {
                    continue;
                }
                let target = (b.domain.clone(), b.shadow.clone());
                if first.is_none() {
                    first = Some(target);
                } else {
                    more.push(target, GFP_KERNEL)?;
                }
            }
            (first, more)
        };
        let wanted = *entry_num;
        let mut done = wanted;
        let mut result = Ok(());
        for (domain, shadow) in Iterator::chain(first.iter(), more.iter()) {
            let mut n = wanted;
            let r = match shadow {
                Some(shadow) => self.invalidate_shadow(shadow, uptr, entry_len, &mut n),
                None => invalidation_type(self.format)
                    .ok_or(EOPNOTSUPP)
                    .and_then(|t| domain.invalidate_user(t, uptr, entry_len, &mut n)),
            };
            done = done.min(n);
            if r.is_err() {
                result = r;
                break;
            }
        }
        *entry_num = done;
        result
    }

    /// Carries out `*n` requests at `uptr` on a software table, [`REQUESTS_AT_ONCE`] at a
    /// time: read and checked with no lock held, then their ranges rebuilt under the
    /// parent's lock with one IOTLB flush; `*n` becomes how many were.
    fn invalidate_shadow(
        &self,
        shadow: &soft::Shadow,
        uptr: usize,
        entry_len: u32,
        n: &mut u32,
    ) -> Result {
        let wanted = *n as usize;
        // One request (the common call) is read into the stack, more into a vector.
        let mut one = [(0, 0); 1];
        let mut many = KVec::new();
        let ranges: &mut [(u64, u64)] = if wanted <= one.len() {
            &mut one
        } else {
            many.resize(REQUESTS_AT_ONCE.min(wanted), (0, 0), GFP_KERNEL)?;
            &mut many
        };
        let mut done = 0usize;
        *n = 0;
        while done < wanted {
            let mut got = 0;
            let mut bad = Ok(());
            while done + got < wanted && got < ranges.len() {
                let i = done + got;
                let at = i
                    .checked_mul(entry_len as usize)
                    .and_then(|off| uptr.checked_add(off))
                    .ok_or(EFAULT);
                match at.and_then(|at| soft::vtd_request(at, entry_len as usize)) {
                    Ok(range) => {
                        ranges[got] = range;
                        got += 1;
                    }
                    Err(e) => {
                        bad = Err(e);
                        break;
                    }
                }
            }
            if got == 0 {
                // The group's first request is bad.
                return bad;
            }
            crate::uapi::pause_point()?;
            let mut applied = 0;
            let result = self
                .parent()
                .refresh_shadow(shadow, &ranges[..got], &mut applied);
            done += applied;
            *n = done as u32;
            result?;
            bad?;
        }
        Ok(())
    }

    /// Marks the child destroyed unless a table is bound (`EBUSY`).
    pub(crate) fn kill(&self) -> Result {
        let mut inner = self.inner.lock();
        if !inner.bound.is_empty() {
            return Err(EBUSY);
        }
        inner.dead = true;
        Ok(())
    }
}

#[kunit_tests(ioasid_nested)]
mod tests {
    use super::*;

    /// Each format's invalidations carry the data type its driver checks for.
    #[test]
    fn invalidation_types() {
        assert_eq!(invalidation_type(IOASID_FORMAT_VTD_S1), Some(0));
        assert_eq!(
            invalidation_type(IOASID_FORMAT_MOCK),
            Some(IOASID_FORMAT_MOCK)
        );
        assert_eq!(
            invalidation_type(IOASID_FORMAT_MOCK_PASID_TABLE),
            Some(IOASID_FORMAT_MOCK_PASID_TABLE)
        );
        assert_eq!(invalidation_type(IOASID_FORMAT_ARM_SMMUV3), None);
        assert_eq!(invalidation_type(IOASID_FORMAT_AMD_V2), None);
        assert_eq!(invalidation_type(0), None);
    }
}
