// SPDX-License-Identifier: GPL-2.0

//! Long-term pinning of user memory, and its accounting against `RLIMIT_MEMLOCK`.
//!
//! The two wrappers here hold the only raw GUP and `account_locked_vm` calls of the
//! driver. [`PinnedPages`] owns pins and drops them; [`PinAccount`] makes a page that is
//! pinned by several mappings of one context count once against the locked-memory limit.

use kernel::{
    alloc::flags::{
        GFP_KERNEL_ACCOUNT,
        __GFP_NOWARN, //
    },
    bindings,
    mm::Mm,
    page::PAGE_SIZE,
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    sync::aref::ARef,
};

/// Pages of the calling process's memory, pinned long-term (`FOLL_LONGTERM`).
///
/// # Invariants
///
/// Every pointer in `pages` was returned by `pin_user_pages_fast` and holds one pin that
/// this value releases exactly once, when it is dropped.
pub(crate) struct PinnedPages {
    pages: KVVec<*mut bindings::page>,
    /// Pinned for device writes: the pages are marked dirty when released, so that what
    /// devices wrote is not lost.
    writable: bool,
}

// SAFETY: the pins are plain references to `struct page`s; they may be released from any
// thread.
unsafe impl Send for PinnedPages {}
// SAFETY: shared access only reads the page pointers.
unsafe impl Sync for PinnedPages {}

impl PinnedPages {
    /// Pins `npages` pages of the current process's memory starting at `user_va`, for
    /// device writes too when `writable`.
    ///
    /// Errors: `EFAULT` if part of the range is not mapped (or not writable when asked
    /// to be), `ENOMEM`, and any error of `pin_user_pages_fast`. Nothing stays pinned on
    /// failure.
    pub(crate) fn pin(user_va: usize, npages: usize, writable: bool) -> Result<Self> {
        // The array is sized by the user and charged to them; a failure is an error for
        // them, not a warning in the kernel log.
        let mut this = Self {
            pages: KVVec::with_capacity(npages, GFP_KERNEL_ACCOUNT | __GFP_NOWARN)?,
            writable,
        };
        let mut flags = bindings::FOLL_LONGTERM;
        if writable {
            flags |= bindings::FOLL_WRITE;
        }
        while this.pages.len() < npages {
            let done = this.pages.len();
            let want = (npages - done).min(i32::MAX as usize);
            let start = user_va + done * PAGE_SIZE;
            // SAFETY: `pages` has capacity for `npages` entries, so there is room for `want`
            // more after the `done` already filled; `pin_user_pages_fast` writes at most
            // `want` entries there and returns how many.
            let ret = unsafe {
                bindings::pin_user_pages_fast(
                    start as _,
                    want as _,
                    flags as _,
                    this.pages.as_mut_ptr().add(done),
                )
            };
            if ret < 0 {
                return Err(Error::from_errno(ret));
            }
            if ret == 0 {
                return Err(EFAULT);
            }
            // SAFETY: `ret <= want` entries after `done` were just initialised with pinned
            // pages, which the invariant now covers.
            unsafe { this.pages.inc_len(ret as usize) };
        }
        Ok(this)
    }

    /// The pinned pages, in address order, as keys that identify each page.
    pub(crate) fn keys(&self) -> impl Iterator<Item = usize> + '_ {
        self.pages.iter().map(|&p| p as usize)
    }

    /// Number of pinned pages.
    pub(crate) fn len(&self) -> usize {
        self.pages.len()
    }

    /// The pinned memory as physically contiguous runs: `(byte offset, physical address,
    /// length)`, so that a domain can map each run with the largest page sizes it allows.
    pub(crate) fn phys_runs(&self) -> PhysRuns<'_> {
        PhysRuns { pages: self, next: 0 }
    }

    /// Copies between `buf` and the pinned memory at byte `offset`, through the CPU.
    ///
    /// Errors: `EFAULT` the range is not inside the pinned memory.
    pub(crate) fn copy(&self, offset: usize, buf: &mut [u8], write: bool) -> Result {
        let end = offset.checked_add(buf.len()).ok_or(EFAULT)?;
        if end > self.pages.len() * PAGE_SIZE {
            return Err(EFAULT);
        }
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done;
            let in_page = at % PAGE_SIZE;
            let n = (PAGE_SIZE - in_page).min(buf.len() - done);
            // SAFETY: the page is pinned (invariant); `in_page + n <= PAGE_SIZE`, and
            // `buf[done..done + n]` is valid for reads and writes.
            unsafe {
                ioasid_page_rw(self.pages[at / PAGE_SIZE], in_page, buf[done..].as_mut_ptr().cast(), n, write)
            };
            done += n;
        }
        Ok(())
    }

    fn phys(&self, i: usize) -> u64 {
        // SAFETY: by the invariant, every entry is a pinned, hence valid, page.
        unsafe { crate::iommu::page_to_phys(self.pages[i]) }
    }
}

