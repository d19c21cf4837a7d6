// SPDX-License-Identifier: GPL-2.0

//! Long-term pinning of user memory, and its accounting against `RLIMIT_MEMLOCK`.
//!
//! The two wrappers here hold the only raw GUP and `account_locked_vm` calls of the
//! driver. [`PinnedPages`] owns pins and drops them; [`PinAccount`] makes a page that is
//! pinned by several mappings of one context count once against the locked-memory limit.

use crate::few::{self, Few};
use core::ptr::NonNull;
use kernel::{
    alloc::flags::{
        __GFP_NOWARN, //
        GFP_KERNEL_ACCOUNT,
    },
    bindings, current,
    fs::{
        File,
        LocalFile, //
    },
    mm::Mm,
    page::{
        PAGE_SHIFT,
        PAGE_SIZE, //
    },
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    sync::{
        aref::ARef,
        Mutex, //
    },
};

/// Pages of the calling process's memory, pinned long-term (`FOLL_LONGTERM`), kept as
/// runs of physically contiguous pages: a mapping of huge pages or large folios costs a
/// few entries, not one per 4 KiB page.
///
/// # Invariants
///
/// Each [`Run`] is `n` physically contiguous pages from its lowest, `low`, whose
/// physical address is `phys`, at page offsets `offset..offset + n` of the pinned range,
/// in increasing or (`down`) decreasing physical order (runs are in range order and cover
/// it without gaps); each of those pages holds one pin, taken by `pin_user_pages_fast`,
/// that this value releases exactly once, when it is dropped.
pub(crate) struct PinnedPages {
    runs: Runs,
    /// Pages pinned.
    npages: usize,
    /// The page frames, as sorted, disjoint and apart runs `(first, end)` (a page
    /// pinned twice here, the same memory mapped twice in the range, appears once), when
    /// there is more than one run: fewer than the runs when runs touch (one up after one
    /// down, say), so that the accounting has as few intervals to record as it can.
    /// `None` with one run (no vector to drop either: see [`few::drop_vec`]).
    frames: Option<KVVec<(u64, u64)>>,
    /// Pinned for device writes: the pages are marked dirty when released, so that what
    /// devices wrote is not lost.
    writable: bool,
    /// The file pinned from, if any: kept open while its pages are pinned, and asked
    /// again whether its seals allow a new writable mapping of them (a copy).
    file: Option<ARef<File>>,
}

/// Physically contiguous pinned pages, in range order from the lowest up or from the
/// highest down: memory faulted in page by page often has each page's frame just below
/// the one before, which is one run down rather than a run per page. The address is
/// kept, so that mapping and accounting a run never looks it up again.
#[derive(Clone, Copy)]
struct Run {
    /// Page offset in the range of the run's first page (in range order).
    offset: usize,
    /// The physically lowest page.
    low: *mut bindings::page,
    /// Its physical address.
    phys: u64,
    /// Pages.
    n: usize,
    /// In range order, each page's frame is one below the one before (else above).
    down: bool,
}

impl Run {
    /// The page frames, `(first, end)` (end exclusive).
    fn frames(&self) -> (u64, u64) {
        let pfn = self.phys >> PAGE_SIZE.trailing_zeros();
        (pfn, pfn + self.n as u64)
    }

    /// The frames of the pages from page `skip` of the run (in range order) on.
    fn frames_from(&self, skip: usize) -> (u64, u64) {
        let (lo, hi) = self.frames();
        if self.down {
            (lo, hi - skip as u64)
        } else {
            (lo + skip as u64, hi)
        }
    }

    /// The physical address of page `i` of the run (in range order), and how many pages
    /// from it are physically contiguous in range order.
    fn page_at(&self, i: usize) -> (u64, usize) {
        if self.down {
            (self.phys + ((self.n - 1 - i) * PAGE_SIZE) as u64, 1)
        } else {
            (self.phys + (i * PAGE_SIZE) as u64, self.n - i)
        }
    }

    /// Calls `f(byte offset in the range, physical address, bytes)` for each piece of the
    /// run that is physically contiguous in range order (the whole run up, each page
    /// down), in range order; stops at the first error and returns it.
    ///
    /// The loop of a map of memory faulted in page by page, so it does no checked
    /// arithmetic per page: the offsets are those of pages of a range whose length in
    /// bytes fits (the shift cannot lose bits), and stepping down from the highest frame
    /// stays in the run (past its lowest only once the loop is done).
    #[inline]
    fn try_for_each_piece(&self, mut f: impl FnMut(usize, u64, usize) -> Result) -> Result {
        let at = self.offset << PAGE_SHIFT;
        if !self.down {
            return f(at, self.phys, self.n << PAGE_SHIFT);
        }
        let mut phys = self.phys + ((self.n - 1) << PAGE_SHIFT) as u64;
        for i in 0..self.n {
            f(at.wrapping_add(i << PAGE_SHIFT), phys, PAGE_SIZE)?;
            phys = phys.wrapping_sub(PAGE_SIZE as u64);
        }
        Ok(())
    }

    /// A run of `page` alone, at page offset `offset`, while pinning: it may then grow up
    /// or down.
    fn new(offset: usize, page: *mut bindings::page, phys: u64) -> Self {
        Self {
            offset,
            low: page,
            phys,
            n: 1,
            down: false,
        }
    }

    /// Adds the pages at the start of `pages` that continue the run, which is being
    /// built, as the memory map tells it without asking for any address: each one frame
    /// above the one before if the run goes up (or has one page), one below if it goes
    /// down (or has one page). Returns how many it added.
    #[inline]
    fn extend(&mut self, memmap: MemMap, pages: &[*mut bindings::page]) -> usize {
        if !self.down {
            // Huge pages and large folios: the loop of a map of them is this count.
            let up = memmap.count_from(self.low.wrapping_add(self.n), true, pages);
            if up > 0 || self.n > 1 {
                self.n += up;
                return up;
            }
        }
        let down = memmap.count_from(self.low.wrapping_sub(1), false, pages);
        if down > 0 {
            self.low = self.low.wrapping_sub(down);
            self.phys -= (down * PAGE_SIZE) as u64;
            self.down = true;
            self.n += down;
        }
        down
    }

    /// Adds `page`, whose physical address is `phys`, if it is the next page of the run,
    /// which is being built: one frame above the last if the run goes up (or has one
    /// page), one below if it goes down (or has one page). Returns whether it did.
    fn join(&mut self, page: *mut bindings::page, phys: u64) -> bool {
        if !self.down {
            if phys == self.phys + (self.n * PAGE_SIZE) as u64 {
                self.n += 1;
                return true;
            }
            if self.n > 1 {
                return false;
            }
        }
        let below = phys + PAGE_SIZE as u64 == self.phys;
        if below {
            self.low = page;
            self.phys = phys;
            self.down = true;
            self.n += 1;
        }
        below
    }
}

/// Page frames `lo..hi` (end exclusive) that hold every frame of some runs, and maybe
/// others between them: empty when `lo >= hi`.
#[derive(Clone, Copy)]
struct Span {
    lo: u64,
    hi: u64,
}

