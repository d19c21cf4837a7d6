// SPDX-License-Identifier: GPL-2.0

//! Software nesting: user-owned stage-1 tables that ioasid walks itself, for devices
//! whose IOMMU cannot nest.
//!
//! A [`Shadow`] is one bound table: a paging domain of the device's IOMMU that holds the
//! composition of the user's stage-1 table (stage-1 IOVA → guest physical address, GPA)
//! with the parent address space (GPA → pinned host page). The table lives in guest
//! memory, i.e. at GPAs the parent maps, and is read through the parent's pinned pages,
//! never through user memory.
//!
//! The shadow is a cache with IOTLB semantics: it is (re)built from the table only at the
//! bind and at each invalidation of a range ([`Shadow::refresh`]), so a table change takes
//! effect exactly when the user invalidates. Stage 2 is the kernel's: an unmap in the
//! parent takes every shadow entry that uses the pages out of the domain before they are
//! unpinned ([`Shadow::parent_unmapped`]), and a later map of those GPAs fills them in
//! again ([`Shadow::parent_mapped`]), as a hardware walk through stage 2 would.
//!
//! The shadow records one [`Unit`] per piece of a stage-1 leaf that one parent mapping
//! backs (or that none backs: a hole), so that an invalidation and a parent unmap always
//! remove whole units, which is what every IOMMU driver can unmap (virtio-iommu unmaps only
//! whole mappings). Hostile tables are bounded: a binding holds at most
//! `ioasid.max_shadow_entries` units and one walk reads at most 16 times as many entries
//! (`ENOSPC` beyond), yielding the CPU and stopping for signals as it goes (`EINTR`).
//!
//! Locks: the parent's `inner`, then the shadow's; the walk holds both, so that the
//! parent's mappings it reads stay put, and never touches user memory.

use kernel::{
    alloc::flags::GFP_KERNEL_ACCOUNT,
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    sync::{
        Arc,
        Mutex, //
    },
};

use super::super::{
    first_overlapping,
    Mapping, //
};
use crate::{
    abi::{
        ioasid_inval_vtd,
        ioasid_table_vtd,
        IOASID_FORMAT_VTD_S1,
        IOASID_INVAL_VTD_LEAF, //
    },
    iommu::{
        Domain,
        Prot, //
    },
    pin::PinnedPages,
    uapi::pause_point,
};

/// Entries of one table page.
const ENTRIES: usize = 512;
/// Bytes of one table page.
const TABLE_BYTES: usize = ENTRIES * 8;

/// x86-64 / VT-d first-stage entry bits.
const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const LARGE: u64 = 1 << 7;
/// The PAT bit of a large leaf, inside its address field.
const LARGE_PAT: u64 = 1 << 12;
/// Address bits 51:12.
const ADDR_MASK: u64 = ((1 << 52) - 1) & !0xfff;

/// Table reads one walk may do per shadow entry the binding may hold.
const READS_PER_ENTRY: u64 = 16;

/// Whether ioasid walks tables of `format` in software.
pub(crate) fn walks(format: u32) -> bool {
    format == IOASID_FORMAT_VTD_S1
}

/// The shadow entries one binding may hold (`ioasid.max_shadow_entries`).
fn max_entries() -> usize {
    // SAFETY: reads a module parameter; no precondition.
    (unsafe { ioasid_max_shadow_entries() }) as usize
}

unsafe extern "C" {
    /// The `max_shadow_entries` module parameter, from `helpers.c`.
    fn ioasid_max_shadow_entries() -> u32;
}

/// A validated software table description.
#[derive(Clone, Copy)]
pub(crate) struct Table {
    /// GPA of the root table.
    root: u64,
    /// Paging levels: 4 or 5.
    levels: u32,
}

impl Table {
    /// The description of a VT-d first-stage table to walk in software.
    ///
    /// Errors: `EOPNOTSUPP` flags (SRE, EAFE, WPE: not walked in software), `EINVAL` an
    /// address width other than 48 or 57, a misaligned root, a reserved field.
    pub(crate) fn vtd(desc: &ioasid_table_vtd) -> Result<Self> {
        if desc.flags != 0 {
            return Err(EOPNOTSUPP);
        }
        let levels = match desc.addr_width {
            48 => 4,
            57 => 5,
            _ => return Err(EINVAL),
        };
        if desc.__reserved != 0 || desc.pgtbl_addr & !ADDR_MASK != 0 {
            return Err(EINVAL);
        }
        Ok(Self {
            root: desc.pgtbl_addr,
            levels,
        })
    }

