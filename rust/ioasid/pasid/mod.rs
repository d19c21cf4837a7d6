// SPDX-License-Identifier: GPL-2.0

//! PASID namespaces: PASIDs allocated and freed on an object of a context, shared by its
//! devices, and charged to a per-user quota.
//!
//! Each PASID of a namespace has the name the user knows it by (its vPASID) and the
//! physical PASID (pPASID) the devices tag their DMA with, allocated from the IOMMU
//! core's global allocator ([`GlobalPasid`]). The two are equal unless the user chose the
//! vPASID (`IOASID_PASID_ALLOC_VPASID`); [`PasidNs::translate`] answers the mapping for
//! in-kernel consumers (`ioasid_pasid_translate()`).
//!
//! Locking: a namespace's lock is taken after a device's lock (attach) and never with
//! an address space's lock held; the quota's global lock is taken under it.

use kernel::{
    current, new_mutex,
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    sync::{
        Arc,
        Mutex, //
    },
    task::Kuid,
};

use crate::iommu::{
    DmaOwner,
    GlobalPasid, //
};

pub(crate) mod ioctl;

/// PASIDs are 20 bits (PCIe); 0 is the no-PASID tag.
pub(crate) const PASID_LIMIT: u32 = 1 << crate::abi::IOASID_PASID_WIDTH_MAX;

kernel::sync::global_lock! {
    // SAFETY: initialised by the module's init (`init_quota`) before /dev/ioasid exists.
    unsafe(uninit) static USERS: Mutex<KVec<(Kuid, u32)>> = KVec::new();
}

/// Initialises the quota table.
///
/// # Safety
///
/// Called exactly once, by module init, before anything uses the table.
pub(crate) unsafe fn init_quota() {
    // SAFETY: as the caller guarantees.
    unsafe { USERS.init() };
}

/// One PASID charged to a user's quota; uncharged on drop.
struct QuotaCharge(Kuid);

impl QuotaCharge {
    /// Charges one PASID to the calling task's user.
    ///
    /// Errors: `EDQUOT` the user already holds `quota` PASIDs, `ENOMEM`.
    fn charge(quota: u32) -> Result<Self> {
        let uid = current!().uid();
        let mut users = USERS.lock();
        match users.iter_mut().find(|(u, _)| *u == uid) {
            Some((_, n)) if *n >= quota => return Err(EDQUOT),
            Some((_, n)) => *n += 1,
            None if quota == 0 => return Err(EDQUOT),
            None => users.push((uid, 1), GFP_KERNEL)?,
        }
        Ok(Self(uid))
    }
}

impl Drop for QuotaCharge {
    fn drop(&mut self) {
        let mut users = USERS.lock();
        if let Some(i) = users.iter().position(|(u, _)| *u == self.0) {
            users[i].1 -= 1;
            if users[i].1 == 0 {
                let _ = users.remove(i);
            }
        }
    }
}

/// A PASID of a namespace (the tree's key is its name, the vPASID).
struct Entry {
    ppasid: GlobalPasid,
    /// (device, PASID) attachments using it.
    attached: usize,
    _charge: QuotaCharge,
}

struct Inner {
    /// By name: every operation on a PASID finds it in O(log n), however many are live.
    entries: RBTree<u32, Entry>,
    /// Destroyed: nothing may be added.
    dead: bool,
}

/// The identity of a live PASID namespace (its address, never dereferenced through this).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct NsKey(usize);

/// A PASID namespace.
#[pin_data]
pub(crate) struct PasidNs {
    #[pin]
    inner: Mutex<Inner>,
}

impl PasidNs {
    /// The namespace's identity.
    pub(crate) fn key(this: &Arc<Self>) -> NsKey {
        NsKey(Arc::as_ptr(this) as usize)
    }

