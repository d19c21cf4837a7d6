// SPDX-License-Identifier: GPL-2.0

//! A reference to an eventfd context, to signal userspace from any context.

use core::ptr::NonNull;
use kernel::{
    bindings,
    prelude::*, //
};

/// An eventfd context.
///
/// # Invariants
///
/// `self.0` is an eventfd context we hold a reference on.
pub(crate) struct EventFd(NonNull<bindings::eventfd_ctx>);

// SAFETY: eventfd contexts are reference counted and signalled from any thread.
unsafe impl Send for EventFd {}
// SAFETY: as above; `signal` is the only operation and takes the context's own lock.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// The eventfd context behind the caller's fd `fd`.
    ///
    /// Errors: `EBADF` no such fd, `EINVAL` an fd of another kind.
    pub(crate) fn from_fd(fd: i32) -> Result<Self> {
        // SAFETY: any fd may be asked about; a reference is taken on success.
        let ctx = kernel::error::from_err_ptr(unsafe { bindings::eventfd_ctx_fdget(fd) })?;
        // INVARIANT: `eventfd_ctx_fdget` gave us a reference.
        Ok(Self(NonNull::new(ctx).ok_or(EBADF)?))
    }

    /// Adds one to the counter, waking its readers and pollers.
    pub(crate) fn signal(&self) {
        // SAFETY: we hold a reference on the context (type invariant).
        unsafe { bindings::eventfd_signal_mask(self.0.as_ptr(), 0) };
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: we hold the reference `eventfd_ctx_fdget` gave (type invariant).
        unsafe { bindings::eventfd_ctx_put(self.0.as_ptr()) };
    }
}
