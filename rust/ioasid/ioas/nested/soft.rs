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

use core::cell::Cell;
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

use pin_init::stack_pin_init;

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
        Batch,
        Domain,
        Gather,
        Prot, //
    },
    pin::PinnedPages,
    uapi::{
        pause_point,
        yield_cpu, //
    },
};

/// Entries of one table page.
const ENTRIES: usize = 512;
/// Entries read at once, into a buffer on the stack (one per level).
const CHUNK: usize = 32;
/// Tree nodes a shadow keeps from removed units for the next ones (an invalidation of a
/// changed entry then allocates nothing).
const SPARE_NODES: usize = 8;

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

    /// The last stage-1 IOVA the table translates: the top of the lower canonical half
    /// (bit 47, or 56, clear); DMA addresses of the upper half are beyond any IOMMU's
    /// aperture here.
    fn last_iova(&self) -> u64 {
        (1u64 << (12 + 9 * self.levels - 1)) - 1
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
    budget: &'a mut u64,
    /// Entries read since it last yielded.
    since_pause: u32,
}

impl Walk<'_> {
    /// Visits the leaves of the table at `gpa` (at `level`: 1 is the last) that overlap
    /// `start..=last`, which lies inside the table's span; `write`: every level above
    /// allows writes.
    fn level(
        &mut self,
        level: u32,
        gpa: u64,
        (start, last): (u64, u64),
        write: bool,
        emit: &mut dyn FnMut(Leaf) -> Result,
    ) -> Result {
        let shift = 12 + 9 * (level - 1);
        let span_base = start & !low_mask(shift + 9);
        let first = ((start >> shift) as usize) % ENTRIES;
        let end = ((last >> shift) as usize) % ENTRIES;
        // Only the entries the range needs (an invalidation of one page reads one entry
        // per level), a chunk at a time.
        let mut buf = [0u8; CHUNK * 8];
        let mut chunk = first;
        while chunk <= end {
            let n = (end + 1 - chunk).min(CHUNK);
            if !(self.read)(gpa + (chunk * 8) as u64, &mut buf[..n * 8]) {
                // A table the parent does not map: nothing below it translates.
                return Ok(());
            }
            for (k, raw) in buf[..n * 8].chunks_exact(8).enumerate() {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(raw);
                let e = u64::from_le_bytes(bytes);
                let e_start = span_base + (((chunk + k) as u64) << shift);
                self.entry(level, e, e_start, (start, last), write, emit)?;
            }
            chunk += n;
        }
        Ok(())
    }

    /// Visits the entry `e` of a table at `level` that translates from `e_start`, for
    /// the range `start..=last`.
    fn entry(
        &mut self,
        level: u32,
        e: u64,
        e_start: u64,
        (start, last): (u64, u64),
        write: bool,
        emit: &mut dyn FnMut(Leaf) -> Result,
    ) -> Result {
        if *self.budget == 0 {
            return Err(ENOSPC);
        }
        *self.budget -= 1;
        self.since_pause += 1;
        if self.since_pause == 256 {
            self.since_pause = 0;
            pause_point()?;
        }
        // DMA is a user-privileged request: supervisor-only entries do not translate.
        if e & PRESENT == 0 || e & USER == 0 {
            return Ok(());
        }
        let shift = 12 + 9 * (level - 1);
        let w = write && e & WRITABLE != 0;
        if level == 1 || e & LARGE != 0 {
            // Large pages exist at the PDPT (1 GiB) and PD (2 MiB) levels only; the low
            // address bits of a large leaf, but its PAT bit, are reserved.
            let low = low_mask(shift) & ADDR_MASK & !LARGE_PAT;
            if level > 3 || (level > 1 && e & low != 0) {
                return Ok(());
            }
            return emit(Leaf {
                iova: e_start,
                shift,
                gpa: e & ADDR_MASK & !low_mask(shift),
                write: w,
            });
        }
        let e_last = e_start + low_mask(shift);
        let sub = (start.max(e_start), last.min(e_last));
        self.level(level - 1, e & ADDR_MASK, sub, w, emit)
    }
}