impl Span {
    const EMPTY: Self = Self {
        lo: u64::MAX,
        hi: 0,
    };

    /// The span that also holds the `n` frames from physical address `phys`.
    fn with(self, phys: u64, n: usize) -> Self {
        let pfn = phys >> PAGE_SIZE.trailing_zeros();
        Self {
            lo: self.lo.min(pfn),
            hi: self.hi.max(pfn + n as u64),
        }
    }
}

/// The runs of a [`PinnedPages`]: one (a small or a physically contiguous mapping)
/// needs no allocation.
type Runs = Few<Run>;

/// Passes the frames of each of `runs` to `f`, joining runs whose frames follow each other
/// up or down in range order (a run up whose end touches the run down before it, say),
/// and returns how many it passed.
fn joined_runs(runs: &[Run], mut f: impl FnMut((u64, u64))) -> usize {
    let mut runs = runs.iter().map(Run::frames);
    let Some(mut cur) = runs.next() else {
        return 0;
    };
    let mut count = 1;
    for (s, e) in runs {
        if s == cur.1 {
            cur.1 = e;
        } else if e == cur.0 {
            cur.0 = s;
        } else {
            f(cur);
            cur = (s, e);
            count += 1;
        }
    }
    f(cur);
    count
}

/// Where the `struct page`s are: with a virtually contiguous memory map
/// (`SPARSEMEM_VMEMMAP`), a page's frame number is its index in it, and the page after a
/// run's last in that map is the next frame; else each page's address is asked for.
///
/// # Invariants
///
/// `0` is null or the kernel's `vmemmap`.
#[derive(Clone, Copy)]
struct MemMap(*mut bindings::page);

impl MemMap {
    fn get() -> Self {
        // SAFETY: reads constants of the running kernel.
        let (base, size) = unsafe { (ioasid_vmemmap_base(), ioasid_struct_page_size()) };
        // INVARIANT: the helper returns `vmemmap`, or null without one. The index of a
        // page is computed with the Rust view of `struct page`: if it ever disagreed with
        // C's, every address would be asked for instead.
        if size != size_of::<bindings::page>() {
            return Self(core::ptr::null_mut());
        }
        Self(base)
    }

    /// Whether the map tells which pages follow each other (see [`MemMap::count_from`]).
    fn tells(self) -> bool {
        !self.0.is_null()
    }

    /// How many of the pages at the start of `pages` are the frames from that of `first`
    /// on, each one above the one before (`up`) or one below, told without asking for any
    /// address (none when that cannot be told so).
    fn count_from(
        self,
        first: *mut bindings::page,
        up: bool,
        pages: &[*mut bindings::page],
    ) -> usize {
        if !self.tells() {
            return 0;
        }
        let step = if up { 1 } else { -1 };
        pages
            .iter()
            .zip(0isize..)
            .take_while(|&(&page, k)| page == first.wrapping_offset(k * step))
            .count()
    }

    /// The physical address of `page`.
    ///
    /// # Safety
    ///
    /// `page` points to a valid `struct page` (e.g. one the caller holds a pin on).
    unsafe fn phys(self, page: *mut bindings::page) -> u64 {
        if self.0.is_null() {
            // SAFETY: by the caller's guarantee.
            return unsafe { page_to_phys(page) };
        }
        // By the invariant, a valid `struct page` is in the map at `0`, at the index of
        // its frame (`page_to_pfn()` of SPARSEMEM_VMEMMAP).
        let index = (page as usize - self.0 as usize) / size_of::<bindings::page>();
        (index as u64) << PAGE_SIZE.trailing_zeros()
    }
}

// SAFETY: the pins are plain references to `struct page`s; they may be released from any
// thread.
unsafe impl Send for PinnedPages {}
// SAFETY: shared access only reads the page pointers.
unsafe impl Sync for PinnedPages {}

/// Pages pinned per call of `pin_user_pages_fast` (one page of pointers).
const BATCH: usize = PAGE_SIZE / size_of::<*mut bindings::page>();

/// Maps of at most this many pages pin into a batch on the stack (no allocation).
const SMALL_BATCH: usize = 16;

/// Runs a mapping of several runs has room for at first (2 KiB).
const RUNS_ROOM: usize = 64;

/// Where pages are pinned from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// The calling process's memory, from this user address.
    User(usize),
    /// A shmem or hugetlbfs file (see [`check_file`]), from this byte offset.
    File(&'a ARef<File>, u64),
}

/// Checks that `file` can be pinned from (shmem or hugetlbfs) for the access asked for:
/// open for reading if `read`; open for writing and not sealed against writes if
/// `write`.
///
/// Errors: `EINVAL` another kind of file, `EACCES` the open mode or seals forbid it.
pub(crate) fn check_file(file: &LocalFile, read: bool, write: bool) -> Result {
    // SAFETY: `file` is a live file, referenced for the duration of the call.
    let ret = unsafe { ioasid_file_check(file.as_ptr(), read, write) };
    if ret < 0 {
        return Err(Error::from_errno(ret));
    }
    Ok(())
}

/// Pins, from `source` at page `done`, as many pages as `batch` has room for (with GUP
/// `flags`), and returns how many it pinned (at least one), each holding one pin that
/// `unpin_user_page*()` releases.
///
/// Errors: `EFAULT` the first page is not mapped (as asked), `EINVAL` a file range past
/// the end of the file, and any error of `pin_user_pages_fast` or `memfd_pin_folios`.
fn pin_batch(
    source: Source<'_>,
    done: usize,
    batch: &mut [*mut bindings::page],
    flags: u32,
) -> Result<usize> {
    let ret = match source {
        // SAFETY: `batch` has room for `batch.len()` pointers; `pin_user_pages_fast`
        // writes at most that many there and returns how many.
        Source::User(va) => unsafe {
            bindings::pin_user_pages_fast(
                (va + done * PAGE_SIZE) as _,
                batch.len() as _,
                flags as _,
                batch.as_mut_ptr(),
            )
        },
        // SAFETY: `file` is live for the call; `batch` has room for `batch.len()`
        // pointers, and the helper writes at most that many and returns how many.
        Source::File(file, offset) => unsafe {
            ioasid_pin_file_pages(
                file.as_ptr(),
                offset + (done * PAGE_SIZE) as u64,
                batch.len(),
                flags & bindings::FOLL_WRITE != 0,
                batch.as_mut_ptr(),
            ) as _
        },
    };
    match ret {
        0 => Err(EFAULT),
        ret if ret < 0 => Err(Error::from_errno(ret)),
        ret => Ok(ret as usize),
    }
}

