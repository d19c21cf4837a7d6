// SPDX-License-Identifier: GPL-2.0

//! I/O address spaces (IOAS) with kernel-managed mappings.
//!
//! An [`Ioas`] is one I/O address space of a context: a set of non-overlapping mappings
//! of pinned user memory at IOVAs. It is owned by the context's object table; operations
//! in flight hold their own reference, so destroying it never races with them. The pins
//! of a mapping are released, and uncharged from the context's [`PinAccount`], when the
//! mapping is removed.

use kernel::{
    new_condvar, new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    sync::{
        Arc,
        CondVar,
        Mutex, //
    },
};

use pin_init::stack_pin_init;

use crate::{
    fault::{
        FaultQueue,
        Route, //
    },
    few::Few,
    ioas::nested::soft::{
        self,
        Shadow, //
    },
    iommu::{
        AttachHandle,
        DeviceKey,
        DirtyBitmap,
        DmaOwner,
        Domain,
        Gather,
        GroupKey,
        Prot, //
    },
    pin::{
        PinAccount,
        PinnedPages,
        Precharge, //
    },
    uapi::yield_cpu,
};

pub(crate) mod ioctl;
pub(crate) mod iova;
pub(crate) mod nested;

/// IOVAs the kernel picks start here: page 0 is never handed out, so that no kernel-chosen
/// device address looks like a null pointer.
const IOVA_FLOOR: u64 = PAGE_SIZE as u64;

/// Most mappings one unmap takes out of the domains with one IOTLB flush (and between
/// yields of the CPU, which it unpins with its locks held).
const UNMAP_BATCH: usize = 1024;

/// Most bytes of mappings (after the first) in one such group: 1 GiB, 256K pages of
/// 4 KiB to unpin between two yields.
const UNMAP_BATCH_BYTES: u64 = 1 << 30;

/// Most pages of a map that fills the domains under the address space's lock (see
/// [`Ioas::map`]): 64 KiB of 4 KiB pages.
const FILL_LOCKED_PAGES: usize = 16;

/// Alignment of every IOVA, length and user address in a mapping.
pub(crate) const IOVA_ALIGNMENT: u64 = PAGE_SIZE as u64;

/// Where a new mapping goes.
pub(crate) enum Placement {
    /// At exactly this IOVA.
    Fixed(u64),
    /// Wherever the kernel finds room.
    Any,
}

/// A use of a nest-parent domain of an address space for (device, PASID) (see
/// [`Ioas::nest_parent`]).
///
/// # Invariants
///
/// Counted once in the `nest_users` of `domain` in `ioas`, whose reservations for `key`
/// it holds; both undone by `Drop`.
pub(crate) struct NestParent {
    ioas: Arc<Ioas>,
    key: (DeviceKey, u32),
    domain: Arc<Domain>,
}

impl NestParent {
    /// The nest-parent domain.
    pub(crate) fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }
}

impl Drop for NestParent {
    fn drop(&mut self) {
        self.ioas.put_nest_parent(self.key, &self.domain);
    }
}

/// A shadow registered in the address space whose pages it uses ([`Ioas::shadow`]).
///
/// # Invariants
///
/// `shadow` is in the `shadows` of `ioas`; `Drop` takes it out and kills it, so that no
/// unit is added once the space no longer tells it about unmaps.
pub(crate) struct ShadowUse {
    ioas: Arc<Ioas>,
    shadow: Arc<Shadow>,
}

impl ShadowUse {
    /// The shadow.
    pub(crate) fn shadow(&self) -> &Arc<Shadow> {
        &self.shadow
    }
}

impl Drop for ShadowUse {
    fn drop(&mut self) {
        let mut inner = self.ioas.inner.lock();
        inner.shadows.retain(|s| !Arc::ptr_eq(s, &self.shadow));
        self.shadow.kill();
    }
}

/// One child (nested) address space counted in its parent ([`Ioas::add_child`]);
/// counted out when dropped.
pub(crate) struct ChildUse(Arc<Ioas>);

impl ChildUse {
    /// The parent address space.
    pub(crate) fn ioas(&self) -> &Arc<Ioas> {
        &self.0
    }
}

impl Drop for ChildUse {
    fn drop(&mut self) {
        self.0.inner.lock().children -= 1;
    }
}

/// One software-table device counted in the address space it is attached to
/// ([`Ioas::attach_cpu`]); counted out (detached) when dropped.
pub(crate) struct CpuUse(Arc<Ioas>);

impl CpuUse {
    /// The address space.
    pub(crate) fn ioas(&self) -> &Arc<Ioas> {
        &self.0
    }
}

impl Drop for CpuUse {
    fn drop(&mut self) {
        self.0.inner.lock().cpu_devices -= 1;
    }
}

/// What [`Ioas::map`] made: its IOVA, and a name for [`Ioas::unmap_made`].
#[derive(Clone, Copy)]
pub(crate) struct MapToken {
    pub(crate) iova: u64,
    serial: u64,
}

/// One mapping: pinned pages at `iova..=last`, which copies of the mapping
/// (`IOASID_IOAS_COPY`) share.
struct Mapping {
    /// Names this mapping among all the address space ever had at its IOVA.
    serial: u64,
    last: u64,
    prot: Prot,
    pages: Arc<PinnedPages>,
    /// Recorded and charged, and being mapped into the domains outside the address
    /// space's lock ([`Ioas::map`]): unmaps of it and changes of the domains wait.
    pending: bool,
}

/// The pinned memory of one mapping, at its offset in a range being copied, and the
/// access the mapping gives.
pub(crate) type SharedPart = (u64, Arc<PinnedPages>, Prot);

/// A domain of this address space, the IOMMU groups attached to it and how many of each
/// group's devices are attached (a group is attached while any of its devices is).
struct AttachedDomain {
    domain: Arc<Domain>,
    groups: KVec<GroupAttach>,
    /// (device, PASID) attachments; the domain goes with its last group and PASID.
    pasids: usize,
    /// Allocated as a parent (stage 2) of nested domains, and how many use it so.
    nest_parent: bool,
    nest_users: usize,
}

/// An IOMMU group attached to a domain.
struct GroupAttach {
    /// [`DmaOwner::group_key`].
    key: GroupKey,
    /// Its devices attached to the address space.
    devices: usize,
    /// The core's handle of the attachment, when the address space routes page requests
    /// to a fault queue (each attached device of the group is a member of it, and their
    /// records name the device that faulted).
    handle: Option<AttachHandle<Route>>,
}

impl GroupAttach {
    /// Attaches the group of `owner` to `domain`, with a routed handle if `route`.
    fn attach(domain: &Domain, owner: &DmaOwner, route: Option<Route>) -> Result<Self> {
        let handle = match route {
            Some(route) => {
                let handle = AttachHandle::new(Some(route), owner)?;
                domain.attach_with_handle(owner, &handle)?;
                Some(handle)
            }
            None => {
                domain.attach(owner)?;
                None
            }
        };
        Ok(Self {
            key: owner.group_key(),
            devices: 1,
            handle,
        })
    }