/// Visits every leaf of `table` that overlaps `start..=last`, reading table entries with
/// `read`, at most `*budget` of them (what is left of it stays there).
///
/// Errors: `ENOSPC` the budget ran out, `EINTR` a signal is pending, and those of
/// `emit`.
fn walk(
    table: &Table,
    read: &dyn Fn(u64, &mut [u8]) -> bool,
    (start, last): (u64, u64),
    budget: &mut u64,
    emit: &mut dyn FnMut(Leaf) -> Result,
) -> Result {
    let last = last.min(table.last_iova());
    if start > last {
        return Ok(());
    }
    let mut w = Walk {
        read,
        budget,
        since_pause: 0,
    };
    w.level(table.levels, table.root, (start, last), true, emit)
}

/// Reads guest memory at `gpa` (inside one page) through the parent's mappings.
/// The parent mapping that holds `gpa`: the last one found (`last`, tables lie together),
/// or looked up.
fn mapping_at<'m>(
    maps: &'m RBTree<u64, Mapping>,
    last: &Cell<Option<(u64, &'m Mapping)>>,
    gpa: u64,
) -> Option<(u64, &'m Mapping)> {
    if let Some((s, m)) = last.get() {
        if s <= gpa && gpa <= m.last {
            return Some((s, m));
        }
    }
    let (s, _) = first_overlapping(maps, gpa, gpa)?;
    let found = (s, maps.get(&s)?);
    last.set(Some(found));
    Some(found)
}

