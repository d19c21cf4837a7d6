// SPDX-License-Identifier: GPL-2.0

//! The per-open context of /dev/ioasid.
//!
//! A [`Context`] is created by `open()` and owned by the file; it is dropped, with every
//! object in its [`ObjectTable`], when the last reference to the file goes away. Ioctls
//! are decoded by [`crate::uapi`] and then handled here.
//!
//! Locking: the object table's lock is held only to look up, insert or remove an entry
//! (and, on destroy, to check under it that no device is attached to an address space).
//! The order is: table, then a device's lock, then an address space's lock, then the
//! locked-memory accounting; never the other way round.

use core::sync::atomic::{
    AtomicPtr,
    Ordering, //
};
use kernel::{
    bindings, current,
    fs::{
        file::FileDescriptorReservation,
        File, //
    },
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    new_mutex,
    prelude::*,
    rbtree::RBTreeNodeReservation,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
};

use crate::{
    device::{
        BoundDevice,
        DeviceAccess, //
    },
    fault::FaultQueue,
    ioas::{
        self,
        nested::{
            Child,
            Filter, //
        },
        Ioas,
        MapToken, //
    },
    iommu::Prot,
    object::{
        Object,
        ObjectTable, //
    },
    pasid::PasidNs,
    pin::{
        PinAccount,
        PinnedPages,
        UserCharge, //
    },
    uapi::{
        self,
        MapRequest,
        Request, //
    },
};

/// The `file_operations` of /dev/ioasid files, recorded by every open, so that a file
/// handed in by a driver can be recognised as ours ([`Context::file_ref`]). No ioasid
/// file exists before the first open has stored it.
static IOASID_FOPS: AtomicPtr<bindings::file_operations> = AtomicPtr::new(core::ptr::null_mut());

/// What one open file of /dev/ioasid owns.
#[pin_data]
pub(crate) struct Context {
    #[pin]
    objects: Mutex<ObjectTable>,
    /// Locked-memory accounting of every address space of this context.
    account: Arc<Mutex<PinAccount>>,
}

#[vtable]
impl MiscDevice for Context {
    type Ptr = Pin<KBox<Self>>;