    /// A new, empty namespace.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                inner <- new_mutex!(Inner {
                    entries: RBTree::new(),
                    dead: false,
                }),
            }),
            GFP_KERNEL,
        )
    }

    /// Allocates a PASID that fits the device `owner` holds, named `vpasid` (or by its
    /// own value), charged to the caller's user; returns its name.
    ///
    /// Errors: `EINVAL` `vpasid` out of range, `EOPNOTSUPP` no PASID capability, `EEXIST`
    /// the name is taken, `EDQUOT`, `ENOSPC`, `ENOMEM`, `ENOENT` destroyed meanwhile.
    pub(crate) fn alloc(&self, owner: &DmaOwner, vpasid: Option<u32>, quota: u32) -> Result<u32> {
        if vpasid.is_some_and(|v| v == 0 || v >= PASID_LIMIT) {
            return Err(EINVAL);
        }
        if owner.max_pasids() == 0 {
            return Err(EOPNOTSUPP);
        }
        let mut inner = self.inner.lock();
        if inner.dead {
            return Err(ENOENT);
        }
        if let Some(v) = vpasid {
            if inner.entries.get(&v).is_some() {
                return Err(EEXIST);
            }
        }
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let charge = QuotaCharge::charge(quota)?;
        // An unnamed PASID is named by its value, which must not already be a name the
        // user chose: such values are set aside (and returned) until a free one comes.
        let mut set_aside = KVec::new();
        let ppasid = loop {
            let p = GlobalPasid::alloc(owner)?;
            if vpasid.is_some() || inner.entries.get(&p.value()).is_none() {
                break p;
            }
            set_aside.push(p, GFP_KERNEL)?;
        };
        let name = vpasid.unwrap_or(ppasid.value());
        inner.entries.insert(node.into_node(
            name,
            Entry {
                ppasid,
                attached: 0,
                _charge: charge,
            },
        ));
        Ok(name)
    }

    /// Frees the PASID named `vpasid`.
    ///
    /// Errors: `ENOENT` no such PASID, `EBUSY` it is attached.
    pub(crate) fn free(&self, vpasid: u32) -> Result {
        let mut inner = self.inner.lock();
        if inner.entries.get(&vpasid).ok_or(ENOENT)?.attached > 0 {
            return Err(EBUSY);
        }
        // Dropped: back to the global allocator and the quota.
        drop(inner.entries.remove(&vpasid));
        Ok(())
    }

    /// The physical PASID named `vpasid`, if any.
    pub(crate) fn translate(&self, vpasid: u32) -> Option<u32> {
        let inner = self.inner.lock();
        inner.entries.get(&vpasid).map(|e| e.ppasid.value())
    }

    /// Counts an attachment of the PASID named `vpasid`: the returned use holds its
    /// physical PASID and uncounts it when dropped.
    ///
    /// Errors: `ENOENT` no such PASID.
    pub(crate) fn get(self: &Arc<Self>, vpasid: u32) -> Result<PasidUse> {
        let mut inner = self.inner.lock();
        if inner.dead {
            return Err(ENOENT);
        }
        let e = inner.entries.get_mut(&vpasid).ok_or(ENOENT)?;
        e.attached += 1;
        // INVARIANT: the use was just counted.
        Ok(PasidUse {
            ns: self.clone(),
            vpasid,
            ppasid: e.ppasid.value(),
        })
    }

    /// Undoes one [`PasidNs::get`] of `vpasid` (for [`PasidUse`]'s drop).
    fn put(&self, vpasid: u32) {
        let mut inner = self.inner.lock();
        if let Some(e) = inner.entries.get_mut(&vpasid) {
            e.attached -= 1;
        }
    }

    /// Marks the namespace destroyed unless a PASID of it is attached (`EBUSY`).
    pub(crate) fn kill(&self) -> Result {
        let mut inner = self.inner.lock();
        if inner.entries.values().any(|e| e.attached > 0) {
            return Err(EBUSY);
        }
        inner.dead = true;
        Ok(())
    }
}

/// One use of a PASID of a namespace, from [`PasidNs::get`]: while it lives, the PASID
/// is not freed nor the namespace destroyed (`EBUSY`).
///
/// # Invariants
///
/// Counted once in the `attached` count of `vpasid` in `ns`, uncounted by `Drop`.
pub(crate) struct PasidUse {
    ns: Arc<PasidNs>,
    vpasid: u32,
    ppasid: u32,
}

impl PasidUse {
    /// Whether it is a use of (`ns`, `vpasid`).
    pub(crate) fn is(&self, ns: &Arc<PasidNs>, vpasid: u32) -> bool {
        Arc::ptr_eq(&self.ns, ns) && self.vpasid == vpasid
    }

    /// The PASID's namespace.
    pub(crate) fn ns(&self) -> &Arc<PasidNs> {
        &self.ns
    }

    /// The PASID's name in its namespace.
    pub(crate) fn vpasid(&self) -> u32 {
        self.vpasid
    }

    /// The physical PASID the device tags DMA with.
    pub(crate) fn ppasid(&self) -> u32 {
        self.ppasid
    }
}

impl Drop for PasidUse {
    fn drop(&mut self) {
        self.ns.put(self.vpasid);
    }
}