/// The physical address of the page behind user address `addr` (for the mock's page
/// checks).
///
/// Errors: `EFAULT` not mapped, and those of `pin_user_pages_fast`.
#[cfg(CONFIG_IOASID_TEST)]
pub(crate) fn user_phys(addr: u64) -> Result<u64> {
    let mut page: *mut bindings::page = core::ptr::null_mut();
    // SAFETY: pins at most one page into `page`; any address is safe to ask about.
    let ret = unsafe { bindings::pin_user_pages_fast(addr as _, 1, 0, &mut page) };
    if ret < 0 {
        return Err(Error::from_errno(ret));
    }
    if ret != 1 {
        return Err(EFAULT);
    }
    // SAFETY: `page` is pinned by the call above.
    let phys = unsafe { page_to_phys(page) };
    // SAFETY: gives back the pin taken above.
    unsafe { bindings::unpin_user_page(page) };
    Ok(phys)
}

impl PinnedPages {
    /// No pages (nothing to release).
    pub(crate) fn none() -> Self {
        Self {
            runs: Few::new(),
            npages: 0,
            frames: None,
            writable: false,
            file: None,
        }
    }

    /// Pins `npages` pages of `source`, for device writes too when `writable`, charging them to `account` batch by batch as
    /// they are pinned (all but the last): a range beyond the locked-memory limit fails
    /// once the limit is reached, not after the whole range is pinned. The charge is returned with the
    /// pins, to be settled by [`PinAccount::charge`].
    ///
    /// Errors: `EFAULT` if part of the range is not mapped (or not writable when asked
    /// to be), `ENOMEM` (including `RLIMIT_MEMLOCK`), and any error of
    /// `pin_user_pages_fast`. Nothing stays pinned or charged on failure.
    pub(crate) fn pin<'a>(
        source: Source<'_>,
        npages: usize,
        writable: bool,
        account: &'a Mutex<PinAccount>,
    ) -> Result<(Self, Precharge<'a>)> {
        let mut pre = Precharge::none(account);
        let mut this = Self {
            runs: Few::new(),
            npages: 0,
            frames: None,
            writable,
            file: match source {
                Source::File(file, _) => Some(file.clone()),
                Source::User(_) => None,
            },
        };
        let mut flags = bindings::FOLL_LONGTERM;
        if writable {
            flags |= bindings::FOLL_WRITE;
        }
        // A small map pins into the stack; a larger one into a batch of a page.
        // (`large` only exists for a large map: see `few::drop_vec`.)
        let mut small = [core::ptr::null_mut(); SMALL_BATCH];
        let mut large;
        let batch: &mut [*mut bindings::page] = if npages <= SMALL_BATCH {
            &mut small[..npages]
        } else {
            large = KVec::new();
            large.resize(npages.min(BATCH), core::ptr::null_mut(), GFP_KERNEL)?;
            &mut large[..]
        };
        let memmap = MemMap::get();
        // Room for a run per page of a small range once there are two (doubling from
        // there): the room the runs do not use is given back once they are all known.
        let room = npages.min(RUNS_ROOM);
        // The run being built. Its pages are pinned but not in `this`, so every path below
        // releases or records it.
        let mut run: Option<Run> = None;
        // Pages `0..charged` of the range are charged in `pre`.
        let mut charged = 0;
        // Holds the frames of the runs recorded since the last precharge (whole runs: the
        // first may have begun before it), so that a precharge of memory the context pins
        // nothing near needs one lookup and no walk of the runs.
        let mut span = Span::EMPTY;
        let mut result = Ok(());
        while result.is_ok() && this.pinned(run) < npages {
            let done = this.pinned(run);
            let want = (npages - done).min(batch.len());
            result = pin_batch(source, done, &mut batch[..want], flags).and_then(|got| {
                this.add_batch(&mut batch[..got], &mut run, &mut span, memmap, room)
            });
            // Charged before the next batch is pinned; the last batch needs no precharge:
            // the exact charge of the whole mapping follows at once (so a map of one batch
            // walks the accounting only once).
            let pinned = this.pinned(run);
            if result.is_ok() && pinned < npages {
                result = this.precharge(&mut pre, charged, run, span);
                charged = pinned;
                span = Span::EMPTY;
            }
        }
        if let Some(r) = run {
            result = result.and(this.push_run(r, room));
        }
        // On error, dropping `this` releases every recorded pin and `pre` the charge.
        result?;
        this.runs.compact(GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
        // One run is its own sorted frame list (see `pfn_runs`).
        if this.runs.as_slice().len() > 1 {
            this.frames = Some(this.frame_runs()?);
        }
        Ok((this, pre))
    }

    /// Pages pinned so far: those recorded and those of the run being built.
    fn pinned(&self, run: Option<Run>) -> usize {
        self.npages + run.map_or(0, |r| r.n)
    }

    /// Adds the pages just pinned in `batch` to the run being built, or to new runs
    /// (whose frames `span` gains). If recording a run fails, the pages of the batch in
    /// no run are released here.
    fn add_batch(
        &mut self,
        batch: &mut [*mut bindings::page],
        run: &mut Option<Run>,
        span: &mut Span,
        memmap: MemMap,
        room: usize,
    ) -> Result {
        let mut i = 0;
        while i < batch.len() {
            if let Some(r) = run {
                let joined = r.extend(memmap, &batch[i..]);
                if joined > 0 {
                    i += joined;
                    continue;
                }
            }
            let page = batch[i];
            i += 1;
            // SAFETY: `page` was just pinned.
            let phys = unsafe { memmap.phys(page) };
            // With the memory map, `extend` has told already.
            if let (Some(r), false) = (run.as_mut(), memmap.tells()) {
                if r.join(page, phys) {
                    continue;
                }
            }
            // The new page is in `run` even on error, so that it is released.
            let offset = self.pinned(*run);
            let Some(done) = run.replace(Run::new(offset, page, phys)) else {
                continue;
            };
            *span = span.with(done.phys, done.n);
            if let Err(e) = self.push_run(done, room) {
                let rest = &mut batch[i..];
                // SAFETY: those pages were pinned by the last batch, once each, and are
                // in no run.
                unsafe { bindings::unpin_user_pages(rest.as_mut_ptr(), rest.len() as _) };
                return Err(e);
            }
        }
        Ok(())
    }

    /// Records a completed run: its pins are `self`'s from now on. If that fails, the
    /// run is released here (and only here). A second run makes room for `room`.
    fn push_run(&mut self, run: Run, room: usize) -> Result {
        if let Err(e) = self.runs.push(run, room, GFP_KERNEL_ACCOUNT | __GFP_NOWARN) {
            // SAFETY: the run's pages hold one pin each, recorded nowhere else, so that
            // nobody else releases them; they are physically contiguous from `low`.
            unsafe { bindings::unpin_user_page_range_dirty_lock(run.low, run.n as _, false) };
            return Err(e.into());
        }
        self.npages += run.n;
        Ok(())
    }

    /// Charges in `pre` the pages from page offset `from` on: those of the recorded runs
    /// and of `run`, the one being built after them, whose frames `span` and `run` hold.
    /// Pages another mapping of the context already pins are not charged again.
    fn precharge(
        &self,
        pre: &mut Precharge<'_>,
        from: usize,
        run: Option<Run>,
        span: Span,
    ) -> Result {
        let runs = self.runs.as_slice();
        let first = runs.partition_point(|r| r.offset + r.n <= from);
        let pfns = Iterator::chain(runs[first..].iter().copied(), run).filter_map(|r| {
            let lo = from.max(r.offset);
            (lo < r.offset + r.n).then(|| r.frames_from(lo - r.offset))
        });
        let span = run.map_or(span, |r| span.with(r.phys, r.n));
        pre.add(pfns, span, self.pinned(run) - from)
    }

    /// The sorted, disjoint runs of page frames of the pinned pages, with no two that
    /// touch. Runs whose frames follow each other up or down in range order are joined
    /// first: what is left to sort is then usually a few runs, not one per page.
    ///
    /// Errors: `ENOMEM`.
    fn frame_runs(&self) -> Result<KVVec<(u64, u64)>> {
        let runs = self.runs.as_slice();
        let mut frames = KVVec::with_capacity(joined_runs(runs, |_| ()), GFP_KERNEL_ACCOUNT)?;
        joined_runs(runs, |run| {
            // Counted above.
            let _ = frames.push_within_capacity(run);
        });
        if !frames.is_sorted() {
            frames.sort_unstable();
        }
        // Merge overlapping and touching runs, in place.
        let mut kept = 0;
        for i in 0..frames.len() {
            let (s, e) = frames[i];
            if kept > 0 && s <= frames[kept - 1].1 {
                frames[kept - 1].1 = frames[kept - 1].1.max(e);
            } else {
                frames[kept] = (s, e);
                kept += 1;
            }
        }
        frames.truncate(kept);
        few::shrink(&mut frames, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
        Ok(frames)
    }

    /// The pinned page frames as sorted, disjoint runs `(first, end)` (end exclusive):
    /// `frames`, or the only run when there is one (`frames` is then empty).
    pub(crate) fn pfn_runs(&self) -> impl Iterator<Item = (u64, u64)> + Clone + '_ {
        let runs = self.runs.as_slice();
        let only = if runs.len() == 1 {
            Some(runs[0].frames())
        } else {
            None
        };
        Iterator::chain(only.into_iter(), self.frames.iter().flatten().copied())
    }

    /// Number of pinned pages.
    pub(crate) fn len(&self) -> usize {
        self.npages
    }

    /// Whether a new mapping of the pages may let devices write them: they were pinned
    /// for writes, and the file they come from (if any) is not sealed against writes
    /// now.
    pub(crate) fn may_map_writable(&self) -> bool {
        self.writable
            && self
                .file
                .as_ref()
                .is_none_or(|f| check_file(f, false, true).is_ok())
    }

    /// Calls `f(byte offset, physical address, length)` for each physically contiguous
    /// piece of the pinned memory, in range order, so that a domain can map each with
    /// the largest page sizes it allows; stops at the first error and returns it.
    pub(crate) fn try_for_each_phys_run(
        &self,
        mut f: impl FnMut(usize, u64, usize) -> Result,
    ) -> Result {
        self.runs
            .as_slice()
            .iter()
            .try_for_each(|r| r.try_for_each_piece(&mut f))
    }

    /// The physical address of byte `offset` (page aligned) of the pinned memory and how
    /// many bytes from there, at most `max`, are physically contiguous with it; `None`
    /// past the end. O(log runs): a shadow of a huge mapping looks pages up one by one.
    pub(crate) fn phys_at(&self, offset: usize, max: usize) -> Option<(u64, usize)> {
        let index = offset / PAGE_SIZE;
        let runs = self.runs.as_slice();
        let i = runs.partition_point(|r| r.offset <= index).checked_sub(1)?;
        let r = runs[i];
        if index >= r.offset + r.n {
            return None;
        }
        let (phys, n) = r.page_at(index - r.offset);
        Some((phys, (n * PAGE_SIZE).min(max)))
    }

    /// The page at page offset `index` of the range.
    fn page(&self, index: usize) -> Option<*mut bindings::page> {
        let (phys, _) = self.phys_at(index * PAGE_SIZE, PAGE_SIZE)?;
        // SAFETY: the page at `phys` is pinned (invariant), so its `struct page` is live.
        Some(unsafe { ioasid_pfn_to_page(phys >> PAGE_SIZE.trailing_zeros()) })
    }

    /// Copies between `buf` and the pinned memory at byte `offset`, through the CPU.
    ///
    /// Errors: `EFAULT` the range is not inside the pinned memory.
    pub(crate) fn copy(&self, offset: usize, buf: &mut [u8], write: bool) -> Result {
        let end = offset.checked_add(buf.len()).ok_or(EFAULT)?;
        if end > self.npages * PAGE_SIZE {
            return Err(EFAULT);
        }
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done;
            let in_page = at % PAGE_SIZE;
            let n = (PAGE_SIZE - in_page).min(buf.len() - done);
            let page = self.page(at / PAGE_SIZE).ok_or(EFAULT)?;
            // SAFETY: the page is pinned (invariant); `in_page + n <= PAGE_SIZE`, and
            // `buf[done..done + n]` is valid for reads and writes.
            unsafe { ioasid_page_rw(page, in_page, buf[done..].as_mut_ptr().cast(), n, write) };
            done += n;
        }
        Ok(())
    }
}

