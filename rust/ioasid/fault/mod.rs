// SPDX-License-Identifier: GPL-2.0

//! I/O page fault queues: page requests delivered to userspace and answered by it.
//!
//! A [`FaultQueue`] is an object of a context and a file descriptor (an anonymous inode
//! whose `read`, `write` and `poll` are below). Attachments of routed address spaces carry
//! a [`Route`] in their IOMMU attach handle ([`crate::iommu::AttachHandle`]), the
//! [`FaultSink`] to which the IOMMU core's fault path hands each complete page request
//! group. The group waits in the queue's `pending` list until
//! userspace answers it by cookie, or until its attachment ends, the queue's file is
//! closed (answered INVALID), or the queue is full (refused: the core answers FAILURE).

use kernel::{
    bindings,
    fs::File,
    new_mutex, new_poll_condvar,
    prelude::*,
    sync::{
        aref::ARef,
        poll::{
            PollCondVar,
            PollTable, //
        },
        Arc,
        Mutex, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

use crate::abi::{
    ioasid_fault, ioasid_fault_response, IOASID_FAULT_LAST_PAGE, IOASID_FAULT_PASID_VALID,
    IOASID_FAULT_QUEUE_DEPTH, IOASID_FAULT_RESPONSE_FAILURE, IOASID_FAULT_RESPONSE_INVALID,
    IOASID_FAULT_RESPONSE_SUCCESS,
};
use crate::{
    anon_file::{
        self,
        AnonFile, //
    },
    eventfd::EventFd,
    iommu::{
        DeviceKey,
        FaultSink,
        HandleKey,
        IopfGroup, //
    },
};

pub(crate) mod ioctl;

const _: () = {
    assert!(IOASID_FAULT_PASID_VALID == bindings::IOMMU_FAULT_PAGE_REQUEST_PASID_VALID);
    assert!(
        IOASID_FAULT_RESPONSE_SUCCESS == bindings::iommu_page_response_code_IOMMU_PAGE_RESP_SUCCESS
    );
    assert!(
        IOASID_FAULT_RESPONSE_INVALID == bindings::iommu_page_response_code_IOMMU_PAGE_RESP_INVALID
    );
    assert!(
        IOASID_FAULT_RESPONSE_FAILURE == bindings::iommu_page_response_code_IOMMU_PAGE_RESP_FAILURE
    );
};

const RECORD: usize = size_of::<ioasid_fault>();
const RESPONSE: usize = size_of::<ioasid_fault_response>();

/// Where the faults of one attachment go, and what their records say.
pub(crate) struct Route {
    pub(crate) queue: Arc<FaultQueue>,
    pub(crate) ioas_id: u32,
    /// The ID of the device that made the attachment (its first member).
    pub(crate) dev_id: u32,
}

impl FaultSink for Route {
    fn deliver(
        &self,
        group: IopfGroup,
        handle: HandleKey,
    ) -> core::result::Result<(), (Error, IopfGroup)> {
        self.queue.deliver(group, self, handle)
    }

    fn join(&self, handle: HandleKey, dev: DeviceKey, dev_id: u32) -> Result {
        self.queue.join(handle, dev, dev_id)
    }

    fn leave(&self, handle: HandleKey, dev: Option<DeviceKey>) {
        self.queue.leave(handle, dev)
    }

    fn first_device(&self) -> u32 {
        self.dev_id
    }
}

/// A device whose page requests an attachment takes: the attachment of an IOMMU group
/// serves every device of the group attached through it, and each record names the
/// device that faulted. A device that left (detached or unbound while the group stays
/// attached through another) is no member: its page requests are refused, so that no
/// group of a device the IOMMU core may release waits here.
struct Member {
    /// The attach handle (a key) and the device (a key, [`crate::iommu::DmaOwner::key`]).
    handle: HandleKey,
    dev: DeviceKey,
    dev_id: u32,
}

/// A delivered group awaiting its response.
struct Pending {
    cookie: u32,
    group: IopfGroup,
    /// The attach handle it came through and the device that faulted (keys).
    handle: HandleKey,
    dev: DeviceKey,
}

struct Inner {
    records: KVec<ioasid_fault>,
    pending: KVec<Pending>,
    members: KVec<Member>,
    next_cookie: u32,
    overflows: u64,
    /// The file was released: nothing more is taken.
    closed: bool,
}

impl Inner {
    /// Queues the records of `group`, named by `cookie`, in capacity reserved before.
    fn push_records(&mut self, group: &IopfGroup, ioas_id: u32, dev_id: u32, cookie: u32) {
        for (request, last) in group.requests() {
            let prm = request.prm();
            let mut flags = prm.flags & IOASID_FAULT_PASID_VALID;
            if last {
                flags |= IOASID_FAULT_LAST_PAGE;
            }
            let _ = self.records.push_within_capacity(ioasid_fault {
                flags,
                ioas_id,
                dev_id,
                pasid: prm.pasid,
                grpid: prm.grpid,
                perm: prm.perm,
                addr: prm.addr,
                cookie,
                __reserved: 0,
            });
        }
    }
}

/// A fault queue.
#[pin_data(PinnedDrop)]
pub(crate) struct FaultQueue {
    #[pin]
    inner: Mutex<Inner>,
    /// Readers and pollers wait here for records.
    #[pin]
    readable: PollCondVar,
    eventfd: Option<EventFd>,
}

impl FaultQueue {
    /// A new queue, signalling `eventfd` (an fd of the caller) if given, and its file,
    /// which no fd names yet: the caller installs it once nothing else can fail.
    ///
    /// Errors: `EBADF` not an eventfd, `EINVAL` an fd of another kind, `ENOMEM`.
    pub(crate) fn new(eventfd: Option<i32>) -> Result<(Arc<Self>, ARef<File>)> {
        let eventfd = eventfd.map(EventFd::from_fd).transpose()?;
        let queue = Arc::pin_init(
            pin_init!(Self {
                inner <- new_mutex!(Inner {
                    records: KVec::new(),
                    pending: KVec::new(),
                    members: KVec::new(),
                    next_cookie: 1,
                    overflows: 0,
                    closed: false,
                }),
                readable <- new_poll_condvar!("ioasid fault queue"),
                eventfd,
            }),
            GFP_KERNEL,
        )?;
        let file = anon_file::create(queue.clone())?;
        Ok((queue, file))
    }

    /// `(unread records, pending groups, overflows)`.
    pub(crate) fn status(&self) -> (u32, u32, u64) {
        let inner = self.inner.lock();
        (
            inner.records.len() as u32,
            inner.pending.len() as u32,
            inner.overflows,
        )
    }

    /// Takes a complete page request group for `route` (through attach `handle`).
    ///
    /// Errors (with the group given back, for the core to answer): `ENODEV` its device
    /// is no member of the attachment, `ENOSPC` full (counted as an overflow), `EPIPE`
    /// the file is closed, `ENOMEM`.
    fn deliver(
        &self,
        group: IopfGroup,
        route: &Route,
        handle: HandleKey,
    ) -> core::result::Result<(), (Error, IopfGroup)> {
        let dev = group.device_key();
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err((EPIPE, group));
        }
        let Some(dev_id) = inner
            .members
            .iter()
            .find(|m| m.handle == handle && m.dev == dev)
            .map(|m| m.dev_id)
        else {
            return Err((ENODEV, group));
        };
        if inner.pending.len() >= IOASID_FAULT_QUEUE_DEPTH as usize {
            inner.overflows += 1;
            return Err((ENOSPC, group));
        }
        let count = group.requests().count();
        if inner.records.reserve(count, GFP_KERNEL).is_err()
            || inner.pending.reserve(1, GFP_KERNEL).is_err()
        {
            return Err((ENOMEM, group));
        }
        let cookie = inner.next_cookie;
        inner.push_records(&group, route.ioas_id, dev_id, cookie);
        let _ = inner.pending.push_within_capacity(Pending {
            cookie,
            group,
            handle,
            dev,
        });
        inner.next_cookie = cookie.wrapping_add(1).max(1);
        drop(inner);
        self.readable.notify_all();
        if let Some(e) = &self.eventfd {
            e.signal();
        }
        Ok(())
    }

    /// Answers `pending` with `code` and gives the group back to the core.
    fn answer(pending: Pending, code: u32) {
        pending.group.respond(code);
    }

    /// Makes the device `dev` (a key) with ID `dev_id` a member of the attachment of
    /// `handle`: its page requests through the handle are taken from now on.
    ///
    /// Errors: `ENOMEM`.
    pub(crate) fn join(&self, handle: HandleKey, dev: DeviceKey, dev_id: u32) -> Result {
        let mut inner = self.inner.lock();
        inner.members.push(
            Member {
                handle,
                dev,
                dev_id,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// The device `dev` leaves the attachment of `handle` (`None`: every device leaves,
    /// the attachment has ended): the groups it delivered are answered INVALID, their
    /// unread records dropped, and its page requests through the handle are refused.
    pub(crate) fn leave(&self, handle: HandleKey, dev: Option<DeviceKey>) {
        let gone = |h: HandleKey, d: DeviceKey| h == handle && dev.is_none_or(|dev| dev == d);
        let mut inner = self.inner.lock();
        inner.members.retain(|m| !gone(m.handle, m.dev));
        let mut i = 0;
        while i < inner.pending.len() {
            if gone(inner.pending[i].handle, inner.pending[i].dev) {
                if let Ok(p) = inner.pending.remove(i) {
                    let cookie = p.cookie;
                    inner.records.retain(|r| r.cookie != cookie);
                    Self::answer(p, IOASID_FAULT_RESPONSE_INVALID);
                }
            } else {
                i += 1;
            }
        }
    }

    /// Answers the group named `cookie`.
    ///
    /// Errors: `ENOENT` no such group waits (unknown or answered), `EINVAL` bad code.
    fn respond(&self, r: &ioasid_fault_response) -> Result {
        if r.code > IOASID_FAULT_RESPONSE_FAILURE {
            return Err(EINVAL);
        }
        let mut inner = self.inner.lock();
        let i = inner
            .pending
            .iter()
            .position(|p| p.cookie == r.cookie)
            .ok_or(ENOENT)?;
        let p = inner.pending.remove(i).map_err(|_| ENOENT)?;
        inner.records.retain(|rec| rec.cookie != r.cookie);
        Self::answer(p, r.code);
        Ok(())
    }

    /// The file is gone: every pending group is answered INVALID, nothing more is taken.
    fn close(&self) {
        let mut inner = self.inner.lock();
        inner.closed = true;
        inner.records.clear();
        while let Some(p) = inner.pending.pop() {
            Self::answer(p, IOASID_FAULT_RESPONSE_INVALID);
        }
    }

    /// Reads whole records. They are taken out under the lock and copied to the user
    /// without it: a reader blocked on its buffer (a userfaultfd or FUSE page) must not
    /// stall the page requests of every device behind the IOMMU, nor detach and unbind,
    /// which all take the lock.
    fn read(&self, file: &File, buf: UserPtr, count: usize) -> Result<usize> {
        if count % RECORD != 0 {
            return Err(EINVAL);
        }
        if count == 0 {
            return Ok(0);
        }
        let mut taken = KVec::new();
        {
            let mut inner = self.inner.lock();
            while inner.records.is_empty() {
                if file.flags() & bindings::O_NONBLOCK != 0 {
                    return Err(EAGAIN);
                }
                if self.readable.wait_interruptible(&mut inner) {
                    return Err(ERESTARTSYS);
                }
            }
            let n = inner.records.len().min(count / RECORD);
            taken.extend_from_slice(&inner.records[..n], GFP_KERNEL)?;
            let left = inner.records.len() - n;
            inner.records.copy_within(n.., 0);
            inner.records.truncate(left);
        }
        let mut w = UserSlice::new(buf, taken.len() * RECORD).writer();
        let copied = taken.iter().try_for_each(|r| w.write(r));
        if let Err(e) = copied {
            // A fault never gets lost in a failed read: what is still pending goes back
            // to the front, in order.
            self.put_back(taken);
            return Err(e);
        }
        Ok(taken.len() * RECORD)
    }

    /// Returns records a failed read took to the front of the queue, but for those whose
    /// group was answered or aborted meanwhile.
    fn put_back(&self, mut taken: KVec<ioasid_fault>) {
        let mut inner = self.inner.lock();
        let Inner {
            records, pending, ..
        } = &mut *inner;
        taken.retain(|r| pending.iter().any(|p| p.cookie == r.cookie));
        if taken.extend_from_slice(records, GFP_KERNEL).is_err() {
            // Without memory for both, the records already queued stay; the groups of
            // those lost are still answered on detach or close.
            return;
        }
        *records = taken;
        drop(inner);
        self.readable.notify_all();
    }

    fn write(&self, buf: UserPtr, count: usize) -> Result<usize> {
        if count % RESPONSE != 0 {
            return Err(EINVAL);
        }
        let mut r = UserSlice::new(buf, count).reader();
        let mut done = 0;
        while done < count {
            let resp = r.read::<ioasid_fault_response>();
            let result = resp.and_then(|resp| self.respond(&resp));
            if let Err(e) = result {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
            done += RESPONSE;
        }
        Ok(done)
    }

    fn poll_mask(&self) -> u32 {
        let mut mask = bindings::POLLOUT | bindings::POLLWRNORM;
        if !self.inner.lock().records.is_empty() {
            mask |= bindings::POLLIN | bindings::POLLRDNORM;
        }
        mask
    }
}

#[pinned_drop]
impl PinnedDrop for FaultQueue {
    fn drop(self: Pin<&mut Self>) {
        // Routes hold the queue while their attachments live; nothing can be pending
        // once the last reference goes, but answer anything left rather than leak it.
        self.close();
    }
}

impl AnonFile for FaultQueue {
    const NAME: &'static CStr = c"[ioasid-fault]";

    fn read(this: &Self, file: &File, buf: UserPtr, count: usize) -> Result<usize> {
        this.read(file, buf, count)
    }

    fn write(this: &Self, _file: &File, buf: UserPtr, count: usize) -> Result<usize> {
        this.write(buf, count)
    }

    fn poll(this: &Self, file: &File, table: &PollTable<'_>) -> u32 {
        table.register_wait(file, &this.readable);
        this.poll_mask()
    }

    fn release(this: Arc<Self>) {
        this.close();
    }
}