    /// The last stage-1 IOVA the table translates.
    fn last_iova(&self) -> u64 {
        (1u64 << (12 + 9 * self.levels)) - 1
    }
}

/// A stage-1 leaf entry: `1 << shift` bytes at `iova` translate to `gpa`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Leaf {
    iova: u64,
    shift: u32,
    gpa: u64,
    write: bool,
}

impl Leaf {
    fn last(&self) -> u64 {
        self.iova + ((1u64 << self.shift) - 1)
    }
}

/// `2^bits - 1`, saturating at 64 bits.
fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// What one walk may still do.
struct Walk<'a> {
    /// Reads table entries at a GPA into the buffer (as many as fit, inside one page);
    /// `false`: the parent does not map them.
    read: &'a dyn Fn(u64, &mut [u8]) -> bool,
    /// Table entries it may still read.
    budget: u64,
    /// Entries read since it last yielded.
    since_pause: u32,
}

impl Walk<'_> {
    /// Visits the leaves of the table at `gpa` (at `level`: 1 is the last) that overlap
    /// `start..=last`, which lies inside the table's span; `write`: every level above
    /// allows writes. `bufs` holds a page per level from this one down.
    fn level(
        &mut self,
        level: u32,
        gpa: u64,
        (start, last): (u64, u64),
        write: bool,
        bufs: &mut [u8],
        emit: &mut dyn FnMut(Leaf) -> Result,
    ) -> Result {
        let (buf, below) = bufs.split_at_mut(TABLE_BYTES);
        let shift = 12 + 9 * (level - 1);
        let span_base = start & !low_mask(shift + 9);
        let first = ((start >> shift) as usize) % ENTRIES;
        let end = ((last >> shift) as usize) % ENTRIES;
        // Only the entries the range needs: an invalidation of one page reads one entry
        // per level.
        if !(self.read)(gpa + (first * 8) as u64, &mut buf[first * 8..(end + 1) * 8]) {
            // A table the parent does not map: nothing below it translates.
            return Ok(());
        }
        for idx in first..=end {
            if self.budget == 0 {
                return Err(ENOSPC);
            }
            self.budget -= 1;
            self.since_pause += 1;
            if self.since_pause == 256 {
                self.since_pause = 0;
                pause_point()?;
            }
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&buf[idx * 8..idx * 8 + 8]);
            let e = u64::from_le_bytes(raw);
            // DMA is a user-privileged request: supervisor-only entries do not translate.
            if e & PRESENT == 0 || e & USER == 0 {
                continue;
            }
            let e_start = span_base + ((idx as u64) << shift);
            let w = write && e & WRITABLE != 0;
            if level == 1 || e & LARGE != 0 {
                // Large pages exist at the PDPT (1 GiB) and PD (2 MiB) levels only; the
                // low address bits of a large leaf, but its PAT bit, are reserved.
                let low = low_mask(shift) & ADDR_MASK & !LARGE_PAT;
                if level > 3 || (level > 1 && e & low != 0) {
                    continue;
                }
                emit(Leaf {
                    iova: e_start,
                    shift,
                    gpa: e & ADDR_MASK & !low_mask(shift),
                    write: w,
                })?;
            } else {
                let e_last = e_start + low_mask(shift);
                let sub = (start.max(e_start), last.min(e_last));
                self.level(level - 1, e & ADDR_MASK, sub, w, below, emit)?;
            }
        }
        Ok(())
    }
}

/// Visits every leaf of `table` that overlaps `start..=last`, reading table pages with
/// `read`, at most `budget` entries.
///
/// Errors: `ENOSPC` the budget ran out, `EINTR` a signal is pending, `ENOMEM`, and those
/// of `emit`.
fn walk(
    table: &Table,
    read: &dyn Fn(u64, &mut [u8]) -> bool,
    (start, last): (u64, u64),
    budget: u64,
    emit: &mut dyn FnMut(Leaf) -> Result,
) -> Result {
    let last = last.min(table.last_iova());
    if start > last {
        return Ok(());
    }
    let mut bufs = KVec::from_elem(0u8, TABLE_BYTES * table.levels as usize, GFP_KERNEL)?;
    let mut w = Walk {
        read,
        budget,
        since_pause: 0,
    };
    w.level(
        table.levels,
        table.root,
        (start, last),
        true,
        &mut bufs,
        emit,
    )
}