impl Drop for PinnedPages {
    fn drop(&mut self) {
        for r in self.runs.as_slice().iter() {
            // SAFETY: by the invariant, the run's pages hold one pin each, released only
            // here; they are physically contiguous from `low`, as the call requires.
            unsafe { bindings::unpin_user_page_range_dirty_lock(r.low, r.n as _, self.writable) };
        }
    }
}

/// Physical address of a page.
///
/// # Safety
///
/// `page` points to a valid `struct page` (e.g. one the caller holds a pin on).
pub(crate) unsafe fn page_to_phys(page: *mut bindings::page) -> u64 {
    // SAFETY: the caller guarantees `page` is valid; the helper only does arithmetic on it.
    unsafe { ioasid_page_to_phys(page) }
}

// `struct page` is only passed by pointer, never inspected here.
#[expect(improper_ctypes)]
unsafe extern "C" {
    /// `page_to_phys()`, from `helpers.c`.
    fn ioasid_page_to_phys(page: *mut bindings::page) -> bindings::phys_addr_t;
    /// `memcpy_to_page`/`memcpy_from_page`, from `helpers.c`.
    fn ioasid_page_rw(
        page: *mut bindings::page,
        offset: usize,
        buf: *mut c_void,
        len: usize,
        write: bool,
    );
    /// `pfn_to_page`, from `helpers.c`.
    fn ioasid_pfn_to_page(pfn: u64) -> *mut bindings::page;
    /// The virtually contiguous array of `struct page`s indexed by page frame
    /// (`CONFIG_SPARSEMEM_VMEMMAP`), or null without one, from `helpers.c`.
    fn ioasid_vmemmap_base() -> *mut bindings::page;
    /// `sizeof(struct page)` in C, from `helpers.c`.
    fn ioasid_struct_page_size() -> usize;
    /// Whether a file can be pinned for an access, from `helpers.c`.
    fn ioasid_file_check(file: *mut bindings::file, read: bool, write: bool) -> c_int;
    /// Pins up to `nr` pages of a shmem or hugetlbfs file, one pin each (checking its
    /// write seals if `write`), from `helpers.c`.
    fn ioasid_pin_file_pages(
        file: *mut bindings::file,
        offset: u64,
        nr: usize,
        write: bool,
        pages: *mut *mut bindings::page,
    ) -> isize;
    // The locked-memory count of a user (`user_struct.locked_vm`), from `helpers.c`.
    fn ioasid_current_user() -> *mut bindings::user_struct;
    fn ioasid_put_user(user: *mut bindings::user_struct);
    fn ioasid_user_charge(user: *mut bindings::user_struct, npages: usize) -> c_int;
    fn ioasid_user_uncharge(user: *mut bindings::user_struct, npages: usize);
    fn ioasid_mm_pinned(mm: *mut bindings::mm_struct, npages: usize, inc: bool);
}