    fn open(file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        // SAFETY: `file` is a valid file being opened; its `f_op` is set and stays the same.
        let fops = unsafe { (*file.as_ptr()).f_op };
        IOASID_FOPS.store(fops.cast_mut(), Ordering::Release);
        // Memory is pinned from, and accounted to, the process that opens the context.
        let mm = ARef::from(&**current!().mm().ok_or(EINVAL)?);
        let account = Arc::pin_init(
            new_mutex!(PinAccount::new(mm, UserCharge::current())),
            GFP_KERNEL,
        )?;
        KBox::try_pin_init(
            try_pin_init!(Context {
                objects <- new_mutex!(ObjectTable::new()),
                account,
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(me: Pin<&Context>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        me.get_ref().ioctl(Request::parse(cmd, arg)?)
    }
}

impl Context {
    fn ioctl(&self, request: Request) -> Result<isize> {
        match request {
            Request::GetApiVersion => return Ok(uapi::API_VERSION as isize),
            Request::CheckExtension(mut arg) => {
                arg.supported = u32::from(uapi::extension_supported(arg.extension));
                arg.write_back()?;
            }
            Request::Destroy(id) => {
                let object = self.objects.lock().destroy(id)?;
                // Released outside the table's lock.
                drop(object);
            }
            Request::IoasAlloc(mut arg, queue) => {
                let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
                let id = {
                    let mut objects = self.objects.lock();
                    let queue = queue.map(|q| objects.fault_queue(q)).transpose()?;
                    objects.insert_with(node, |id| {
                        Ok(Object::Ioas(Ioas::new(
                            self.account.clone(),
                            queue.map(|q| (q, id)),
                        )?))
                    })?
                };
                arg.out_ioas_id = id;
                self.publish(id, arg.write_back())?;
            }
            Request::IoasIovaRanges(mut arg) => {
                let ioas = self.objects.lock().ioas(arg.ioas_id)?;
                let ranges = ioas.allowed()?;
                let ptr = arg.allowed_iovas;
                let fits = uapi::write_iova_ranges(ptr, &mut arg.num_ranges, &ranges)?;
                arg.out_iova_alignment = ioas::IOVA_ALIGNMENT;
                arg.write_back()?;
                if !fits {
                    return Err(EMSGSIZE);
                }
            }
            Request::IoasMap(mut arg, request) => {
                let (ioas, made) = self.map(request)?;
                arg.iova = made.iova;
                if let Err(e) = arg.write_back() {
                    // The user never learnt the IOVA: undo the mapping.
                    ioas.unmap_made(made);
                    return Err(e);
                }
            }
            Request::DeviceAttach { dev_id, ioas_id } => {
                let (dev, ioas) = {
                    let objects = self.objects.lock();
                    (objects.device(dev_id)?, objects.ioas(ioas_id)?)
                };
                dev.attach(ioas)?;
            }
            Request::DeviceDetach(dev_id) => {
                let dev = self.objects.lock().device(dev_id)?;
                dev.detach()?;
            }
            Request::DeviceGetInfo(mut arg) => {
                let dev = self.objects.lock().device(arg.dev_id)?;
                let (reserved, formats) = dev.info(&mut arg)?;
                let ptr = arg.reserved_iovas;
                let mut fits = uapi::write_iova_ranges(ptr, &mut arg.num_reserved, &reserved)?;
                fits &= uapi::write_info_caps(arg.caps, &mut arg.caps_len, &formats)?;
                arg.write_back()?;
                if !fits {
                    return Err(EMSGSIZE);
                }
            }
            Request::PasidNsAlloc(mut arg) => {
                let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
                let ns = PasidNs::new()?;
                let id = self.objects.lock().insert(node, Object::PasidNs(ns))?;
                arg.out_ns_id = id;
                self.publish(id, arg.write_back())?;
            }
            Request::PasidAlloc(mut arg, vpasid) => {
                let (ns, dev) = {
                    let objects = self.objects.lock();
                    (objects.pasid_ns(arg.ns_id)?, objects.device(arg.dev_id)?)
                };
                let pasid = dev.alloc_pasid(&ns, vpasid, crate::pasid_quota())?;
                arg.out_pasid = pasid;
                if let Err(e) = arg.write_back() {
                    // The user never learnt it.
                    let _ = ns.free(pasid);
                    return Err(e);
                }
            }
            Request::PasidFree { ns_id, pasid } => {
                let ns = self.objects.lock().pasid_ns(ns_id)?;
                ns.free(pasid)?;
            }
            Request::DevicePasidAttach {
                dev_id,
                ns_id,
                pasid,
                ioas_id,
                replace,
            } => {
                let (dev, ns, ioas) = {
                    let objects = self.objects.lock();
                    (
                        objects.device(dev_id)?,
                        objects.pasid_ns(ns_id)?,
                        objects.ioas(ioas_id)?,
                    )
                };
                dev.attach_pasid(ns, pasid, ioas, replace)?;
            }
            Request::DevicePasidDetach {
                dev_id,
                ns_id,
                pasid,
            } => {
                let (dev, ns) = {
                    let objects = self.objects.lock();
                    (objects.device(dev_id)?, objects.pasid_ns(ns_id)?)
                };
                dev.detach_pasid(&ns, pasid)?;
            }
            Request::NestedAlloc(mut arg, queue) => {
                let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
                let id = {
                    let mut objects = self.objects.lock();
                    let parent = objects.ioas(arg.parent_id)?;
                    let queue = queue.map(|q| objects.fault_queue(q)).transpose()?;
                    objects.insert_with(node, |id| {
                        Ok(Object::Child(Child::new(
                            parent,
                            arg.format,
                            queue.map(|q| (q, id)),
                        )?))
                    })?
                };
                arg.out_child_id = id;
                self.publish(id, arg.write_back())?;
            }
            Request::BindTable {
                child_id,
                dev_id,
                pasid,
                format,
                uptr,
                len,
            } => {
                let (child, dev, pasid) = self.table_target(child_id, dev_id, pasid)?;
                if format != child.format() {
                    return Err(EINVAL);
                }
                dev.bind_table(child, pasid, uptr, len)?;
            }
            Request::UnbindTable {
                child_id,
                dev_id,
                pasid,
            } => {
                let (child, dev, pasid) = self.table_target(child_id, dev_id, pasid)?;
                dev.unbind_table(&child, pasid.as_ref().map(|(ns, v)| (ns, *v)))?;
            }
            Request::CacheInvalidate(mut arg, dev_id, pasid) => {
                let (child, pasid) = {
                    let objects = self.objects.lock();
                    if let Some(d) = dev_id {
                        objects.device(d)?;
                    }
                    let pasid = match pasid {
                        Some((ns_id, v)) => {
                            Some((Arc::as_ptr(&objects.pasid_ns(ns_id)?) as usize, v))
                        }
                        None => None,
                    };
                    (objects.child(arg.child_id)?, pasid)
                };
                let filter = Filter { dev_id, pasid };
                let mut n = arg.entry_num;
                let result = child.invalidate(&filter, arg.entries as usize, arg.entry_len, &mut n);
                arg.entry_num = n;
                arg.write_back()?;
                result?;
            }
            Request::FaultQueueAlloc(mut arg, eventfd) => {
                let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
                let fd = FileDescriptorReservation::get_unused_fd_flags(bindings::O_CLOEXEC)?;
                let (queue, file) = FaultQueue::new(eventfd)?;
                let id = self
                    .objects
                    .lock()
                    .insert(node, Object::FaultQueue(queue))?;
                arg.out_queue_id = id;
                arg.out_fd = fd.reserved_fd() as i32;
                self.publish(id, arg.write_back())?;
                // Last: once installed, the fd is the user's, who may close it at once.
                fd.fd_install(file);
            }
            Request::FaultQueueStatus(mut arg) => {
                let queue = self.objects.lock().fault_queue(arg.queue_id)?;
                let (unread, pending, overflows) = queue.status();
                arg.out_unread = unread;
                arg.out_pending = pending;
                arg.out_overflows = overflows;
                arg.write_back()?;
            }
            Request::IoasUnmap(mut arg, start, last) => {
                let ioas = self.objects.lock().ioas(arg.ioas_id)?;
                arg.length = ioas.unmap(start, last)?;
                arg.write_back()?;
            }
        }
        Ok(0)
    }

    /// The child, device and (namespace, PASID) a table bind or unbind names.
    ///
    /// Errors: `ENOENT` unknown IDs, `EINVAL` IDs of the wrong types.
    fn table_target(
        &self,
        child_id: u32,
        dev_id: u32,
        pasid: Option<(u32, u32)>,
    ) -> Result<(Arc<Child>, Arc<BoundDevice>, Option<(Arc<PasidNs>, u32)>)> {
        let objects = self.objects.lock();
        let pasid = match pasid {
            Some((ns_id, v)) => Some((objects.pasid_ns(ns_id)?, v)),
            None => None,
        };
        Ok((objects.child(child_id)?, objects.device(dev_id)?, pasid))
    }

    /// Keeps the new object `id` if its ID reached the user (`written`), else takes it
    /// back: an object the user never learnt of must not live on.
    fn publish(&self, id: u32, written: Result) -> Result {
        if written.is_err() {
            let object = self.objects.lock().remove(id);
            // Dropped outside the table's lock.
            drop(object);
        }
        written
    }

    /// Pins and maps the memory of `request`; returns the address space and the mapping.
    fn map(&self, request: MapRequest) -> Result<(Arc<Ioas>, MapToken)> {
        let ioas = self.objects.lock().ioas(request.ioas_id)?;
        let opener = self.account.lock().mm().as_raw();
        if current!().mm().map(|mm| mm.as_raw()) != Some(opener) {
            return Err(EPERM);
        }
        let (pages, pre) = PinnedPages::pin(
            request.user_va,
            request.npages,
            request.writable,
            &self.account,
        )?;
        let prot = Prot::new(request.readable, request.writable);
        let made = ioas.map(pages, pre, prot, request.placement)?;
        Ok((ioas, made))
    }

    /// The context of a /dev/ioasid file.
    ///
    /// # Safety
    ///
    /// `file` is a /dev/ioasid file (one [`Context::file_ref`] recognised); the context
    /// lives as long as the reference to `file` the caller holds.
    pub(crate) unsafe fn from_file(file: &File) -> &Context {
        // SAFETY: the misc device core stored `Pin<KBox<Context>>::into_foreign()` of this
        // file in `private_data` at open, and it is released only with the file.
        unsafe { &*(*file.as_ptr()).private_data.cast::<Context>() }
    }

    /// Recognises `file` as a /dev/ioasid file and takes a reference to it.
    ///
    /// Errors: `EBADF` another kind of file.
    ///
    /// # Safety
    ///
    /// `file` is a valid file the caller holds a reference to.
    pub(crate) unsafe fn file_ref(file: *mut bindings::file) -> Result<ARef<File>> {
        let ours = IOASID_FOPS.load(Ordering::Acquire);
        // SAFETY: `file` is valid by the caller's guarantee.
        if ours.is_null() || unsafe { (*file).f_op } != ours.cast_const() {
            return Err(EBADF);
        }
        // SAFETY: `file` is valid and the caller holds a reference for this call;
        // `ARef::from` takes one of our own.
        Ok(ARef::from(unsafe { File::from_raw_file(file) }))
    }

    /// Gives the device `owner` holds an ID in this context (for `ioasid_bind_device`).
    pub(crate) fn add_device(
        &self,
        access: DeviceAccess,
        file: ARef<File>,
        intent: u32,
    ) -> Result<Arc<BoundDevice>> {
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut bound = None;
        self.objects.lock().insert_with(node, |id| {
            let dev = BoundDevice::new(access, file, id, intent)?;
            bound = Some(dev.clone());
            Ok(Object::Device(dev))
        })?;
        bound.ok_or(EINVAL)
    }

    /// The physical PASID named `vpasid` in namespace `ns_id` (`ioasid_pasid_translate`).
    ///
    /// Errors: `ENOENT` no such namespace or PASID, `EINVAL` not a namespace.
    pub(crate) fn translate_pasid(&self, ns_id: u32, vpasid: u32) -> Result<u32> {
        let ns = self.objects.lock().pasid_ns(ns_id)?;
        ns.translate(vpasid).ok_or(ENOENT)
    }

    /// Removes a device's ID (for `ioasid_unbind_device`).
    pub(crate) fn remove_device(&self, id: u32) {
        let object = self.objects.lock().remove(id);
        // Dropped outside the table's lock.
        drop(object);
    }
}