/// Reads guest memory at `gpa` (inside one page) through the parent's mappings.
fn read_guest(maps: &RBTree<u64, Mapping>, gpa: u64, buf: &mut [u8]) -> bool {
    let Some((s, _)) = first_overlapping(maps, gpa, gpa) else {
        return false;
    };
    maps.get(&s).is_some_and(|m| {
        m.prot.allows(false) && m.pages.copy((gpa - s) as usize, buf, false).is_ok()
    })
}

/// One piece of a stage-1 leaf: `len` bytes at its IOVA (the key) translating to `gpa`.
struct Unit {
    len: u64,
    gpa: u64,
    /// The leaf's size (`1 << shift`): an invalidation of any byte of it removes all of it.
    shift: u32,
    /// Stage 1 allows device writes.
    write: bool,
    /// The parent's pages it maps, in the shadow domain; `None`: a hole, no parent
    /// mapping backs it (filled when one does, [`Shadow::parent_mapped`]).
    pages: Option<Arc<PinnedPages>>,
}

impl Unit {
    fn leaf_extent(&self, iova: u64) -> (u64, u64) {
        let mask = low_mask(self.shift);
        (iova & !mask, iova | mask)
    }
}

/// What a shadow's lock protects.
struct ShadowInner {
    /// The units, by stage-1 IOVA; they do not overlap.
    units: RBTree<u64, Unit>,
    /// The mapped units, by (GPA, IOVA): what a parent unmap must find.
    by_gpa: RBTree<(u64, u64), ()>,
    /// Units, and how many of them are holes.
    count: usize,
    holes: usize,
    /// Unbound: nothing may be added any more.
    dead: bool,
}

/// One user-owned table that ioasid translates in software for a device (or one of its
/// PASIDs).
#[pin_data]
pub(crate) struct Shadow {
    /// The paging domain the device is attached to.
    domain: Arc<Domain>,
    table: Table,
    /// The stage-1 IOVAs the domain cannot map: past its aperture, or reserved by the
    /// device's IOMMU (as inclusive ranges). Leaves there are not translated.
    aperture_last: u64,
    reserved: KVec<(u64, u64)>,
    #[pin]
    inner: Mutex<ShadowInner>,
}