    /// Detaches the group; page requests still waiting on its handle are answered.
    fn detach(self, domain: &Domain, owner: &DmaOwner) {
        match &self.handle {
            Some(handle) => {
                domain.detach_with_handle(owner);
                handle.abort_faults();
            }
            None => domain.detach(owner),
        }
    }
}

impl AttachedDomain {
    fn unused(&self) -> bool {
        self.groups.is_empty() && self.pasids == 0 && self.nest_users == 0
    }
}

/// An IOVA range an attached device's IOMMU reserves.
struct Reserved {
    /// [`DmaOwner::key`] of the device and the PASID of the attachment (0: none).
    owner: (DeviceKey, u32),
    range: (u64, u64),
}

/// What an address space's lock protects.
struct Inner {
    maps: RBTree<u64, Mapping>,
    /// Every IOMMU domain holds every mapping (one per incompatible IOMMU).
    domains: KVec<AttachedDomain>,
    /// What no mapping may use while the devices that reserve it are attached.
    reserved: KVec<Reserved>,
    /// Software-table devices attached (they use no domain).
    cpu_devices: usize,
    /// Child (nested) address spaces on this one.
    children: usize,
    /// Tables bound to its children that ioasid translates in software: their shadows
    /// hold its pages, so its maps and unmaps reach them.
    shadows: KVec<Arc<Shadow>>,
    /// Destroyed: no longer in the object table, so nothing may be added to it.
    dead: bool,
    /// The serial of the next mapping.
    next_serial: u64,
    /// Maps filling the domains outside the lock (their mappings are `pending`).
    filling: usize,
    /// Threads waiting on `filled` for them.
    waiters: usize,
    /// Made for dirty tracking: every domain can track, and only devices whose IOMMU
    /// can (or that use none) may be attached.
    dirty_capable: bool,
    /// Dirty tracking is on.
    dirty_enabled: bool,
    /// Pages (by IOVA) that software-table devices wrote while tracking was on, not
    /// yet read and cleared.
    soft_dirty: RBTree<u64, ()>,
    /// The tree node of the last mapping an unmap of one mapping removed, kept for the
    /// next small map: a space that maps and unmaps page by page allocates no nodes.
    spare_node: Option<RBTreeNodeReservation<u64, Mapping>>,
}

impl Inner {
    /// The parent mapping of `start..=last` is in place: the shadows fill their holes
    /// there.
    fn shadows_mapped(&self, start: u64, last: u64) {
        for shadow in self.shadows.iter() {
            shadow.parent_mapped(&self.maps, start, last);
        }
    }

    /// Forgets the software-recorded dirty pages of `start..=last`.
    fn forget_dirty(&mut self, start: u64, last: u64) -> Result {
        if self.soft_dirty.is_empty() {
            return Ok(());
        }
        let gone = pages_in(&self.soft_dirty, start, last)?;
        for page in gone {
            self.soft_dirty.remove(&page);
        }
        Ok(())
    }

    /// Records a mapping that every domain holds, with the node reserved for it.
    fn record(
        &mut self,
        node: RBTreeNodeReservation<u64, Mapping>,
        iova: u64,
        pages: Arc<PinnedPages>,
        prot: Prot,
        pending: bool,
    ) -> MapToken {
        let serial = self.next_serial;
        self.next_serial += 1;
        let last = iova + ((pages.len() * PAGE_SIZE) as u64 - 1);
        self.maps.insert(node.into_node(
            iova,
            Mapping {
                serial,
                last,
                prot,
                pages,
                pending,
            },
        ));
        MapToken { iova, serial }
    }

    /// The mappings inside `start..=last`, as `(start, last)`, in order.
    ///
    /// Errors: `EINVAL` the range cuts through a mapping, `ENOENT` nothing is mapped in
    /// it, `ENOMEM`.
    fn whole_mappings(&self, start: u64, last: u64) -> Result<Few<(u64, u64)>> {
        let mut found = Few::new();
        let mut next = first_overlapping(&self.maps, start, last);
        while let Some((s, m_last)) = next {
            if s < start || m_last > last {
                return Err(EINVAL);
            }
            found.push((s, m_last), 16, GFP_KERNEL)?;
            next = match m_last.checked_add(1) {
                Some(after) => self
                    .maps
                    .cursor_lower_bound(&after)
                    .map(|c| (*c.current().0, c.current().1.last))
                    .filter(|&(s, _)| s <= last),
                None => None,
            };
        }
        if found.as_slice().is_empty() {
            return Err(ENOENT);
        }
        Ok(found)
    }

    /// The reserved ranges, sorted by start.
    fn reserved_sorted(&self) -> Result<KVec<(u64, u64)>> {
        let mut v = KVec::with_capacity(self.reserved.len(), GFP_KERNEL)?;
        for r in self.reserved.iter() {
            v.push(r.range, GFP_KERNEL)?;
        }
        v.sort_unstable();
        Ok(v)
    }

    /// Where a mapping of `length` bytes goes: at the fixed IOVA if it is free, or at
    /// the lowest free IOVA that fits.
    ///
    /// Errors: `EEXIST` a fixed IOVA overlaps a mapping, `EADDRINUSE` it overlaps a range
    /// an attached device reserves, `ENOSPC` no free range is large enough, `ENOMEM`.
    fn place(&self, placement: Placement, length: u64) -> Result<u64> {
        match placement {
            Placement::Fixed(iova) => {
                let last = iova + (length - 1);
                if first_overlapping(&self.maps, iova, last).is_some() {
                    return Err(EEXIST);
                }
                // Checked against the reservations themselves: no allocation on this path.
                if self
                    .reserved
                    .iter()
                    .any(|r| r.range.0 <= last && iova <= r.range.1)
                {
                    return Err(EADDRINUSE);
                }
                Ok(iova)
            }
            Placement::Any => iova::find_free(
                &self.allowed()?,
                || self.maps.iter().map(|(&s, m)| (s, m.last)),
                IOVA_FLOOR,
                length,
                IOVA_ALIGNMENT,
            )
            .ok_or(ENOSPC),
        }
    }

    /// The IOVA ranges mappings may use: everything no attached device reserves.
    fn allowed(&self) -> Result<KVec<(u64, u64)>> {
        let reserved = self.reserved_sorted()?;
        let mut allowed = KVec::with_capacity(reserved.len() + 1, GFP_KERNEL)?;
        // At most one more gap than reservations, so the capacity suffices.
        iova::gaps(&reserved, |g| {
            let _ = allowed.push_within_capacity(g);
        });
        Ok(allowed)
    }
}

