// SPDX-License-Identifier: GPL-2.0

//! The ioctls of fault queues: `IOASID_FAULT_QUEUE_*`.

use kernel::{
    bindings,
    fs::file::FileDescriptorReservation,
    prelude::*, //
};

use super::FaultQueue;
use crate::{
    abi::*,
    context::Context,
    object::Object,
    uapi::{
        check_flags,
        selector,
        UserArg, //
    },
};

/// `IOASID_FAULT_QUEUE_ALLOC`: a queue object and its fd, signalling an eventfd if
/// named. The fd is installed last, once nothing else can fail.
///
/// Errors: `EOPNOTSUPP` unknown flags, `EINVAL` reserved field or an eventfd without the
/// flag, `EMFILE`, and those of [`FaultQueue::new`].
pub(crate) fn alloc(ctx: &Context, mut arg: UserArg<ioasid_fault_queue_alloc>) -> Result {
    check_flags(arg.flags, IOASID_FAULT_QUEUE_EVENTFD, arg.__reserved)?;
    let eventfd =
        selector(arg.flags, IOASID_FAULT_QUEUE_EVENTFD, arg.eventfd as u32)?.map(|fd| fd as i32);
    let fd = FileDescriptorReservation::get_unused_fd_flags(bindings::O_CLOEXEC)?;
    let (queue, file) = FaultQueue::new(eventfd)?;
    let id = ctx.create(|_| Ok(move |_| Ok(Object::FaultQueue(queue))))?;
    arg.out_queue_id = id;
    arg.out_fd = fd.reserved_fd() as i32;
    ctx.publish(id, arg.write_back())?;
    // Last: once installed, the fd is the user's, who may close it at once.
    fd.fd_install(file);
    Ok(())
}

/// `IOASID_FAULT_QUEUE_STATUS`.
///
/// Errors: `EINVAL` reserved fields, `ENOENT` / `EINVAL` the ID, `EFAULT`.
pub(crate) fn status(ctx: &Context, mut arg: UserArg<ioasid_fault_queue_status>) -> Result {
    check_flags(0, 0, arg.__reserved | arg.__reserved2)?;
    let queue = ctx.objects().fault_queue(arg.queue_id)?;
    let (unread, pending, overflows) = queue.status();
    arg.out_unread = unread;
    arg.out_pending = pending;
    arg.out_overflows = overflows;
    arg.write_back()
}