impl Shadow {
    /// A shadow of `table` in `domain`, empty until [`Shadow::refresh`]ed.
    pub(crate) fn new(
        domain: Arc<Domain>,
        table: Table,
        aperture_last: u64,
        reserved: KVec<(u64, u64)>,
    ) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                domain,
                table,
                aperture_last,
                reserved,
                inner <- new_mutex!(ShadowInner {
                    units: RBTree::new(),
                    by_gpa: RBTree::new(),
                    count: 0,
                    holes: 0,
                    dead: false,
                }),
            }),
            GFP_KERNEL,
        )
    }

    /// The domain the device uses.
    pub(crate) fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }

    /// Whether the root table is mapped in the parent (`maps`).
    pub(in crate::ioas) fn root_mapped(&self, maps: &RBTree<u64, Mapping>) -> bool {
        first_overlapping(maps, self.table.root, self.table.root).is_some()
    }

    /// Unbinds it: from now on nothing is added (a racing invalidation does nothing).
    pub(crate) fn kill(&self) {
        self.inner.lock().dead = true;
    }

    /// Rebuilds the translation of the stage-1 range `start..=last` from the table, with
    /// the parent's mappings `maps` (whose lock the caller holds): every leaf that
    /// overlaps it goes, whole, and what the table says now comes in.
    ///
    /// Errors: `ENOSPC` the limits of a hostile table, `EINTR`, `ENOMEM`, and the
    /// IOMMU driver's: the range then translates only what was rebuilt before.
    pub(in crate::ioas) fn refresh(
        &self,
        maps: &RBTree<u64, Mapping>,
        start: u64,
        last: u64,
    ) -> Result {
        let mut guard = self.inner.lock();
        let si = &mut *guard;
        if si.dead {
            return Ok(());
        }
        let (start, last) = si.extent(start, last);
        si.drop_range(&self.domain, start, last);
        let limit = max_entries();
        let budget = (limit as u64).saturating_mul(READS_PER_ENTRY);
        let read = |gpa: u64, buf: &mut [u8]| read_guest(maps, gpa, buf);
        let mut emit = |leaf: Leaf| -> Result {
            let iova_last = leaf.last();
            if iova_last > self.aperture_last
                || crate::ioas::iova::intersects_any(&self.reserved, (leaf.iova, iova_last))
            {
                return Ok(());
            }
            // A new leaf larger than the range takes the place of what it covers.
            si.drop_range(&self.domain, leaf.iova, iova_last);
            si.compose(
                &self.domain,
                maps,
                leaf,
                leaf.iova,
                leaf.gpa,
                1u64 << leaf.shift,
                limit,
            )
        };
        let result = walk(&self.table, &read, (start, last), budget, &mut emit);
        let synced = self
            .domain
            .sync_map(start, (last - start).saturating_add(1) as usize);
        result.and(synced)
    }

    /// The parent unmapped `start..=last` (GPAs) and is about to unpin its pages: every
    /// mapped unit there leaves the domain (its IOTLB flushed) and becomes a hole. Never
    /// allocates.
    pub(crate) fn parent_unmapped(&self, start: u64, last: u64) {
        let mut guard = self.inner.lock();
        let si = &mut *guard;
        // One lookup per unit: a removal's cursor moves back when nothing follows.
        while let Some(c) = si.by_gpa.cursor_lower_bound_mut(&(start, 0)) {
            let &(gpa, iova) = c.current().0;
            if gpa > last {
                break;
            }
            // Drops the node: no allocation on the unmap path.
            let _ = c.remove_current();
            if let Some(u) = si.units.get_mut(&iova) {
                let unmapped = self.domain.unmap(iova, u.len as usize);
                kernel::warn_on!(unmapped != u.len as usize);
                u.pages = None;
                si.holes += 1;
            }
        }
    }

    /// The parent mapped `start..=last` (GPAs; `maps` holds the new mapping): holes there
    /// are filled. Best effort: a hole that cannot be filled (`ENOMEM`) stays one, so the
    /// device faults there as if the table were changing.
    pub(in crate::ioas) fn parent_mapped(
        &self,
        maps: &RBTree<u64, Mapping>,
        start: u64,
        last: u64,
    ) {
        let mut guard = self.inner.lock();
        let si = &mut *guard;
        if si.dead || si.holes == 0 {
            return;
        }
        let mut found = KVVec::new();
        for (&iova, u) in si.units.iter() {
            if u.pages.is_none()
                && u.gpa <= last
                && start <= u.gpa + (u.len - 1)
                && found.push(iova, GFP_KERNEL).is_err()
            {
                break;
            }
        }
        let limit = max_entries();
        for iova in found {
            let Some(hole) = si.units.remove(&iova) else {
                continue;
            };
            si.count -= 1;
            si.holes -= 1;
            let leaf = Leaf {
                iova: iova & !low_mask(hole.shift),
                shift: hole.shift,
                gpa: 0,
                write: hole.write,
            };
            // Room for the hole itself was just freed, so a failure here is `ENOMEM`:
            // what was not composed stays unmapped.
            let _ = si.compose(&self.domain, maps, leaf, iova, hole.gpa, hole.len, limit);
            let _ = self.domain.sync_map(iova, hole.len as usize);
        }
    }
}

impl ShadowInner {
    /// `start..=last` grown to the whole leaves of the units that overlap it.
    fn extent(&self, start: u64, last: u64) -> (u64, u64) {
        let s = self
            .unit_at(start)
            .map_or(start, |(_, (ls, _))| ls.min(start));
        let l = self.unit_at(last).map_or(last, |(_, (_, ll))| ll.max(last));
        (s, l)
    }

    /// The unit that covers `at`, if any: its IOVA and its leaf's extent.
    fn unit_at(&self, at: u64) -> Option<(u64, (u64, u64))> {
        let here = |iova: u64, u: &Unit| (iova, iova + (u.len - 1), u.leaf_extent(iova));
        let c = self.units.cursor_lower_bound(&at);
        let found = match &c {
            Some(c) if *c.current().0 == at => Some(here(at, c.current().1)),
            Some(c) => c.peek_prev().map(|(&i, u)| here(i, u)),
            None => self
                .units
                .cursor_back()
                .map(|c| here(*c.current().0, c.current().1)),
        };
        found
            .filter(|&(_, last, _)| last >= at)
            .map(|(iova, _, extent)| (iova, extent))
    }