/// Iterator of [`PinnedPages::phys_runs`].
pub(crate) struct PhysRuns<'a> {
    pages: &'a PinnedPages,
    next: usize,
}

impl Iterator for PhysRuns<'_> {
    type Item = (usize, u64, usize);

    fn next(&mut self) -> Option<Self::Item> {
        let first = self.next;
        if first >= self.pages.len() {
            return None;
        }
        let start = self.pages.phys(first);
        let mut end = first + 1;
        while end < self.pages.len() && self.pages.phys(end) == start + ((end - first) * PAGE_SIZE) as u64 {
            end += 1;
        }
        self.next = end;
        Some((first * PAGE_SIZE, start, (end - first) * PAGE_SIZE))
    }
}

impl Drop for PinnedPages {
    fn drop(&mut self) {
        if self.pages.is_empty() {
            return;
        }
        // SAFETY: by the invariant, each entry holds one pin that is released only here.
        unsafe {
            bindings::unpin_user_pages_dirty_lock(self.pages.as_mut_ptr(), self.pages.len() as _, self.writable)
        };
    }
}

// `struct page` is only passed by pointer, never inspected here.
#[allow(improper_ctypes)]
unsafe extern "C" {
    /// `memcpy_to_page`/`memcpy_from_page`, from `helpers.c`.
    fn ioasid_page_rw(page: *mut bindings::page, offset: usize, buf: *mut c_void, len: usize, write: bool);
}

/// Locked-memory accounting of one context: each distinct page pinned by any of its
/// mappings counts once against the `RLIMIT_MEMLOCK` of the process that opened it
/// (shown as `VmLck` in `/proc/<pid>/status`).
pub(crate) struct PinAccount {
    mm: ARef<Mm>,
    /// How many mappings pin each page (keyed by [`PinnedPages::keys`]).
    users: RBTree<usize, usize>,
}

impl PinAccount {
    /// Accounting against `mm`.
    pub(crate) fn new(mm: ARef<Mm>) -> Self {
        Self {
            mm,
            users: RBTree::new(),
        }
    }

    /// The mm whose memory this context maps.
    pub(crate) fn mm(&self) -> &Mm {
        &self.mm
    }

    /// Records one more mapping of `pages` and charges the pages new to this context.
    ///
    /// Errors: `ENOMEM` if the new pages would exceed `RLIMIT_MEMLOCK` (and the caller
    /// lacks `CAP_IPC_LOCK`) or memory runs out; nothing is recorded on failure.
    pub(crate) fn charge(&mut self, pages: &PinnedPages) -> Result {
        let mut fresh = 0usize;
        for key in pages.keys() {
            if self.users.get(&key).is_none() {
                fresh += 1;
            }
        }
        // Reserve every node first, so that nothing can fail once the charge is made.
        let mut nodes = KVVec::with_capacity(fresh, GFP_KERNEL_ACCOUNT | __GFP_NOWARN)?;
        for _ in 0..fresh {
            nodes.push(RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?, GFP_KERNEL)?;
        }
        self.account(fresh, true)?;
        let mut inserted = 0usize;
        for key in pages.keys() {
            match self.users.get_mut(&key) {
                Some(n) => *n += 1,
                None => {
                    // One reservation was made per page not in the tree when counting, and
                    // inserting takes one per page still not in it: there is always one left.
                    let node = nodes.pop().ok_or(EINVAL)?;
                    self.users.insert(node.into_node(key, 1));
                    inserted += 1;
                }
            }
        }
        // A page that appears twice within `pages` was counted twice but charged once.
        self.account(fresh - inserted, false)
    }

    /// Forgets one mapping of `pages`, uncharging the pages no other mapping pins.
    pub(crate) fn uncharge(&mut self, pages: &PinnedPages) {
        let mut gone = 0usize;
        for key in pages.keys() {
            if let Some(n) = self.users.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    self.users.remove(&key);
                    gone += 1;
                }
            }
        }
        // Uncharging cannot exceed what was charged; an exited process has nothing left to
        // uncharge (see `account`).
        let _ = self.account(gone, false);
    }

    fn account(&self, npages: usize, inc: bool) -> Result {
        if npages == 0 {
            return Ok(());
        }
        // The limit belongs to a live process; once it has exited its mm keeps no count.
        let Some(mm) = self.mm.mmget_not_zero() else {
            return if inc { Err(ESRCH) } else { Ok(()) };
        };
        // SAFETY: `mm` holds an `mmget` reference, so the mm_struct and its users are alive
        // for the duration of the call, which takes the mmap lock itself.
        let ret = unsafe { bindings::account_locked_vm(mm.as_raw(), npages as _, inc) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }
}