fn read_guest<'m>(
    maps: &'m RBTree<u64, Mapping>,
    last: &Cell<Option<(u64, &'m Mapping)>>,
    gpa: u64,
    buf: &mut [u8],
) -> bool {
    mapping_at(maps, last, gpa).is_some_and(|(s, m)| {
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
    /// The parent's pages it maps in the shadow domain, and in how many physically
    /// contiguous runs (IOMMU map calls); `None`: a hole, no parent mapping backs it
    /// (filled when one does, [`Shadow::parent_mapped`]).
    pages: Option<(Arc<PinnedPages>, usize)>,
}

impl Unit {
    fn leaf_extent(&self, iova: u64) -> (u64, u64) {
        let mask = low_mask(self.shift);
        (iova & !mask, iova | mask)
    }

    /// What it costs against the binding's limit: each map run, or the hole.
    fn entries(&self) -> usize {
        self.pages.as_ref().map_or(1, |(_, runs)| *runs)
    }
}

/// What a shadow's lock protects.
struct ShadowInner {
    /// The units, by stage-1 IOVA; they do not overlap.
    units: RBTree<u64, Unit>,
    /// The mapped units by (GPA, IOVA), what a parent unmap must find; and the holes,
    /// what a parent map must find.
    by_gpa: RBTree<(u64, u64), ()>,
    holes: RBTree<(u64, u64), ()>,
    /// Entries held, against `ioasid.max_shadow_entries`: map runs and holes.
    count: usize,
    /// Unbound: nothing may be added any more.
    dead: bool,
    /// Pieces composed, to yield the CPU every so many.
    pieces: u64,
    /// Nodes of removed units, for the next ones (at most [`SPARE_NODES`] each).
    spare_units: KVec<RBTreeNodeReservation<u64, Unit>>,
    spare_gpa: KVec<RBTreeNodeReservation<(u64, u64), ()>>,
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

/// The longest hole: a hole lies inside one leaf, and leaves are at most 1 GiB.
const MAX_HOLE: u64 = 1 << 30;

/// Units handled between two yields of the CPU by the loops over many of them.
const UNITS_PER_YIELD: usize = 256;

impl Shadow {
    /// A shadow of `table` in `domain`, empty until [`Shadow::refresh`]ed.
    pub(crate) fn new(
        domain: Arc<Domain>,
        table: Table,
        aperture_last: u64,
        reserved: KVec<(u64, u64)>,
    ) -> Result<Arc<Self>> {
        let spare_units = KVec::with_capacity(SPARE_NODES, GFP_KERNEL)?;
        let spare_gpa = KVec::with_capacity(SPARE_NODES, GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(Self {
                domain,
                table,
                aperture_last,
                reserved,
                inner <- new_mutex!(ShadowInner {
                    units: RBTree::new(),
                    by_gpa: RBTree::new(),
                    holes: RBTree::new(),
                    count: 0,
                    dead: false,
                    pieces: 0,
                    spare_units,
                    spare_gpa,
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

    /// Unbinds it (the device no longer uses the domain): every unit goes, so that no pin
    /// outlives the registration in the parent, and nothing is added any more (a racing
    /// invalidation does nothing). The caller holds the parent's lock.
    pub(in crate::ioas) fn kill(&self) {
        let mut guard = self.inner.lock();
        let si = &mut *guard;
        si.dead = true;
        stack_pin_init!(let gather = Gather::new());
        let mut batch = self.domain.batch(gather);
        si.drop_range(&mut batch, 0, u64::MAX);
    }

    /// Rebuilds the translation of each stage-1 range of `ranges` from the table, with the
    /// parent's mappings `maps` (whose lock the caller holds, with no mapping pending):
    /// every leaf that overlaps a range goes, whole, and what the table says now comes
    /// in. The IOTLB is flushed once, at the end. `*done` becomes how many ranges were.
    ///
    /// Errors: `ENOSPC` the limits of a hostile table, `EINTR`, `ENOMEM`, and the
    /// IOMMU driver's: the failing range then translates only what was rebuilt before.
    pub(in crate::ioas) fn refresh(
        &self,
        maps: &RBTree<u64, Mapping>,
        ranges: &[(u64, u64)],
        done: &mut usize,
    ) -> Result {
        let mut guard = self.inner.lock();
        let si = &mut *guard;
        *done = 0;
        if si.dead {
            *done = ranges.len();
            return Ok(());
        }
        stack_pin_init!(let gather = Gather::new());
        let mut batch = self.domain.batch(gather);
        let limit = max_entries();
        // One budget for every range of the call: one hold of the parent's lock.
        let mut budget = (limit as u64).saturating_mul(READS_PER_ENTRY);
        let found = Cell::new(None);
        let read = |gpa: u64, buf: &mut [u8]| read_guest(maps, &found, gpa, buf);
        for &(start, last) in ranges {
            let (start, last) = si.extent(start, last);
            si.drop_range(&mut batch, start, last);
            let mut emit = |leaf: Leaf| -> Result {
                let iova_last = leaf.last();
                if iova_last > self.aperture_last
                    || crate::ioas::iova::intersects_any(&self.reserved, (leaf.iova, iova_last))
                {
                    return Ok(());
                }
                // A new leaf larger than the range takes the place of what it covers.
                if leaf.iova < start || iova_last > last {
                    si.drop_range(&mut batch, leaf.iova, iova_last);
                }
                let piece = (leaf.iova, leaf.gpa, 1u64 << leaf.shift);
                si.compose(&mut batch, maps, leaf, piece, (limit, true))
                    .map_err(|(e, _)| e)
            };
            walk(&self.table, &read, (start, last), &mut budget, &mut emit)?;
            *done += 1;
        }
        Ok(())
    }

    /// The parent unmapped `start..=last` (GPAs) and is about to unpin its pages: every
    /// mapped unit there leaves the domain (the IOTLB flushed before this returns) and
    /// becomes a hole. Allocates nothing.
    pub(in crate::ioas) fn parent_unmapped(&self, start: u64, last: u64) {
        let mut guard = self.inner.lock();
        let si = &mut *guard;
        stack_pin_init!(let gather = Gather::new());
        let mut batch = self.domain.batch(gather);
        let mut handled = 0usize;
        // One lookup per unit: a removal's cursor moves back when nothing follows.
        while let Some(c) = si.by_gpa.cursor_lower_bound_mut(&(start, 0)) {
            let &(gpa, iova) = c.current().0;
            if gpa > last {
                break;
            }
            let (_, node) = c.remove_current();
            if let Some(u) = si.units.get_mut(&iova) {
                let len = u.len as usize;
                let unmapped = batch.unmap(iova, len);
                kernel::warn_on!(unmapped != len);
                si.count = si.count - u.entries() + 1;
                // The parent's mapping still pins the pages: it unpins them after this
                // returns, so after the batch's flush below.
                u.pages = None;
                // The node moves to the hole index: nothing is allocated.
                si.holes.insert(node);
                handled += 1;
                if handled % UNITS_PER_YIELD == 0 {
                    yield_cpu();
                }
            }
        }
        // The IOTLB flush, before the caller unpins.
        drop(batch);
    }

    /// The parent mapped `start..=last` (GPAs; `maps` holds the new mapping, some other
    /// mappings may still be pending): holes there are filled. Best effort: a hole that
    /// cannot be filled (`ENOMEM`, `ENOSPC`) stays one, so the device faults there.
    pub(in crate::ioas) fn parent_mapped(
        &self,
        maps: &RBTree<u64, Mapping>,
        start: u64,
        last: u64,
    ) {
        let mut guard = self.inner.lock();
        let si = &mut *guard;
        if si.dead || si.holes.is_empty() {
            return;
        }
        stack_pin_init!(let gather = Gather::new());
        let mut batch = self.domain.batch(gather);
        let limit = max_entries();
        let mut from = (start.saturating_sub(MAX_HOLE - 1), 0);
        let mut handled = 0usize;
        while let Some(c) = si.holes.cursor_lower_bound_mut(&from) {
            let &(gpa, iova) = c.current().0;
            if gpa > last {
                break;
            }
            from = (gpa, iova.saturating_add(1));
            handled += 1;
            if handled % UNITS_PER_YIELD == 0 {
                yield_cpu();
            }
            let Some(hole) = si.units.get(&iova) else {
                continue;
            };
            if gpa + (hole.len - 1) < start {
                continue;
            }
            let (len, shift, write) = (hole.len, hole.shift, hole.write);
            let (_, gnode) = c.remove_current();
            let _ = si.spare_gpa.push_within_capacity(gnode.into_reservation());
            if let Some(node) = si.units.remove_node(&iova) {
                let _ = si.spare_units.push_within_capacity(node.into_reservation());
            }
            si.count -= 1;
            let leaf = Leaf {
                iova: iova & !low_mask(shift),
                shift,
                gpa: 0,
                write,
            };
            // Not stopped by signals: the parent's map has happened, and a hole left
            // behind would translate nothing until the user invalidated it.
            if let Err((_, done)) =
                si.compose(&mut batch, maps, leaf, (iova, gpa, len), (limit, false))
            {
                // What was not composed (limits, memory) stays a hole: the rest goes
                // back (in the nodes just freed).
                let rest = (iova + done, gpa + done, len - done);
                let _ = si.add_hole(rest, (shift, write));
            }
        }
    }
}

impl ShadowInner {
    /// `start..=last` grown to the whole leaves of the units that overlap it.
    fn extent(&self, start: u64, last: u64) -> (u64, u64) {
        let first = self.unit_at(start);
        let s = first.map_or(start, |(_, (ls, _))| ls.min(start));
        let l = match first {
            // One lookup when a leaf covers the whole range (one page, typically).
            Some((_, (_, ll))) if ll >= last => ll,
            _ => self.unit_at(last).map_or(last, |(_, (_, ll))| ll.max(last)),
        };
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

    /// A tree node for a unit: a spare one, or a new one.
    fn unit_node(&mut self) -> Result<RBTreeNodeReservation<u64, Unit>> {
        match self.spare_units.pop() {
            Some(node) => Ok(node),
            None => Ok(RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?),
        }
    }

    /// A tree node for a GPA index: a spare one, or a new one.
    fn gpa_node(&mut self) -> Result<RBTreeNodeReservation<(u64, u64), ()>> {
        match self.spare_gpa.pop() {
            Some(node) => Ok(node),
            None => Ok(RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?),
        }
    }

    /// Records the hole `(iova, gpa, len)` of a leaf of size `1 << shift` that allows
    /// writes if `write`.
    ///
    /// Errors: `ENOMEM`.
    fn add_hole(
        &mut self,
        (iova, gpa, len): (u64, u64, u64),
        (shift, write): (u32, bool),
    ) -> Result {
        let node = self.unit_node()?;
        let gnode = self.gpa_node()?;
        self.holes.insert(gnode.into_node((gpa, iova), ()));
        self.units.insert(node.into_node(
            iova,
            Unit {
                len,
                gpa,
                shift,
                write,
                pages: None,
            },
        ));
        self.count += 1;
        Ok(())
    }

    /// Removes every unit that begins inside `start..=last`, mapped ones from the domain
    /// too (in `batch`, flushed when it drops), yielding now and then; units never
    /// straddle a leaf, and callers grow ranges to whole leaves.
    fn drop_range(&mut self, batch: &mut Batch<'_>, start: u64, last: u64) {
        let mut handled = 0usize;
        // The unit that covers `start`, if one begins before it, else the first after.
        let mut cursor = match self.units.cursor_lower_bound_mut(&start) {
            Some(c) if *c.current().0 > start => match c.peek_prev() {
                Some((&iova, u)) if iova + (u.len - 1) >= start => c.move_prev(),
                _ => Some(c),
            },
            Some(c) => Some(c),
            None => self
                .units
                .cursor_back_mut()
                .filter(|c| *c.current().0 + (c.current().1.len - 1) >= start),
        };
        while let Some(c) = cursor {
            let (&iova, u) = c.current();
            if iova > last {
                break;
            }
            let (len, gpa, mapped, entries) = (u.len, u.gpa, u.pages.is_some(), u.entries());
            let (next, node) = c.remove_current();
            // The next unit, or the previous one when none follows: then it is done.
            cursor = next.filter(|c| *c.current().0 > iova);
            self.count -= entries;
            let index = if mapped {
                batch.unmap(iova, len as usize);
                self.by_gpa.remove_node(&(gpa, iova))
            } else {
                self.holes.remove_node(&(gpa, iova))
            };
            if let Some(g) = index {
                let _ = self.spare_gpa.push_within_capacity(g.into_reservation());
            }
            // The unit's pages are the parent's, pinned while it maps them: dropping this
            // reference before the batch's flush unpins nothing.
            let _ = self
                .spare_units
                .push_within_capacity(node.into_reservation());
            handled += 1;
            if handled % UNITS_PER_YIELD == 0 {
                yield_cpu();
            }
        }
    }

    /// Composes the piece `(iova, gpa, len)` of `leaf` with the parent's mappings: each
    /// part one complete parent mapping backs becomes a mapped unit, each gap (or pending
    /// mapping) a hole.
    ///
    /// Errors: with how many bytes were composed: `ENOSPC` `limit` entries are held,
    /// `EINTR`, `ENOMEM`, the driver's.
    fn compose(
        &mut self,
        batch: &mut Batch<'_>,
        maps: &RBTree<u64, Mapping>,
        leaf: Leaf,
        (iova, gpa, len): (u64, u64, u64),
        (limit, signals): (usize, bool),
    ) -> core::result::Result<(), (Error, u64)> {
        let mut off = 0u64;
        while off < len {
            // Many pieces (a leaf over many small parent mappings) take time too.
            self.pieces += 1;
            if self.pieces % UNITS_PER_YIELD as u64 == 0 {
                if signals {
                    pause_point().map_err(|e| (e, off))?;
                } else {
                    yield_cpu();
                }
            }
            let g = gpa + off;
            let rest_last = gpa + (len - 1);
            let node = self.unit_node().map_err(|e| (e, off))?;
            let gnode = self.gpa_node().map_err(|e| (e, off))?;
            let backing = first_overlapping(maps, g, rest_last);
            let (piece, pages) = match backing {
                Some((s, m_last)) if s <= g => {
                    let Some(m) = maps.get(&s) else {
                        return Err((EINVAL, off));
                    };
                    let piece = (m_last.min(rest_last) - g) + 1;
                    if m.pending {
                        // Its domains are being filled and it may yet go: a hole now,
                        // filled when the map completes.
                        (piece, None)
                    } else {
                        let write = leaf.write && m.prot.allows(true);
                        let prot = Prot::new(m.prot.allows(false), write);
                        let at = (iova + off, (g - s) as usize, piece);
                        let pace = (limit, signals);
                        let runs = map_piece(batch, at, &m.pages, prot, &mut self.count, pace)
                            .map_err(|e| (e, off))?;
                        (piece, Some((m.pages.clone(), runs)))
                    }
                }
                // A gap until the next mapping, or to the end of the leaf.
                Some((s, _)) => (s - g, None),
                None => (rest_last - g + 1, None),
            };
            if pages.is_none() {
                if self.count >= limit {
                    return Err((ENOSPC, off));
                }
                self.count += 1;
                self.holes.insert(gnode.into_node((g, iova + off), ()));
            } else {
                self.by_gpa.insert(gnode.into_node((g, iova + off), ()));
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
            off += piece;
        }
        Ok(())
    }
}

/// Maps `len` bytes of `pages` from byte `offset` at `iova`, run by physically contiguous
/// run (the IOMMU core picks the largest page sizes each allows), counting each run in
/// `*count` up to `limit` and yielding now and then (stopping for signals if `signals`);
/// all or none. Returns the runs.
///
/// Errors: `ENOSPC` `limit` reached, `EINTR`, `ENOMEM`, the driver's.
fn map_piece(
    batch: &mut Batch<'_>,
    (iova, offset, len): (u64, usize, u64),
    pages: &PinnedPages,
    prot: Prot,
    count: &mut usize,
    (limit, signals): (usize, bool),
) -> Result<usize> {
    let mut done = 0usize;
    let mut runs = 0usize;
    let mut result = Ok(());
    while (done as u64) < len {
        if *count >= limit {
            result = Err(ENOSPC);
            break;
        }
        if runs % UNITS_PER_YIELD == UNITS_PER_YIELD - 1 {
            if !signals {
                yield_cpu();
            } else if let Err(e) = pause_point() {
                result = Err(e);
                break;
            }
        }
        let want = len as usize - done;
        let Some((phys, run)) = pages.phys_at(offset + done, want) else {
            result = Err(EINVAL);
            break;
        };
        if let Err(e) = batch.map(iova + done as u64, phys, run, prot) {
            result = Err(e);
            break;
        }
        done += run;
        runs += 1;
        *count += 1;
    }
    if let Err(e) = result {
        if done > 0 {
            batch.unmap(iova, done);
        }
        *count -= runs;
        return Err(e);
    }
    Ok(runs)
}

/// The largest invalidation request this kernel reads: the known struct and zero bytes
/// up to this size (a larger `entry_len` is `E2BIG`).
const MAX_REQUEST: usize = 256;

/// Reads the `IOASID_FORMAT_VTD_S1` invalidation request at user address `uptr` of
/// `entry_len` bytes, and returns the stage-1 range it names.
///
/// Errors: `EINVAL` `entry_len` too small, a misaligned address, no pages, a reserved
/// field; `EOPNOTSUPP` unknown flags; `E2BIG` non-zero bytes past the known request, or
/// `entry_len` past [`MAX_REQUEST`]; `EFAULT`.
pub(crate) fn vtd_request(uptr: usize, entry_len: usize) -> Result<(u64, u64)> {
    use kernel::uaccess::{
        UserPtr,
        UserSlice, //
    };
    let known = size_of::<ioasid_inval_vtd>();
    if entry_len < known {
        return Err(EINVAL);
    }
    if entry_len > MAX_REQUEST {
        return Err(E2BIG);
    }
    let mut reader = UserSlice::new(UserPtr::from_addr(uptr), entry_len).reader();
    let req: ioasid_inval_vtd = reader.read()?;
    let mut tail = [0u8; MAX_REQUEST];
    let n = reader.len();
    reader.read_slice(&mut tail[..n])?;
    if tail[..n].iter().any(|&b| b != 0) {
        return Err(E2BIG);
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
        let mut budget = budget;
        walk(&table, &read, range, &mut budget, &mut |l| {
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