    /// Removes every unit that begins inside `start..=last`, mapped ones from `domain`
    /// too (units never straddle a leaf, and the caller grew the range to whole leaves).
    fn drop_range(&mut self, domain: &Domain, start: u64, last: u64) {
        let first = self.unit_at(start).map_or(start, |(iova, _)| iova);
        // One lookup per unit: a removal's cursor moves back when nothing follows.
        while let Some(c) = self.units.cursor_lower_bound_mut(&first) {
            let (&iova, u) = c.current();
            if iova > last {
                break;
            }
            let (len, gpa, mapped) = (u.len, u.gpa, u.pages.is_some());
            let _ = c.remove_current();
            self.count -= 1;
            if mapped {
                domain.unmap(iova, len as usize);
                self.by_gpa.remove(&(gpa, iova));
            } else {
                self.holes -= 1;
            }
        }
    }

    /// Composes `len` bytes of `leaf` from stage-1 IOVA `iova` (at GPA `gpa`) with the
    /// parent's mappings: each parent mapping's part becomes a mapped unit, each gap a
    /// hole.
    ///
    /// Errors: `ENOSPC` the binding holds `limit` units, `ENOMEM`, the driver's.
    #[allow(clippy::too_many_arguments)]
    fn compose(
        &mut self,
        domain: &Domain,
        maps: &RBTree<u64, Mapping>,
        leaf: Leaf,
        iova: u64,
        gpa: u64,
        len: u64,
        limit: usize,
    ) -> Result {
        let mut off = 0u64;
        while off < len {
            if self.count >= limit {
                return Err(ENOSPC);
            }
            let g = gpa + off;
            let rest_last = gpa + (len - 1);
            let node = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?;
            let backing = first_overlapping(maps, g, rest_last);
            let (piece, pages) = match backing {
                Some((s, m_last)) if s <= g => {
                    let Some(m) = maps.get(&s) else {
                        return Err(EINVAL);
                    };
                    let piece = (m_last.min(rest_last) - g) + 1;
                    let gnode = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?;
                    let write = leaf.write && m.prot.allows(true);
                    let prot = Prot::new(m.prot.allows(false), write);
                    map_piece(domain, iova + off, &m.pages, (g - s) as usize, piece, prot)?;
                    self.by_gpa.insert(gnode.into_node((g, iova + off), ()));
                    (piece, Some(m.pages.clone()))
                }
                // A gap until the next mapping, or to the end of the leaf.
                Some((s, _)) => (s - g, None),
                None => (rest_last - g + 1, None),
            };
            if pages.is_none() {
                self.holes += 1;
            }
            self.units.insert(node.into_node(
                iova + off,
                Unit {
                    len: piece,
                    gpa: g,
                    shift: leaf.shift,
                    write: leaf.write,
                    pages,
                },
            ));
            self.count += 1;
            off += piece;
        }
        Ok(())
    }
}