/// The user (`struct user_struct`) locked memory is charged to, on which we hold a
/// reference. Its count (`locked_vm`, against `RLIMIT_MEMLOCK`, as io_uring and iommufd
/// use it) belongs to the user, not to a process: pins that outlive the process that
/// made them (an fd inherited across `exec`, or passed to another process) still count
/// against the limit of every process of that user.
///
/// # Invariants
///
/// `0` came from `ioasid_current_user` (a reference of its own), put only by `Drop`.
pub(crate) struct UserCharge(NonNull<bindings::user_struct>);

// SAFETY: a reference-counted `user_struct`, whose count is atomic.
unsafe impl Send for UserCharge {}
// SAFETY: as above.
unsafe impl Sync for UserCharge {}

impl UserCharge {
    /// The user of the calling task.
    pub(crate) fn current() -> Self {
        // SAFETY: no precondition; the result is a new reference, never null.
        let user = unsafe { ioasid_current_user() };
        // INVARIANT: a reference of our own, from `ioasid_current_user`.
        // SAFETY: `get_uid()` returns its argument, a live user, never null.
        Self(unsafe { NonNull::new_unchecked(user) })
    }

    /// Charges `npages` against the calling task's `RLIMIT_MEMLOCK`, which applies
    /// unless it has `CAP_IPC_LOCK`.
    ///
    /// Errors: `ENOMEM` over the limit.
    fn charge(&self, npages: usize) -> Result {
        // SAFETY: a live user (invariant).
        let ret = unsafe { ioasid_user_charge(self.0.as_ptr(), npages) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }

    /// Whether `self` and `other` are the same user.
    fn same(&self, other: &Self) -> bool {
        self.0 == other.0
    }

    /// Gives back `npages` charged before.
    fn uncharge(&self, npages: usize) {
        // SAFETY: a live user (invariant).
        unsafe { ioasid_user_uncharge(self.0.as_ptr(), npages) };
    }
}

impl Drop for UserCharge {
    fn drop(&mut self) {
        // SAFETY: our reference (invariant), put once.
        unsafe { ioasid_put_user(self.0.as_ptr()) };
    }
}

/// Pages charged while they were being pinned, before their mapping is recorded:
/// settled by [`PinAccount::charge`], given back if dropped before that.
pub(crate) struct Precharge<'a> {
    account: &'a Mutex<PinAccount>,
    pages: usize,
}

impl<'a> Precharge<'a> {
    /// No pages charged yet: for pages pinned already (a copy of a mapping).
    pub(crate) fn none(account: &'a Mutex<PinAccount>) -> Self {
        Self { account, pages: 0 }
    }

    /// Charges the pages of the pfn runs `pfns` that no mapping of the context pins yet:
    /// all `total` of them, with no walk of the runs, if no interval meets `span`, which
    /// holds them all.
    ///
    /// Errors: `ENOMEM` over the locked-memory limit, `EPERM` the caller is no longer the
    /// process the context charges (nothing more is charged).
    fn add(
        &mut self,
        pfns: impl Iterator<Item = (u64, u64)> + Clone,
        span: Span,
        total: usize,
    ) -> Result {
        let mut account = self.account.lock();
        account.check_owner()?;
        let fresh = if span.lo < span.hi && account.none_within(span.lo, span.hi) {
            total
        } else {
            account.fresh(pfns)
        };
        account.account(fresh, true)?;
        self.pages += fresh;
        Ok(())
    }

    /// Takes the charge out, so that dropping `self` gives nothing back.
    fn take(&mut self) -> usize {
        core::mem::replace(&mut self.pages, 0)
    }
}

impl Drop for Precharge<'_> {
    fn drop(&mut self) {
        let pages = self.take();
        if pages > 0 {
            let _ = self.account.lock().account(pages, false);
        }
    }
}

/// Pages [`PinAccount::release`] took out of the tree that are still charged: to be
/// given to [`PinAccount::settle`] once their pins are dropped.
#[must_use]
pub(crate) struct Released(usize);

/// Locked-memory accounting of one context: each distinct page pinned by any of its
/// mappings counts once in the locked memory of the user of the process charged (the
/// opener, or the last to call `IOASID_CHANGE_PROCESS`), against its `RLIMIT_MEMLOCK`,
/// and in that process's pinned memory (`VmPin` in `/proc/<pid>/status`).
///
/// The pages are tracked as disjoint intervals of page frame numbers, each with how many
/// mappings pin it, so that a mapping of physically contiguous memory (huge pages,
/// transparent huge pages, large folios) costs a few tree nodes, not one per 4 KiB page.
pub(crate) struct PinAccount {
    /// The process charged: the only one whose memory may be pinned (see
    /// [`PinAccount::check_owner`]).
    mm: ARef<Mm>,
    /// The user charged for every page (see [`UserCharge`]).
    user: UserCharge,
    /// Pages charged now: those of the tree, those of the precharges in flight, and
    /// those released from the tree whose pins are being dropped (see [`Released`]).
    charged: usize,
    /// `start pfn -> (end pfn, exclusive; users)`, disjoint.
    users: RBTree<u64, Interval>,
    /// Nodes of removed intervals, kept for the next charges (at most [`SPARE_NODES`]):
    /// a context that maps and unmaps again and again allocates no tree nodes.
    spare: KVVec<Node>,
    /// An empty vector kept for the nodes of the next charge (its capacity reused).
    scratch: KVVec<Node>,
}

/// Most tree nodes a context keeps for reuse (a few hundred KiB).
const SPARE_NODES: usize = 4096;

/// Pages `start..end` (the tree's key is `start`) pinned by `users` mappings.
///
/// Invariant of the tree: both ends of every run of every live mapping are interval
/// boundaries (a charge splits intervals there, and nothing ever merges them), so an
/// uncharge finds each of its runs made of whole intervals and never needs a node.
struct Interval {
    end: u64,
    users: usize,
}

/// Nodes for the interval tree.
type Node = RBTreeNodeReservation<u64, Interval>;