/// An I/O address space.
#[pin_data(PinnedDrop)]
pub(crate) struct Ioas {
    #[pin]
    inner: Mutex<Inner>,
    account: Arc<Mutex<PinAccount>>,
    /// The fault queue its (device, PASID) attachments report to, and its own ID.
    faults: Option<(Arc<FaultQueue>, u32)>,
    /// No pages: what a mapping's node holds instead of them once they go, while the
    /// node is kept for reuse (`Inner::spare_node`).
    no_pages: Arc<PinnedPages>,
    /// Every domain enforces cache-coherent DMA (`IOASID_IOAS_ALLOC_COHERENT`).
    coherent: bool,
    /// Held around every read of dirty bits, which walks the domains' page tables
    /// outside `inner` and writes the user's bitmap (and may fault on it), and, while
    /// dirty tracking is on, around every change of the page tables that could free a
    /// part of one (unmaps); with tracking off, no read walks, and `inner` alone keeps
    /// an unmap from freeing tables under one (tracking changes under both locks). The
    /// fault path, detach and unplug never take it. Taken before `inner`.
    #[pin]
    dirty: Mutex<()>,
    /// Signalled whenever a map finishes filling the domains.
    #[pin]
    filled: CondVar,
}

/// Maps `pages` at `iova` into every one of `domains`, or into none.
fn map_all<'a>(
    domains: impl Iterator<Item = &'a Arc<Domain>> + Clone,
    iova: u64,
    pages: &PinnedPages,
    prot: Prot,
) -> Result {
    for (i, d) in domains.clone().enumerate() {
        if let Err(e) = map_into(d, iova, pages, prot) {
            for done in domains.take(i) {
                done.unmap(iova, pages.len() * PAGE_SIZE);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// The domains of an address space as a map found them: two inline (one IOMMU, or two,
/// is the common case: no allocation), the rest in a vector.
#[derive(Default)]
struct DomainSnapshot {
    few: [Option<Arc<Domain>>; 2],
    more: KVec<Arc<Domain>>,
}

impl DomainSnapshot {
    /// The domains of `inner`.
    ///
    /// Errors: `ENOMEM`.
    fn of(inner: &Inner) -> Result<Self> {
        let mut snap = Self::default();
        for (i, d) in inner.domains.iter().enumerate() {
            match snap.few.get_mut(i) {
                Some(slot) => *slot = Some(d.domain.clone()),
                None => snap.more.push(d.domain.clone(), GFP_KERNEL)?,
            }
        }
        Ok(snap)
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<Domain>> + Clone {
        Iterator::chain(self.few.iter().flatten(), self.more.iter())
    }
}

/// Maps all of `pages` at `iova` into `domain`, run by run, then syncs the IOMMU once
/// for the whole range; on failure, unmaps what it mapped.
fn map_into(domain: &Domain, iova: u64, pages: &PinnedPages, prot: Prot) -> Result {
    let total = pages.len() * PAGE_SIZE;
    // Bytes mapped: those before the piece being mapped (the pieces follow each other
    // from 0), then all of them.
    let mut done = 0;
    let mut result = pages.try_for_each_phys_run(|offset, phys, len| {
        done = offset;
        domain.map(iova + offset as u64, phys, len, prot)
    });
    if result.is_ok() {
        done = total;
        result = domain.sync_map(iova, total);
    }
    if result.is_err() && done > 0 {
        domain.unmap(iova, done);
    }
    result
}

impl Ioas {
    /// A new, empty address space whose pins are accounted in `account`.
    pub(crate) fn new(
        account: Arc<Mutex<PinAccount>>,
        faults: Option<(Arc<FaultQueue>, u32)>,
        coherent: bool,
        dirty_capable: bool,
    ) -> Result<Arc<Self>> {
        let no_pages = Arc::new(PinnedPages::none(), GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(Self {
                inner <- new_mutex!(Inner {
                    maps: RBTree::new(),
                    domains: KVec::new(),
                    reserved: KVec::new(),
                    cpu_devices: 0,
                    children: 0,
                    shadows: KVec::new(),
                    dead: false,
                    next_serial: 0,
                    filling: 0,
                    waiters: 0,
                    dirty_capable,
                    dirty_enabled: false,
                    soft_dirty: RBTree::new(),
                    spare_node: None,
                }),
                account,
                faults,
                no_pages,
                coherent,
                dirty <- new_mutex!(()),
                filled <- new_condvar!(),
            }),
            GFP_KERNEL,
        )
    }

    /// Maps `pages` (already pinned, covering `length` bytes, and charged in `pre` while
    /// they were pinned) and returns the IOVA.
    ///
    /// Errors: `EEXIST` a fixed IOVA overlaps a mapping, `EADDRINUSE` it overlaps a range
    /// an attached device reserves, `ENOSPC` no free IOVA range is large enough, `ENOMEM`
    /// (including `RLIMIT_MEMLOCK`).
    pub(crate) fn map(
        &self,
        pages: PinnedPages,
        pre: Precharge<'_>,
        prot: Prot,
        placement: Placement,
    ) -> Result<MapToken> {
        let length = (pages.len() * PAGE_SIZE) as u64;
        let pages = Arc::new(pages, GFP_KERNEL)?;
        if pages.len() <= FILL_LOCKED_PAGES {
            return self.map_locked(pages, pre, prot, placement);
        }
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        // A larger map takes the IOVA, charges the pages and records the mapping
        // (pending) under the lock, and fills the domains outside it, so that maps into
        // one address space run in parallel. Meanwhile unmaps of the mapping and changes of the
        // domains wait (`filled`), and dirty reads skip it.
        let (token, domains) = {
            let mut inner = self.inner.lock();
            if inner.dead {
                return Err(ENOENT);
            }
            let iova = inner.place(placement, length)?;
            let domains = DomainSnapshot::of(&inner)?;
            self.account.lock().charge(&pages, pre)?;
            inner.filling += 1;
            (inner.record(node, iova, pages.clone(), prot, true), domains)
        };
        let result = map_all(domains.iter(), token.iova, &pages, prot);
        let mut inner = self.inner.lock();
        inner.filling -= 1;
        match &result {
            Ok(()) => {
                if let Some(m) = inner.maps.get_mut(&token.iova) {
                    m.pending = false;
                }
                inner.shadows_mapped(token.iova, token.iova + (length - 1));
            }
            Err(_) => {
                // Nothing else removes a pending mapping. No shadow maps it (they take
                // pending mappings for holes), but the rule holds for every removal: out
                // of the shadows before the pages go.
                if let Some(m) = inner.maps.remove(&token.iova) {
                    for shadow in inner.shadows.iter() {
                        shadow.parent_unmapped(token.iova, m.last);
                    }
                    self.account.lock().uncharge(&pages);
                }
            }
        }
        let wake = inner.waiters > 0;
        drop(inner);
        if wake {
            self.filled.notify_all();
        }
        result.map(|()| token)
    }

    /// [`Ioas::map`] of a few pages: the domains are filled under the lock, which costs
    /// less than taking it a second time to finish a pending mapping, and holds it for
    /// no longer than a page-table update of those pages. Nothing waits for such a map.
    fn map_locked(
        &self,
        pages: Arc<PinnedPages>,
        pre: Precharge<'_>,
        prot: Prot,
        placement: Placement,
    ) -> Result<MapToken> {
        let length = (pages.len() * PAGE_SIZE) as u64;
        let mut inner = self.inner.lock();
        if inner.dead {
            return Err(ENOENT);
        }
        let iova = inner.place(placement, length)?;
        let node = match inner.spare_node.take() {
            Some(node) => node,
            None => RBTreeNodeReservation::new(GFP_KERNEL)?,
        };
        self.account.lock().charge(&pages, pre)?;
        let domains = inner.domains.iter().map(|d| &d.domain);
        if let Err(e) = map_all(domains, iova, &pages, prot) {
            self.account.lock().uncharge(&pages);
            return Err(e);
        }
        let token = inner.record(node, iova, pages, prot, false);
        inner.shadows_mapped(iova, iova + (length - 1));
        Ok(token)
    }

    /// The address space's lock, once no map is filling the domains outside it: for
    /// what changes the domains or walks every mapping's entries.
    fn settled(&self) -> kernel::sync::MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock();
        while inner.filling > 0 {
            inner.waiters += 1;
            self.filled.wait(&mut inner);
            inner.waiters -= 1;
        }
        inner
    }

    /// The pinned memory of every mapping inside `start..=last`, at its offset from
    /// `start`, for a copy of the range.
    ///
    /// Errors: `EINVAL` the range cuts through a mapping, `ENOENT` nothing is mapped in
    /// it, `ENOMEM`.
    pub(crate) fn shared(&self, start: u64, last: u64) -> Result<KVVec<SharedPart>> {
        let inner = self.inner.lock();
        let found = inner.whole_mappings(start, last)?;
        let found = found.as_slice();
        let mut parts = KVVec::with_capacity(found.len(), GFP_KERNEL)?;
        for &(s, _) in found {
            if let Some(m) = inner.maps.get(&s) {
                // Capacity was reserved above.
                let _ = parts.push_within_capacity((s - start, m.pages.clone(), m.prot));
            }
        }
        Ok(parts)
    }

    /// Maps `parts` ([`Ioas::shared`] of another range, `length` bytes long) at their
    /// offsets from a fixed or a chosen IOVA, charging no page they pin already; all of
    /// them or none. Returns the IOVA of the range and a token per mapping made.
    ///
    /// Errors: those of [`Ioas::map`] (`EPERM` included).
    pub(crate) fn map_shared(
        &self,
        parts: KVVec<SharedPart>,
        length: u64,
        prot: Prot,
        placement: Placement,
    ) -> Result<(u64, KVVec<MapToken>)> {
        let mut nodes = KVVec::with_capacity(parts.len(), GFP_KERNEL)?;
        for _ in 0..parts.len() {
            // Capacity was reserved above.
            let _ = nodes.push_within_capacity(RBTreeNodeReservation::new(GFP_KERNEL)?);
        }
        let mut tokens = KVVec::with_capacity(parts.len(), GFP_KERNEL)?;
        let _tables = self.dirty.lock();
        let mut inner = self.settled();
        if inner.dead {
            return Err(ENOENT);
        }
        let base = inner.place(placement, length)?;
        for (i, (offset, pages, _)) in parts.iter().enumerate() {
            // The accounting's lock is not held while the domains are filled.
            let charged = self
                .account
                .lock()
                .charge(pages, Precharge::none(&self.account));
            let result = charged.and_then(|()| {
                map_all(
                    inner.domains.iter().map(|d| &d.domain),
                    base + offset,
                    pages,
                    prot,
                )
                .inspect_err(|_| {
                    self.account.lock().uncharge(pages);
                })
            });
            if let Err(e) = result {
                for (offset, pages, _) in &parts[..i] {
                    for d in inner.domains.iter() {
                        d.domain.unmap(base + offset, pages.len() * PAGE_SIZE);
                    }
                    self.account.lock().uncharge(pages);
                }
                return Err(e);
            }
        }
        for ((offset, pages, _), node) in parts.into_iter().zip(nodes) {
            let token = inner.record(node, base + offset, pages, prot, false);
            // Capacity was reserved above.
            let _ = tokens.push_within_capacity(token);
        }
        inner.shadows_mapped(base, base + (length - 1));
        Ok((base, tokens))
    }

    /// Undoes the mapping `token` names, if it is still there: a mapping a racing thread
    /// made at the same IOVA (after unmapping this one) stays.
    pub(crate) fn unmap_made(&self, token: MapToken) {
        let _tables = self.dirty.lock();
        let mut inner = self.inner.lock();
        if inner
            .maps
            .get(&token.iova)
            .is_none_or(|m| m.serial != token.serial)
        {
            return;
        }
        let Inner {
            maps,
            domains,
            shadows,
            ..
        } = &mut *inner;
        let gone = maps.remove(&token.iova);
        if let Some(m) = &gone {
            Self::release(domains, shadows, token.iova, m.last);
            // Best effort: a page left recorded is only reported dirty once more.
            let _ = inner.forget_dirty(token.iova, m.last);
        }
        drop(inner);
        drop(_tables);
        if let Some(m) = gone {
            self.retire(m.pages);
        }
    }

    /// Takes the mapping `iova..=last`, removed from the tree, out of every domain and
    /// every shadow that uses its pages; returns its length. The caller then retires its
    /// pages ([`Ioas::retire`]), once it holds none of the address space's locks.
    fn release(domains: &[AttachedDomain], shadows: &[Arc<Shadow>], iova: u64, last: u64) -> u64 {
        let len = last - iova + 1;
        for shadow in shadows.iter() {
            shadow.parent_unmapped(iova, last);
        }
        // Devices lose access (IOTLB flushed) before the pages are unpinned. The domain
        // holds exactly what was mapped, so all of it must go.
        for d in domains.iter() {
            let unmapped = d.domain.unmap(iova, len as usize);
            kernel::warn_on!(unmapped != len as usize);
        }
        len
    }

    /// Unpins and uncharges the pages of a mapping [`Ioas::release`] took out of the
    /// domains, with none of the address space's locks held: its other operations need
    /// not wait for the unpin. A few pages are unpinned under the accounting's lock; more
    /// are released from the accounting first and unpinned without any lock, so that
    /// other address spaces of the context keep charging meanwhile, their charge given
    /// back after (never uncharged while pinned).
    fn retire(&self, pages: Arc<PinnedPages>) {
        if pages.len() <= FILL_LOCKED_PAGES {
            let mut account = self.account.lock();
            account.uncharge(&pages);
            drop(pages);
            return;
        }
        let released = self.account.lock().release(&pages);
        drop(pages);
        self.account.lock().settle(released);
    }

    /// [`Ioas::release`] and [`Ioas::retire`] for the mappings `victims` (`(start,
    /// last)`, still in `maps`), with one IOTLB flush per domain for all of them: each
    /// domain unmaps them into one gather, flushed before any of their pages is unpinned.
    /// They are unpinned here, with the locks held (the caller bounds the group and
    /// yields between groups). Returns their bytes.
    fn release_batch(
        maps: &mut RBTree<u64, Mapping>,
        domains: &[AttachedDomain],
        shadows: &[Arc<Shadow>],
        account: &Mutex<PinAccount>,
        victims: &[(u64, u64)],
    ) -> u64 {
        for &(s, last) in victims {
            for shadow in shadows.iter() {
                shadow.parent_unmapped(s, last);
            }
        }
        for d in domains.iter() {
            stack_pin_init!(let gather = Gather::new());
            let mut batch = d.domain.batch(gather);
            for &(s, last) in victims {
                let len = (last - s + 1) as usize;
                let unmapped = batch.unmap(s, len);
                kernel::warn_on!(unmapped != len);
            }
            // Dropping the batch flushes the IOTLB.
        }
        let mut account = account.lock();
        let mut bytes = 0;
        for &(s, last) in victims {
            if let Some(m) = maps.remove(&s) {
                account.uncharge(&m.pages);
                bytes += last - s + 1;
            }
        }
        bytes
    }

    /// Unmaps every mapping inside `start..=last` and returns how many bytes that was.
    ///
    /// Errors: `EINVAL` the range cuts through a mapping (nothing is unmapped), `ENOENT`
    /// nothing is mapped in the range.
    pub(crate) fn unmap(&self, start: u64, last: u64) -> Result<u64> {
        // Dirty reads walk the page tables under `dirty` alone, and only while tracking
        // is on, which changes under both locks: with it off, holding `inner` from the
        // check to the last change of the page tables keeps every reader out.
        let mut tables = None;
        let mut inner = self.inner.lock();
        let victims = loop {
            if inner.dirty_enabled && tables.is_none() {
                // `dirty` is taken before `inner`.
                drop(inner);
                tables = Some(self.dirty.lock());
                inner = self.inner.lock();
            }
            // The range of exactly one mapping (the common unmap) needs no walk: mappings
            // do not overlap, so no other is inside it.
            let (victims, pending) = match inner.maps.get(&start) {
                Some(m) if m.last == last => (Few::One(Some((start, last))), m.pending),
                _ => {
                    let victims = inner.whole_mappings(start, last)?;
                    let pending = victims
                        .as_slice()
                        .iter()
                        .any(|(s, _)| inner.maps.get(s).is_some_and(|m| m.pending));
                    (victims, pending)
                }
            };
            if !pending {
                break victims;
            }
            // Being mapped: unmapped once it is (or gone, if mapping it fails).
            inner.waiters += 1;
            self.filled.wait(&mut inner);
            inner.waiters -= 1;
        };
        let Inner {
            maps,
            domains,
            shadows,
            spare_node,
            ..
        } = &mut *inner;
        let victims = victims.as_slice();
        let mut bytes = 0u64;
        let mut gone = None;
        if let [(m_start, m_last)] = victims[..] {
            if let Some(mut entry) = maps.find_mut(&m_start) {
                // The pages are retired below; the node stays for the next map, with
                // the space's empty stand-in for them.
                let pages = core::mem::replace(&mut entry.get_mut().pages, self.no_pages.clone());
                *spare_node = Some(entry.remove_node().into_reservation());
                bytes = Self::release(domains, shadows, m_start, m_last);
                gone = Some(pages);
            }
        } else {
            // Groups of at most UNMAP_BATCH mappings and UNMAP_BATCH_BYTES (after the
            // first mapping), with a yield of the CPU between two.
            let mut from = 0;
            while from < victims.len() {
                let mut to = from + 1;
                let mut group = 0u64;
                while to < victims.len() && to - from < UNMAP_BATCH {
                    group = group.saturating_add(victims[to].1 - victims[to].0 + 1);
                    if group > UNMAP_BATCH_BYTES {
                        break;
                    }
                    to += 1;
                }
                if from > 0 {
                    yield_cpu();
                }
                bytes +=
                    Self::release_batch(maps, domains, shadows, &self.account, &victims[from..to]);
                from = to;
            }
        }
        // Best effort: a page left recorded is only reported dirty once more.
        let _ = inner.forget_dirty(start, last);
        drop(inner);
        drop(tables);
        if let Some(pages) = gone {
            self.retire(pages);
        }
        Ok(bytes)
    }

    /// Attaches the device `owner` holds: to a domain of this address space that fits its
    /// IOMMU, or else to a new domain filled with every existing mapping (replay).
    ///
    /// Errors: `EADDRINUSE` a mapping overlaps a range the device's group reserves;
    /// `EBUSY` the device's IOMMU group is attached to another address space (through
    /// another of its devices); `ENOMEM`; errors of the IOMMU driver.
    pub(crate) fn attach(&self, owner: &DmaOwner, dev_id: u32) -> Result<Arc<Domain>> {
        self.attach_with(owner, 0, |inner| self.attach_domain(inner, owner, dev_id))
    }

    /// Attaches (device, `pasid`) of the device `owner` holds, as [`Ioas::attach`] does
    /// for the device; `replace`: it is attached elsewhere and moves here in one step
    /// (the caller then [`Ioas::forget_pasid`]s the old attachment).
    ///
    /// Errors: `EADDRINUSE`, `EINVAL` `pasid` beyond the width of a device of the group,
    /// `EBUSY` attached elsewhere (not `replace`), `ENOMEM`, errors of the IOMMU driver.
    pub(crate) fn attach_pasid(
        &self,
        owner: &DmaOwner,
        pasid: u32,
        handle: &AttachHandle<Route>,
        replace: bool,
    ) -> Result<Arc<Domain>> {
        self.attach_with(owner, pasid, |inner| {
            for d in inner.domains.iter_mut() {
                if !d.domain.coherency_fits(owner) {
                    continue;
                }
                match d.domain.attach_pasid(owner, pasid, handle, replace) {
                    Ok(()) => {
                        d.pasids += 1;
                        return Ok(d.domain.clone());
                    }
                    // Another IOMMU's domain: try the next one.
                    Err(e) if e == EINVAL => continue,
                    Err(e) => return Err(e),
                }
            }
            let domain = self.new_domain(inner, owner)?;
            domain.attach_pasid(owner, pasid, handle, replace)?;
            Self::add_domain(inner, &domain, None);
            Ok(domain)
        })
    }

    /// What every attach does around `attach`: refuses reserved ranges that are mapped,
    /// and records the device's reservations on success.
    fn attach_with(
        &self,
        owner: &DmaOwner,
        pasid: u32,
        attach: impl FnOnce(&mut Inner) -> Result<Arc<Domain>>,
    ) -> Result<Arc<Domain>> {
        if self.coherent && !owner.can_enforce_coherency() {
            return Err(EOPNOTSUPP);
        }
        let regions = owner.reserved_regions()?;
        let mut inner = self.settled();
        if inner.dead {
            return Err(ENOENT);
        }
        if inner.dirty_capable && !owner.can_track_dirty() {
            return Err(EOPNOTSUPP);
        }
        for (&s, m) in inner.maps.iter() {
            if iova::intersects_any(&regions, (s, m.last)) {
                return Err(EADDRINUSE);
            }
        }
        inner.reserved.reserve(regions.len(), GFP_KERNEL)?;
        inner.domains.reserve(1, GFP_KERNEL)?;
        let domain = attach(&mut inner)?;
        for &range in regions.iter() {
            // Capacity was reserved above.
            let _ = inner.reserved.push_within_capacity(Reserved {
                owner: (owner.key(), pasid),
                range,
            });
        }
        Ok(domain)
    }

    /// A new domain for the device `owner` holds, filled with every mapping (replay);
    /// its page requests go to the address space's fault queue, if it has one.
    fn new_domain(&self, inner: &Inner, owner: &DmaOwner) -> Result<Arc<Domain>> {
        let domain = Domain::new_paging(owner, inner.dirty_capable)?;
        if self.faults.is_some() {
            domain.route_faults::<Route>();
        }
        self.fill(inner, owner, domain)
    }

    /// Where the page requests of `dev_id`'s attachments to this address space go.
    pub(crate) fn fault_route(&self, dev_id: u32) -> Option<Route> {
        self.faults.as_ref().map(|(queue, id)| Route {
            queue: queue.clone(),
            ioas_id: *id,
            dev_id,
        })
    }

    /// `domain`, new for the device `owner` holds, filled with every mapping.
    ///
    /// Its DMA is forced to snoop the CPU caches wherever the device's IOMMU can do it,
    /// as iommufd and VFIO type1 do (else a no-snoop read could see memory under the
    /// caches, and KVM, told by VFIO that the device's DMA is coherent, would not make
    /// the guest's cache flushes work); a coherent address space requires it.
    fn fill(&self, inner: &Inner, owner: &DmaOwner, domain: Domain) -> Result<Arc<Domain>> {
        if self.coherent || owner.can_enforce_coherency() {
            domain.enforce_coherency()?;
        }
        if inner.dirty_enabled {
            domain.set_dirty_tracking(true)?;
        }
        let domain = Arc::new(domain, GFP_KERNEL)?;
        for (&iova, m) in inner.maps.iter() {
            // A failed fill is undone by freeing the domain.
            map_into(&domain, iova, &m.pages, m.prot)?;
        }
        Ok(domain)
    }

    /// Adds a newly attached domain, with the group attached to it if any. The caller
    /// reserved room for it in `inner.domains`.
    fn add_domain(inner: &mut Inner, domain: &Arc<Domain>, group: Option<KVec<GroupAttach>>) {
        let pasids = usize::from(group.is_none());
        let _ = inner.domains.push_within_capacity(AttachedDomain {
            domain: domain.clone(),
            groups: group.unwrap_or_default(),
            pasids,
            nest_parent: false,
            nest_users: 0,
        });
    }

    /// A domain of this address space for the IOMMU of the device `owner` holds that can
    /// be the parent (stage 2) of nested domains: an existing one, or a new one filled
    /// with every mapping, as a use that gives it back (and the device's reservations)
    /// when dropped.
    ///
    /// The device reaches this space through the nested domain, for its requester ID
    /// (`pasid` 0) or for `pasid`, so its reserved ranges apply exactly as for an attach.
    ///
    /// Errors: `ENOENT` destroyed, `EADDRINUSE` a reserved range is mapped, `ENOMEM`,
    /// errors of the IOMMU driver.
    pub(crate) fn nest_parent(
        self: &Arc<Self>,
        owner: &DmaOwner,
        pasid: u32,
    ) -> Result<NestParent> {
        let shares = |d: &AttachedDomain| {
            d.nest_parent && d.domain.fits(owner) && d.domain.coherency_fits(owner)
        };
        let domain = self.attach_with(owner, pasid, |inner| {
            if let Some(d) = inner.domains.iter_mut().find(|d| shares(d)) {
                d.nest_users += 1;
                return Ok(d.domain.clone());
            }
            // Room in `inner.domains` was reserved by `attach_with`.
            let parent = Domain::new_nest_parent(owner, inner.dirty_capable)?;
            let domain = self.fill(inner, owner, parent)?;
            let _ = inner.domains.push_within_capacity(AttachedDomain {
                domain: domain.clone(),
                groups: KVec::new(),
                pasids: 0,
                nest_parent: true,
                nest_users: 1,
            });
            Ok(domain)
        })?;
        // INVARIANT: counted in `nest_users` above, with the reservations of the key.
        Ok(NestParent {
            ioas: self.clone(),
            key: (owner.key(), pasid),
            domain,
        })
    }

    /// Undoes a [`Ioas::nest_parent`] for the reservations' `key`.
    fn put_nest_parent(&self, key: (DeviceKey, u32), domain: &Arc<Domain>) {
        let mut inner = self.inner.lock();
        inner.reserved.retain(|r| r.owner != key);
        let Some(i) = inner
            .domains
            .iter()
            .position(|d| Arc::ptr_eq(&d.domain, domain))
        else {
            return;
        };
        inner.domains[i].nest_users -= 1;
        if inner.domains[i].unused() {
            let _ = inner.domains.remove(i);
        }
    }

    /// Counts a new child (nested) address space in: the space cannot be destroyed while
    /// it has children.
    ///
    /// Errors: `ENOENT` destroyed meanwhile.
    pub(crate) fn add_child(self: &Arc<Self>) -> Result<ChildUse> {
        let mut inner = self.inner.lock();
        if inner.dead {
            return Err(ENOENT);
        }
        inner.children += 1;
        Ok(ChildUse(self.clone()))
    }

    /// A shadow of the user's `table` for the device `owner` holds, in a new paging domain
    /// of its IOMMU filled with the composed translation, registered here so that maps
    /// and unmaps reach it; `route`: the domain reports page requests.
    ///
    /// Errors: `EOPNOTSUPP` a coherent space and an IOMMU that cannot enforce coherency,
    /// or a space made for dirty tracking (a shadow tracks no dirty GPAs); `ENOENT`
    /// destroyed; `ENXIO` the root table is not mapped here; `ENOSPC` the table needs
    /// more than `ioasid.max_shadow_entries`; `EINTR`; `ENOMEM`; the IOMMU driver's.
    pub(crate) fn shadow(
        self: &Arc<Self>,
        owner: &DmaOwner,
        table: soft::Table,
        route: bool,
    ) -> Result<ShadowUse> {
        if self.coherent && !owner.can_enforce_coherency() {
            return Err(EOPNOTSUPP);
        }
        let domain = Domain::new_paging(owner, false)?;
        if owner.can_enforce_coherency() {
            domain.enforce_coherency()?;
        }
        if route {
            domain.route_faults::<Route>();
        }
        let domain = Arc::new(domain, GFP_KERNEL)?;
        let aperture_last = owner.iommu_info().aperture_end;
        let shadow = Shadow::new(domain, table, aperture_last, owner.reserved_regions()?)?;
        let mut inner = self.settled();
        if inner.dead {
            return Err(ENOENT);
        }
        if inner.dirty_capable {
            return Err(EOPNOTSUPP);
        }
        if !shadow.root_mapped(&inner.maps) {
            return Err(ENXIO);
        }
        inner.shadows.reserve(1, GFP_KERNEL)?;
        let mut done = 0;
        if let Err(e) = shadow.refresh(&inner.maps, &[(0, u64::MAX)], &mut done) {
            // Its units go under the lock, before any unmap here could unpin their pages.
            shadow.kill();
            return Err(e);
        }
        // Room was reserved above.
        let _ = inner.shadows.push_within_capacity(shadow.clone());
        // INVARIANT: registered above.
        Ok(ShadowUse {
            ioas: self.clone(),
            shadow,
        })
    }

    /// Rebuilds `shadow`'s translation of the stage-1 `ranges` (see [`Shadow::refresh`])
    /// against this address space's mappings; `*done` becomes how many were.
    ///
    /// Errors: those of [`Shadow::refresh`].
    pub(crate) fn refresh_shadow(
        &self,
        shadow: &Shadow,
        ranges: &[(u64, u64)],
        done: &mut usize,
    ) -> Result {
        let inner = self.settled();
        shadow.refresh(&inner.maps, ranges, done)
    }

    /// Forgets (device, `pasid`)'s attachment to `domain` of this address space, which
    /// the IOMMU no longer uses (detached or replaced by the caller).
    pub(crate) fn forget_pasid(&self, owner: &DmaOwner, pasid: u32, domain: &Arc<Domain>) {
        let mut inner = self.inner.lock();
        inner.reserved.retain(|r| r.owner != (owner.key(), pasid));
        let Some(i) = inner
            .domains
            .iter()
            .position(|d| Arc::ptr_eq(&d.domain, domain))
        else {
            return;
        };
        inner.domains[i].pasids -= 1;
        if inner.domains[i].unused() {
            let _ = inner.domains.remove(i);
        }
    }

    /// Attaches to the domain the device's group is already attached to through another
    /// of its devices, or to a domain that fits, or to a new, filled one.
    ///
    /// Errors: `EBUSY` the group is attached to another address space.
    fn attach_domain(
        &self,
        inner: &mut Inner,
        owner: &DmaOwner,
        dev_id: u32,
    ) -> Result<Arc<Domain>> {
        let group = owner.group_key();
        for d in inner.domains.iter_mut() {
            if let Some(g) = d.groups.iter_mut().find(|g| g.key == group) {
                if let Some(handle) = &g.handle {
                    handle.join(owner, dev_id)?;
                }
                g.devices += 1;
                return Ok(d.domain.clone());
            }
        }
        for d in inner.domains.iter_mut() {
            if !d.domain.coherency_fits(owner) {
                continue;
            }
            d.groups.reserve(1, GFP_KERNEL)?;
            match GroupAttach::attach(&d.domain, owner, self.fault_route(dev_id)) {
                Ok(g) => {
                    // Capacity was reserved above.
                    let _ = d.groups.push_within_capacity(g);
                    return Ok(d.domain.clone());
                }
                // Another IOMMU's domain: try the next one.
                Err(e) if e == EINVAL => continue,
                Err(e) => return Err(e),
            }
        }
        let mut groups = KVec::with_capacity(1, GFP_KERNEL)?;
        let domain = self.new_domain(inner, owner)?;
        let g = GroupAttach::attach(&domain, owner, self.fault_route(dev_id))?;
        let _ = groups.push_within_capacity(g);
        // Room in `inner.domains` was reserved by `attach_with`.
        Self::add_domain(inner, &domain, Some(groups));
        Ok(domain)
    }

    /// Detaches the device `owner` holds from `domain`, which [`Ioas::attach`] returned:
    /// the group is detached with its last attached device, and a domain with no group
    /// left is freed.
    pub(crate) fn detach(&self, owner: &DmaOwner, domain: &Arc<Domain>) {
        let mut inner = self.inner.lock();
        inner.reserved.retain(|r| r.owner != (owner.key(), 0));
        let Some(i) = inner
            .domains
            .iter()
            .position(|d| Arc::ptr_eq(&d.domain, domain))
        else {
            return;
        };
        let d = &mut inner.domains[i];
        let Some(g) = d.groups.iter().position(|g| g.key == owner.group_key()) else {
            return;
        };
        d.groups[g].devices -= 1;
        if d.groups[g].devices > 0 {
            // The group stays attached through its other devices; this one's page
            // requests must not outlive it.
            if let Some(handle) = &d.groups[g].handle {
                handle.leave(owner);
            }
            return;
        }
        // `g` and `i` are in bounds: they were just found.
        if let Ok(attach) = d.groups.remove(g) {
            attach.detach(domain, owner);
        }
        if d.unused() {
            let _ = inner.domains.remove(i);
        }
    }

    /// The IOVA ranges mappings may use now, in increasing order.
    pub(crate) fn allowed(&self) -> Result<KVec<(u64, u64)>> {
        self.inner.lock().allowed()
    }

    /// Marks the address space destroyed, unless a device is attached (`EBUSY`): from
    /// then on, maps and attaches that raced with the destroy fail with `ENOENT`.
    pub(crate) fn kill(&self) -> Result {
        let mut inner = self.inner.lock();
        if !inner.domains.is_empty() || inner.cpu_devices > 0 || inner.children > 0 {
            return Err(EBUSY);
        }
        inner.dead = true;
        Ok(())
    }

    /// Counts a software-table device in while it is attached: the space cannot be
    /// destroyed meanwhile.
    ///
    /// Errors: `ENOENT` destroyed meanwhile.
    pub(crate) fn attach_cpu(self: &Arc<Self>) -> Result<CpuUse> {
        let mut inner = self.inner.lock();
        if inner.dead {
            return Err(ENOENT);
        }
        inner.cpu_devices += 1;
        Ok(CpuUse(self.clone()))
    }

    /// Starts (`enable`) or stops dirty tracking in every domain and for software-table
    /// writes; starting clears what was recorded. An address space not made for it
    /// becomes one if no IOMMU domain is attached.
    ///
    /// Errors: `ENOENT` destroyed, `EOPNOTSUPP` a domain cannot track, the driver's
    /// (tracking is then as before).
    pub(crate) fn set_dirty_tracking(&self, enable: bool) -> Result {
        let _tables = self.dirty.lock();
        let mut inner = self.settled();
        if inner.dead {
            return Err(ENOENT);
        }
        if enable == inner.dirty_enabled {
            return Ok(());
        }
        if !enable {
            for d in inner.domains.iter() {
                let _ = d.domain.set_dirty_tracking(false);
            }
        } else {
            // Domains are made for tracking when allocated: one that was not (attached
            // before, or of an IOMMU that cannot track) keeps the space from starting;
            // so does a software-nested table on it (its device writes by stage-1 IOVA,
            // which the space cannot tell in GPAs).
            if inner.domains.iter().any(|d| !d.domain.tracks_dirty()) || !inner.shadows.is_empty() {
                return Err(EOPNOTSUPP);
            }
            for (i, d) in inner.domains.iter().enumerate() {
                let started = inner
                    .maps
                    .iter()
                    .try_for_each(|(&iova, m)| {
                        d.domain.read_dirty(None, iova, m.last - iova + 1, false)
                    })
                    .and_then(|()| d.domain.set_dirty_tracking(true));
                if let Err(e) = started {
                    for done in &inner.domains[..i] {
                        let _ = done.domain.set_dirty_tracking(false);
                    }
                    return Err(e);
                }
            }
            inner.dirty_capable = true;
        }
        inner.soft_dirty = RBTree::new();
        inner.dirty_enabled = enable;
        Ok(())
    }

    /// Whether dirty tracking is on.
    pub(crate) fn tracks_dirty(&self) -> bool {
        self.inner.lock().dirty_enabled
    }

    /// Writes into `bitmap` the pages of `start..=last` written since tracking started
    /// or since they were last read, and clears them unless `no_clear`. The user's
    /// bitmap is written with no lock held but the one that keeps the page tables of
    /// the range in place.
    ///
    /// IOMMU drivers report a dirty IOMMU page whole, from its aligned start: so an end
    /// of the range that falls inside a mapping must be aligned to the largest IOMMU
    /// page of the domains (a mapping's IOMMU pages never cross its own ends), or a
    /// page straddling it would be cleared and reported outside the bitmap.
    ///
    /// Errors: `EINVAL` tracking is off, or an end cuts a mapping unaligned, `ENOMEM`,
    /// the driver's (the range must then be taken as dirty: what was read is lost).
    pub(crate) fn read_dirty(
        &self,
        start: u64,
        last: u64,
        bitmap: &DirtyBitmap,
        no_clear: bool,
    ) -> Result {
        let _tables = self.dirty.lock();
        let mut domains = KVec::new();
        let mut ranges = KVVec::new();
        let soft;
        {
            let inner = self.inner.lock();
            if !inner.dirty_enabled {
                return Err(EINVAL);
            }
            let largest = inner
                .domains
                .iter()
                .map(|d| d.domain.largest_page())
                .max()
                .unwrap_or(PAGE_SIZE as u64);
            let cuts = |at: u64| {
                first_overlapping(&inner.maps, at, at).is_some_and(|(s, l)| s < at && at <= l)
            };
            if (cuts(start) && start % largest != 0)
                || (last.checked_add(1).is_some_and(cuts) && (last + 1) % largest != 0)
            {
                return Err(EINVAL);
            }
            domains.reserve(inner.domains.len(), GFP_KERNEL)?;
            for d in inner.domains.iter() {
                // Capacity was reserved above.
                let _ = domains.push_within_capacity(d.domain.clone());
            }
            let mut next = first_overlapping(&inner.maps, start, last);
            while let Some((s, l)) = next {
                // A mapping still being mapped has no IOMMU entries to read yet.
                if !inner.maps.get(&s).is_some_and(|m| m.pending) {
                    ranges.push((s.max(start), l.min(last)), GFP_KERNEL)?;
                }
                next = l
                    .checked_add(1)
                    .and_then(|after| first_overlapping(&inner.maps, after, last));
            }
            soft = pages_in(&inner.soft_dirty, start, last)?;
        }
        for d in domains.iter() {
            for &(s, l) in ranges.iter() {
                d.read_dirty(Some(bitmap), s, l - s + 1, no_clear)?;
            }
        }
        for &page in soft.iter() {
            bitmap.set(page, PAGE_SIZE as u64);
        }
        if !no_clear {
            // Only now that everything was reported.
            let mut inner = self.inner.lock();
            for page in soft.iter() {
                inner.soft_dirty.remove(page);
            }
        }
        Ok(())
    }

    /// Copies between `buf` and the address space at `iova` through the CPU, for a
    /// software-table device. Holding the lock for the whole copy makes an unmap of the
    /// range wait until it is done.
    ///
    /// Errors: `EFAULT` a byte of the range is not mapped with the access asked for
    /// (bytes before it are copied).
    pub(crate) fn access(&self, iova: u64, buf: &mut [u8], write: bool) -> Result {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let mut done = 0usize;
        while done < buf.len() {
            let at = iova.checked_add(done as u64).ok_or(EFAULT)?;
            let (start, last) = first_overlapping(&inner.maps, at, at).ok_or(EFAULT)?;
            let m = inner.maps.get(&start).ok_or(EFAULT)?;
            if !m.prot.allows(write) {
                return Err(EFAULT);
            }
            let n = ((last - at + 1) as usize).min(buf.len() - done);
            if write && inner.dirty_enabled {
                mark_dirty(&mut inner.soft_dirty, at, at + (n as u64 - 1))?;
            }
            m.pages
                .copy((at - start) as usize, &mut buf[done..done + n], write)?;
            done += n;
        }
        Ok(())
    }
}

/// The pages of `tree` (software-recorded dirty pages) inside `start..=last`, in order.
///
/// Errors: `ENOMEM`.
fn pages_in(tree: &RBTree<u64, ()>, start: u64, last: u64) -> Result<KVVec<u64>> {
    let mut found = KVVec::new();
    let mut at = tree.cursor_lower_bound(&start);
    while let Some(c) = at {
        let page = *c.current().0;
        if page > last {
            break;
        }
        found.push(page, GFP_KERNEL)?;
        at = c
            .peek_next()
            .and_then(|(&next, _)| tree.cursor_lower_bound(&next));
    }
    Ok(found)
}

/// Records in `soft_dirty` that a software-table device writes the pages of
/// `start..=last`.
///
/// Errors: `ENOMEM` (nothing is written then).
fn mark_dirty(soft_dirty: &mut RBTree<u64, ()>, start: u64, last: u64) -> Result {
    let mut page = start & !(PAGE_SIZE as u64 - 1);
    while page <= last {
        if soft_dirty.get(&page).is_none() {
            soft_dirty.try_create_and_insert(page, (), GFP_KERNEL)?;
        }
        page = match page.checked_add(PAGE_SIZE as u64) {
            Some(next) => next,
            None => break,
        };
    }
    Ok(())
}

/// The lowest mapping that shares a byte with `start..=last`, as `(start, last)`, found in
/// O(log n): either the mapping that begins at or before `start` and reaches it, or the
/// first one that begins inside the range.
fn first_overlapping(maps: &RBTree<u64, Mapping>, start: u64, last: u64) -> Option<(u64, u64)> {
    let at_or_after = maps.cursor_lower_bound(&start);
    let before = match &at_or_after {
        Some(c) if *c.current().0 == start => None,
        Some(c) => c.peek_prev().map(|(&s, m)| (s, m.last)),
        None => maps
            .cursor_back()
            .map(|c| (*c.current().0, c.current().1.last)),
    };
    if let Some((s, l)) = before {
        if l >= start {
            return Some((s, l));
        }
    }
    at_or_after
        .map(|c| (*c.current().0, c.current().1.last))
        .filter(|&(s, _)| s <= last)
}

#[pinned_drop]
impl PinnedDrop for Ioas {
    fn drop(self: Pin<&mut Self>) {
        // The pins themselves go with the tree; only the accounting needs doing here. No
        // domain is left: every attached device holds a reference to the address space.
        let inner = self.inner.lock();
        let mut account = self.account.lock();
        for m in inner.maps.values() {
            account.uncharge(&m.pages);
        }
    }
}