/// Maps `len` bytes of `pages` from byte `offset` at `iova` of `domain`, run by physically
/// contiguous run (the IOMMU core picks the largest page sizes each allows); all or none.
fn map_piece(
    domain: &Domain,
    iova: u64,
    pages: &PinnedPages,
    offset: usize,
    len: u64,
    prot: Prot,
) -> Result {
    let mut done = 0usize;
    while (done as u64) < len {
        let want = len as usize - done;
        let result = match pages.phys_at(offset + done, want) {
            Some((phys, run)) => domain
                .map(iova + done as u64, phys, run, prot)
                .map(|()| run),
            None => Err(EINVAL),
        };
        match result {
            Ok(run) => done += run,
            Err(e) => {
                if done > 0 {
                    domain.unmap(iova, done);
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Reads the `IOASID_FORMAT_VTD_S1` invalidation request at user address `uptr` of
/// `entry_len` bytes, and returns the stage-1 range it names.
///
/// Errors: `EINVAL` `entry_len` too small, a misaligned address, no pages, a reserved
/// field; `EOPNOTSUPP` unknown flags; `E2BIG` non-zero bytes past the known request;
/// `EFAULT`.
pub(crate) fn vtd_request(uptr: usize, entry_len: usize) -> Result<(u64, u64)> {
    use kernel::uaccess::{
        UserPtr,
        UserSlice, //
    };
    let known = size_of::<ioasid_inval_vtd>();
    if entry_len < known {
        return Err(EINVAL);
    }
    let mut reader = UserSlice::new(UserPtr::from_addr(uptr), entry_len).reader();
    let req: ioasid_inval_vtd = reader.read()?;
    let mut tail = [0u8; 64];
    while !reader.is_empty() {
        let n = reader.len().min(tail.len());
        reader.read_slice(&mut tail[..n])?;
        if tail[..n].iter().any(|&b| b != 0) {
            return Err(E2BIG);
        }
    }
    if req.flags & !IOASID_INVAL_VTD_LEAF != 0 {
        return Err(EOPNOTSUPP);
    }
    if req.__reserved != 0 || req.npages == 0 || req.addr % PAGE_SIZE as u64 != 0 {
        return Err(EINVAL);
    }
    if req.npages == u64::MAX {
        return Ok((0, u64::MAX));
    }
    let last = req
        .npages
        .checked_mul(PAGE_SIZE as u64)
        .and_then(|len| req.addr.checked_add(len - 1))
        .unwrap_or(u64::MAX);
    Ok((req.addr, last))
}

#[kunit_tests(ioasid_soft_nesting)]
mod tests {
    use super::*;

    const P: u64 = PRESENT | WRITABLE | USER;

    /// A guest of `n` table pages at GPA `page * 4096`; entries set with `set`.
    struct Guest(KVec<u64>);

    impl Guest {
        fn new(pages: usize) -> Self {
            Self(KVec::from_elem(0u64, pages * ENTRIES, GFP_KERNEL).unwrap())
        }
        fn set(&mut self, page: usize, idx: usize, e: u64) {
            self.0[page * ENTRIES + idx] = e;
        }
        fn read(&self, gpa: u64, buf: &mut [u8]) -> bool {
            let first = (gpa / 8) as usize;
            if first + buf.len() / 8 > self.0.len() {
                return false;
            }
            for (i, chunk) in buf.chunks_mut(8).enumerate() {
                chunk.copy_from_slice(&self.0[first + i].to_le_bytes());
            }
            true
        }
    }

    fn leaves(g: &Guest, range: (u64, u64), budget: u64) -> Result<KVec<Leaf>> {
        let table = Table { root: 0, levels: 4 };
        let mut out = KVec::new();
        let read = |gpa: u64, buf: &mut [u8]| g.read(gpa, buf);
        walk(&table, &read, range, budget, &mut |l| {
            out.push(l, GFP_KERNEL)?;
            Ok(())
        })?;
        Ok(out)
    }

    /// A 4 KiB and a 2 MiB leaf, through four levels; permissions AND down the levels.
    #[test]
    fn four_levels_and_a_large_leaf() {
        let mut g = Guest::new(4);
        g.set(0, 1, 0x1000 | P); // PML4[1]: IOVA 512 GiB..
        g.set(1, 0, 0x2000 | PRESENT | USER); // PDPT[0], read-only
        g.set(2, 3, 0x3000 | P); // PD[3] -> PT
        g.set(3, 5, 0x7000_0000 | P); // PT[5]
        g.set(2, 4, 0x4020_0000 | P | LARGE | LARGE_PAT); // PD[4]: 2 MiB
        g.set(2, 6, 0x3000 | PRESENT | WRITABLE); // PD[6]: no U/S, nothing below counts
        let base = 1u64 << 39;
        let found = leaves(&g, (0, u64::MAX), 1 << 20).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0],
            Leaf {
                iova: base + (3 << 21) + (5 << 12),
                shift: 12,
                gpa: 0x7000_0000,
                write: false
            }
        );
        assert_eq!(found[1].iova, base + (4 << 21));
        assert_eq!((found[1].shift, found[1].gpa), (21, 0x4020_0000));
        // A range selects the leaves that overlap it.
        let one = leaves(
            &g,
            (base + (4 << 21) + 0x5000, base + (4 << 21) + 0x5fff),
            1 << 20,
        );
        assert_eq!(one.unwrap().len(), 1);
    }

    /// Reserved bits and large pages at the top level do not translate.
    #[test]
    fn reserved_encodings_are_not_mapped() {
        let mut g = Guest::new(3);
        g.set(0, 0, 0x1000 | P | LARGE); // PS in a PML4 entry
        g.set(0, 1, 0x1000 | P);
        g.set(1, 0, 0x2000 | P);
        g.set(2, 0, 0x4000_2000 | P | LARGE); // 2 MiB leaf with bit 13 set
        g.set(2, 1, 0x4000_0000 | PRESENT | WRITABLE); // no U/S
        assert_eq!(leaves(&g, (0, u64::MAX), 1 << 20).unwrap().len(), 0);
    }

    /// A root that points at itself at every level: bounded by the budget.
    #[test]
    fn self_loop_is_bounded() {
        let mut g = Guest::new(1);
        for i in 0..ENTRIES {
            g.set(0, i, P);
        }
        assert_eq!(leaves(&g, (0, u64::MAX), 5000).err(), Some(ENOSPC));
    }
}