impl PinAccount {
    /// Accounting against `mm` and `user`.
    pub(crate) fn new(mm: ARef<Mm>, user: UserCharge) -> Self {
        Self {
            mm,
            user,
            charged: 0,
            users: RBTree::new(),
            spare: KVVec::new(),
            scratch: KVVec::new(),
        }
    }

    /// Accounting for tests that map nothing: KUnit runs in a kernel thread, which has
    /// no mm, so it borrows init's (never charged).
    #[cfg(CONFIG_KUNIT)]
    pub(crate) fn for_kunit() -> Self {
        // SAFETY: `init_mm` is a static that lives for the whole kernel lifetime.
        let mm = unsafe { Mm::from_raw(&raw mut bindings::init_mm) };
        Self::new(ARef::from(mm), UserCharge::current())
    }

    /// Whether the calling process is the one charged, the only one allowed to pin
    /// memory for the context: a pin must never be charged to a process that did not
    /// make it (one whose fd was inherited or passed, or that has exec'ed since).
    ///
    /// Errors: `EPERM` another process.
    pub(crate) fn check_owner(&self) -> Result {
        match current!().mm() {
            Some(mm) if core::ptr::eq::<Mm>(&**mm, &*self.mm) => Ok(()),
            _ => Err(EPERM),
        }
    }

    /// Makes the calling process the one charged: every page charged moves from the
    /// previous process's locked memory (and its user's) to the caller's, in one step.
    /// Returns how many pages that is.
    ///
    /// Errors: `ENOMEM` they do not fit in the caller's `RLIMIT_MEMLOCK` (nothing
    /// changes), `EINVAL` a kernel thread.
    pub(crate) fn change_process(&mut self) -> Result<usize> {
        let mm = ARef::from(&**current!().mm().ok_or(EINVAL)?);
        let user = UserCharge::current();
        let n = self.charged;
        let same_mm = core::ptr::eq::<Mm>(&*mm, &*self.mm);
        let same_user = user.same(&self.user);
        if !same_user {
            user.charge(n)?;
        }
        if !same_mm {
            mm_pinned(&mm, n, true);
            mm_pinned(&self.mm, n, false);
        }
        if !same_user {
            self.user.uncharge(n);
        }
        self.mm = mm;
        self.user = user;
        Ok(n)
    }

    /// The interval holding pfn `at`, as `(start, end, users)`.
    fn containing(&self, at: u64) -> Option<(u64, u64, usize)> {
        let (start, end, users) = match self.users.cursor_lower_bound(&at) {
            Some(c) if *c.current().0 == at => (at, c.current().1.end, c.current().1.users),
            Some(c) => c.peek_prev().map(|(&s, iv)| (s, iv.end, iv.users))?,
            None => self
                .users
                .cursor_back()
                .map(|c| (*c.current().0, c.current().1.end, c.current().1.users))?,
        };
        (at < end).then_some((start, end, users))
    }

    /// The piece of pfns `at..end` that begins at `at`: `(piece end, Some(holding
    /// interval) or None for pages no mapping pins)`. One tree lookup: the interval at or
    /// after `at`, and the one before it.
    fn piece(&self, at: u64, end: u64) -> (u64, Option<(u64, u64, usize)>) {
        let held = |s: u64, iv: &Interval| (at < iv.end).then_some((s, iv.end, iv.users));
        let (before, next) = match self.users.cursor_lower_bound(&at) {
            Some(c) => {
                let (&s, iv) = c.current();
                if s == at {
                    return (iv.end.min(end), Some((s, iv.end, iv.users)));
                }
                (c.peek_prev().and_then(|(&p, piv)| held(p, piv)), Some(s))
            }
            None => (
                self.users
                    .cursor_back()
                    .and_then(|c| held(*c.current().0, c.current().1)),
                None,
            ),
        };
        match before {
            Some(iv) => (iv.1.min(end), Some(iv)),
            None => (next.map_or(end, |n| n.min(end)), None),
        }
    }

    /// Whether no interval meets pfns `lo..hi`: its first piece is all of it, and no
    /// mapping pins it. One tree lookup.
    fn none_within(&self, lo: u64, hi: u64) -> bool {
        matches!(self.piece(lo, hi), (to, None) if to == hi)
    }

    /// The number of pages of the pfn runs `pfns` if no interval meets the span they
    /// cover (so every one of their pages is new to the context), else `None`: one tree
    /// lookup instead of one per run, for memory the context pins nothing near (a first
    /// mapping, or memory physically apart from the rest).
    fn all_fresh(&self, pfns: impl Iterator<Item = (u64, u64)>) -> Option<usize> {
        let (mut lo, mut hi, mut total) = (u64::MAX, 0, 0usize);
        for (s, e) in pfns {
            lo = lo.min(s);
            hi = hi.max(e);
            total += (e - s) as usize;
        }
        (lo >= hi || self.none_within(lo, hi)).then_some(total)
    }

    /// How many pages of the pfn runs `pfns` no mapping pins.
    fn fresh(&self, pfns: impl Iterator<Item = (u64, u64)> + Clone) -> usize {
        if let Some(total) = self.all_fresh(pfns.clone()) {
            return total;
        }
        let mut fresh = 0;
        for (s, e) in pfns {
            let mut at = s;
            while at < e {
                let (to, held) = self.piece(at, e);
                if held.is_none() {
                    fresh += (to - at) as usize;
                }
                at = to;
            }
        }
        fresh
    }

    /// Splits the interval holding pfn `at` so that one begins at `at`.
    fn split_at(&mut self, at: u64, node: &mut impl FnMut() -> Option<Node>) {
        if let Some((start, end, users)) = self.containing(at) {
            if start < at {
                // Reserved by the caller's dry walk.
                let Some(n) = node() else { return };
                if let Some(iv) = self.users.get_mut(&start) {
                    iv.end = at;
                }
                self.users.insert(n.into_node(at, Interval { end, users }));
            }
        }
    }

    /// Records one more mapping of `pages` and charges the pages new to this context,
    /// settling `pre`, what was charged while they were pinned (the same memory twice in
    /// one range, or another mapping's pages unpinned meanwhile, make the two differ).
    ///
    /// Errors: `ENOMEM` if the new pages would exceed `RLIMIT_MEMLOCK` (and the caller
    /// lacks `CAP_IPC_LOCK`) or memory runs out, `EPERM` the caller is not the process
    /// charged; nothing is recorded or charged on failure.
    pub(crate) fn charge(&mut self, pages: &PinnedPages, mut pre: Precharge<'_>) -> Result {
        let pre = pre.take();
        if let Err(e) = self.check_owner() {
            let _ = self.account(pre, false);
            return Err(e);
        }
        let (fresh, want, apart) = self.dry_walk(pages);
        // The nodes come from the spare pool when it has enough (taken whole, and put
        // back with what is left: no allocation), else are reserved.
        let pooled = self.spare.len() >= want;
        let mut nodes = if pooled {
            core::mem::take(&mut self.spare)
        } else {
            self.reserve_nodes(want).inspect_err(|_| {
                let _ = self.account(pre, false);
            })?
        };
        let settled = match (fresh as usize).checked_sub(pre) {
            Some(more) => self.account(more, true).inspect_err(|_| {
                let _ = self.account(pre, false);
            }),
            None => self.account(pre - fresh as usize, false),
        };
        let charged = settled.map(|()| self.record(pages, &mut nodes, apart));
        if pooled {
            // Back in place of the empty vector `take` left there.
            core::mem::swap(&mut self.spare, &mut nodes);
            few::drop_vec(nodes);
        } else {
            self.give_back(nodes);
        }
        let charged = charged?;
        // Every page counted fresh was recorded (the reservation covers them all).
        self.account((fresh - charged) as usize, false)
    }

    /// How many pages of `pages` no mapping pins yet, how many nodes recording them
    /// needs at most (the runs are disjoint, so splitting for one never adds work for
    /// another), and whether no interval is near them (recording them then needs no
    /// lookup).
    fn dry_walk(&self, pages: &PinnedPages) -> (u64, usize, bool) {
        // Sorted and disjoint (see `pfn_runs`): with no interval near, one node per run.
        if let Some(total) = self.all_fresh(pages.pfn_runs()) {
            return (total as u64, pages.pfn_runs().count(), true);
        }
        let (mut fresh, mut want) = (0u64, 0usize);
        for (s, e) in pages.pfn_runs() {
            let mut at = s;
            while at < e {
                let (to, held) = self.piece(at, e);
                match held {
                    None => {
                        fresh += to - at;
                        want += 1;
                    }
                    Some((start, end, _)) => {
                        want += usize::from(start < at) + usize::from(to < end)
                    }
                }
                at = to;
            }
        }
        (fresh, want, false)
    }

    /// `want` nodes, from the spare pool first, and room in the pool to keep as many
    /// when their intervals go (best effort: without it they are freed instead).
    ///
    /// Errors: `ENOMEM`.
    fn reserve_nodes(&mut self, want: usize) -> Result<KVVec<Node>> {
        let mut nodes = core::mem::take(&mut self.scratch);
        nodes.reserve(want, GFP_KERNEL_ACCOUNT | __GFP_NOWARN)?;
        while nodes.len() < want {
            let node = match self.spare.pop() {
                Some(node) => node,
                None => Node::new(GFP_KERNEL_ACCOUNT)?,
            };
            // Capacity was reserved above.
            let _ = nodes.push_within_capacity(node);
        }
        let keep = (self.spare.len() + want).min(SPARE_NODES);
        let _ = self.spare.reserve(
            keep.saturating_sub(self.spare.len()),
            GFP_KERNEL_ACCOUNT | __GFP_NOWARN,
        );
        Ok(nodes)
    }

    /// Returns nodes a charge did not use to the pool (what fits; the rest is freed),
    /// and their vector to be reused.
    fn give_back(&mut self, mut nodes: KVVec<Node>) {
        while let Some(node) = nodes.pop() {
            let _ = self.spare.push_within_capacity(node);
        }
        // Back in place of the empty vector `reserve_nodes` left there.
        core::mem::swap(&mut self.scratch, &mut nodes);
        few::drop_vec(nodes);
    }

    /// Records one more user of every page of `pages`, with the nodes the dry walk
    /// asked for; returns how many pages were new.
    fn record(&mut self, pages: &PinnedPages, nodes: &mut KVVec<Node>, apart: bool) -> u64 {
        let mut node = || nodes.pop();
        let mut charged = 0u64;
        if apart {
            // The dry walk found no interval near the runs (and the lock was held since).
            for (s, e) in pages.pfn_runs() {
                if let Some(n) = node() {
                    self.users
                        .insert(n.into_node(s, Interval { end: e, users: 1 }));
                    charged += e - s;
                }
            }
            return charged;
        }
        for (s, e) in pages.pfn_runs() {
            let mut at = s;
            while at < e {
                let (to, held) = self.piece(at, e);
                match held {
                    None => {
                        // Reserved by the dry walk.
                        if let Some(n) = node() {
                            self.users
                                .insert(n.into_node(at, Interval { end: to, users: 1 }));
                            charged += to - at;
                        }
                    }
                    Some((start, end, _)) => {
                        // An interval that is the piece already needs no split.
                        if start < at {
                            self.split_at(at, &mut node);
                        }
                        if to < end {
                            self.split_at(to, &mut node);
                        }
                        if let Some(iv) = self.users.get_mut(&at) {
                            iv.users += 1;
                        }
                    }
                }
                at = to;
            }
        }
        charged
    }

    /// Forgets one mapping of `pages`, uncharging the pages no other mapping pins.
    pub(crate) fn uncharge(&mut self, pages: &PinnedPages) {
        let released = self.release(pages);
        self.settle(released);
    }

    /// Gives back the charge of pages [`PinAccount::release`] took out of the tree, once
    /// their pins are dropped.
    pub(crate) fn settle(&mut self, released: Released) {
        // Uncharging cannot fail.
        let _ = self.account(released.0, false);
    }

    /// The first half of [`PinAccount::uncharge`]: forgets one mapping of `pages` in the
    /// tree, but the pages no other mapping pins stay charged until they are settled, so
    /// that the caller may drop their pins without the lock. Meanwhile a charge of the
    /// same memory finds it new and charges it once more: an overcharge for as long as
    /// the unpin takes, never an undercharge.
    pub(crate) fn release(&mut self, pages: &PinnedPages) -> Released {
        let mut gone = 0u64;
        for (s, e) in pages.pfn_runs() {
            let mut at = s;
            // By the tree's invariant, a charged run is whole intervals: one lookup each.
            while at < e {
                let Some(mut entry) = self.users.find_mut(&at) else {
                    // Not reached: skip past the piece, leaving it as it is.
                    kernel::warn_on!(true);
                    at = self.piece(at, e).0;
                    continue;
                };
                let iv = entry.get_mut();
                let end = iv.end;
                if kernel::warn_on!(end > e) {
                    at = e;
                    continue;
                }
                iv.users -= 1;
                if iv.users == 0 {
                    // Kept if there is room (reserved at charge time), else freed.
                    let node = entry.remove_node();
                    let _ = self.spare.push_within_capacity(node.into_reservation());
                    gone += end - at;
                }
                at = end;
            }
        }
        Released(gone as usize)
    }

    /// Charges (`inc`) or uncharges `npages` to the user, against its `RLIMIT_MEMLOCK`,
    /// and counts them in the `VmPin` of the process charged.
    ///
    /// Errors (charging only): `ENOMEM` over the limit.
    fn account(&mut self, npages: usize, inc: bool) -> Result {
        if npages == 0 {
            return Ok(());
        }
        if inc {
            self.user.charge(npages)?;
            self.charged += npages;
        } else {
            self.user.uncharge(npages);
            self.charged -= npages;
        }
        mm_pinned(&self.mm, npages, inc);
        Ok(())
    }
}

/// Counts `npages` in (`inc`) or out of `mm`'s pinned memory (`VmPin`): no lock, no
/// limit (the user's count is the one limited), and harmless once the process exited.
fn mm_pinned(mm: &Mm, npages: usize, inc: bool) {
    // SAFETY: `mm` is a live `mm_struct` (the `Mm` reference holds an `mmgrab` count,
    // which keeps the struct, if not its address space); the helper only adds to or
    // subtracts from its atomic `pinned_vm`.
    unsafe { ioasid_mm_pinned(mm.as_raw(), npages, inc) };
}

#[kunit_tests(ioasid_pin_account)]
mod tests {
    use super::*;

    /// Accounting whose tree holds `intervals` (`(start, end)`, one user each).
    fn with(intervals: &[(u64, u64)]) -> Result<PinAccount> {
        let mut account = PinAccount::for_kunit();
        for &(s, e) in intervals {
            let node = Node::new(GFP_KERNEL)?;
            account
                .users
                .insert(node.into_node(s, Interval { end: e, users: 1 }));
        }
        Ok(account)
    }

    #[test]
    fn span_check_sees_every_neighbour() -> Result {
        let a = with(&[(10, 20), (30, 40)])?;
        for (lo, hi) in [(0, 10), (20, 30), (40, 100)] {
            assert!(a.none_within(lo, hi));
        }
        for (lo, hi) in [(0, 11), (12, 15), (19, 21), (25, 31), (39, 50), (0, 100)] {
            assert!(!a.none_within(lo, hi));
        }
        assert!(with(&[])?.none_within(0, u64::MAX));
        Ok(())
    }

    #[test]
    fn runs_join_up_and_down() -> Result {
        let shift = PAGE_SIZE.trailing_zeros();
        // (pfn, pages): 10, 9, 8 (downwards), then 20-21 and 22 (upwards), then 5.
        let runs =
            [(10u64, 1usize), (9, 1), (8, 1), (20, 2), (22, 1), (5, 1)].map(|(pfn, n)| Run {
                offset: 0,
                low: core::ptr::null_mut(),
                phys: pfn << shift,
                n,
                down: false,
            });
        let mut joined = [(0, 0); 4];
        let mut n = 0;
        let count = joined_runs(&runs, |run| {
            joined[n] = run;
            n += 1;
        });
        assert_eq!(count, 3);
        assert_eq!(&joined[..n], &[(8, 11), (20, 23), (5, 6)]);
        assert_eq!(joined_runs(&[], |_| ()), 0);
        Ok(())
    }

    #[test]
    fn pending_runs_grow_up_or_down() -> Result {
        let p = |pfn: u64| pfn << PAGE_SIZE.trailing_zeros();
        let page = core::ptr::null_mut();
        let mut down = Run::new(0, page, p(10));
        assert!(down.join(page, p(9)));
        assert!(down.join(page, p(8)));
        // A run down never turns up, nor skips a frame.
        assert!(!down.join(page, p(9)));
        assert!(!down.join(page, p(6)));
        assert!(!down.join(page, p(11)));
        assert_eq!((down.phys, down.n, down.down), (p(8), 3, true));
        assert_eq!(down.frames(), (8, 11));
        // Pages 1 and 2 of the run (in range order) are frames 9 and 8.
        assert_eq!(down.frames_from(1), (8, 10));
        assert_eq!(down.page_at(0), (p(10), 1));
        assert_eq!(down.page_at(2), (p(8), 1));
        assert_eq!(
            pieces(&down)[..],
            [(0, p(10), 1), (1, p(9), 1), (2, p(8), 1)]
        );
        let mut up = Run::new(3, page, p(20));
        assert!(up.join(page, p(21)));
        assert!(!up.join(page, p(20)));
        assert!(!up.join(page, p(19)));
        assert_eq!((up.phys, up.n, up.down), (p(20), 2, false));
        assert_eq!(up.frames_from(1), (21, 22));
        assert_eq!(up.page_at(0), (p(20), 2));
        assert_eq!(pieces(&up)[..], [(3, p(20), 2)]);
        Ok(())
    }

    /// The pieces of `run`, `(page offset, physical address, pages)`.
    fn pieces(run: &Run) -> KVec<(usize, u64, usize)> {
        let mut pieces = KVec::new();
        let ok = run.try_for_each_piece(|at, phys, len| {
            pieces.push((at / PAGE_SIZE, phys, len / PAGE_SIZE), GFP_KERNEL)?;
            Ok(())
        });
        assert!(ok.is_ok());
        pieces
    }

    #[test]
    fn pending_runs_extend_by_the_memory_map() -> Result {
        // A map at a made-up address: `extend` only compares addresses (no `struct page`
        // is read, and no address is made from an index, which `phys` would do).
        let base = core::ptr::NonNull::<bindings::page>::dangling().as_ptr();
        let memmap = MemMap(base);
        let page = |pfn: usize| base.wrapping_add(pfn);
        let p = |pfn: usize| (pfn as u64) << PAGE_SIZE.trailing_zeros();
        let mut up = Run::new(0, page(100), p(100));
        let batch = [page(101), page(102), page(103), page(99), page(104)];
        assert_eq!(up.extend(memmap, &batch), 3);
        // A run up never turns down.
        assert_eq!(up.extend(memmap, &batch[3..]), 0);
        assert_eq!(
            (up.low, up.phys, up.n, up.down),
            (page(100), p(100), 4, false)
        );
        let mut down = Run::new(0, page(50), p(50));
        let batch = [page(49), page(48), page(47), page(51)];
        assert_eq!(down.extend(memmap, &batch), 3);
        assert_eq!(down.extend(memmap, &batch[3..]), 0);
        assert_eq!(
            (down.low, down.phys, down.n, down.down),
            (page(47), p(47), 4, true)
        );
        assert_eq!(down.frames(), (47, 51));
        // Without the map, nothing is told so: each page is asked for its address.
        let mut alone = Run::new(0, page(10), p(10));
        assert_eq!(alone.extend(MemMap(core::ptr::null_mut()), &[page(11)]), 0);
        assert_eq!(alone.n, 1);
        Ok(())
    }

    #[test]
    fn fast_count_agrees_with_the_walk() -> Result {
        let a = with(&[(10, 20), (30, 40)])?;
        // A span apart from every interval: counted at once.
        assert_eq!(a.all_fresh([(0, 5), (6, 9)].into_iter()), Some(8));
        assert_eq!(a.all_fresh([(22, 28)].into_iter()), Some(6));
        assert_eq!(a.fresh([(22, 28)].into_iter()), 6);
        // A span that meets an interval (even between the runs) is walked: only pages
        // no mapping pins count.
        assert_eq!(a.all_fresh([(0, 5), (22, 28)].into_iter()), None);
        assert_eq!(a.fresh([(0, 5), (22, 28)].into_iter()), 11);
        assert_eq!(a.fresh([(0, 5), (35, 36), (38, 45)].into_iter()), 10);
        Ok(())
    }
}
