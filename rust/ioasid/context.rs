// SPDX-License-Identifier: GPL-2.0

//! The per-open context of /dev/ioasid.
//!
//! A [`Context`] is created by `open()` and owned by the file; it is dropped, with every
//! object in its [`ObjectTable`], when the last reference to the file goes away. The ioctl
//! table (`crate::ioctl`) hands each ioctl to its handler, which lives with its object and
//! reaches the objects through the helpers here.
//!
//! Locking: the object table's lock is held only to look up, insert or remove an entry
//! (and, on destroy, to check under it that no device is attached to an address space).
//! The order is: table, then a device's lock, then an address space's lock, then the
//! locked-memory accounting; never the other way round.

use kernel::{
    current,
    fs::File,
    mm::Mm,
    new_mutex,
    prelude::*,
    rbtree::RBTreeNodeReservation,
    sync::{
        aref::ARef,
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
        Mutex,
        MutexGuard, //
    },
};

use crate::{
    device::{
        BoundDevice,
        DeviceAccess, //
    },
    object::{
        Object,
        ObjectTable, //
    },
    pin::{
        PinAccount,
        UserCharge, //
    },
};

/// What one open file of /dev/ioasid owns.
#[pin_data]
pub(crate) struct Context {
    #[pin]
    objects: Mutex<ObjectTable>,
    /// Locked-memory accounting of every address space of this context.
    account: Arc<Mutex<PinAccount>>,
    /// The address of the `mm` of the process charged, for [`Context::check_owner`]:
    /// written under the accounting's lock (at open and on every change of process),
    /// read without it.
    owner: Atomic<usize>,
}

/// The address of the calling process's `mm` (0 for a kernel thread, which has none).
fn current_mm() -> usize {
    current!()
        .mm()
        .map_or(0, |mm| core::ptr::from_ref::<Mm>(&**mm) as usize)
}

impl Context {
    /// The context of a new open by the current process, which memory is pinned from
    /// and accounted to.
    ///
    /// Errors: `EINVAL` a kernel thread (no mm), `ENOMEM`.
    pub(crate) fn new() -> Result<Pin<KBox<Self>>> {
        let mm = ARef::from(&**current!().mm().ok_or(EINVAL)?);
        let owner = Atomic::new(core::ptr::from_ref::<Mm>(&*mm) as usize);
        let account = Arc::pin_init(
            new_mutex!(PinAccount::new(mm, UserCharge::current())),
            GFP_KERNEL,
        )?;
        KBox::try_pin_init(
            try_pin_init!(Context {
                objects <- new_mutex!(ObjectTable::new()),
                account,
                owner,
            }),
            GFP_KERNEL,
        )
    }

    /// The object table, locked; keep it no longer than a lookup or an insert.
    pub(crate) fn objects(&self) -> MutexGuard<'_, ObjectTable> {
        self.objects.lock()
    }

    /// The locked-memory accounting of this context's address spaces.
    pub(crate) fn account(&self) -> &Arc<Mutex<PinAccount>> {
        &self.account
    }

    /// Whether the caller is the process the context charges, checked before pinning
    /// without the accounting's lock. Every charge checks again under the lock
    /// ([`PinAccount::check_owner`]): a change of process racing with this check (the
    /// old `mm`, no longer held, may even be freed and reused meanwhile) only lets the
    /// charge refuse instead. Otherwise the accounting holds the `mm` whose address
    /// this is, so no other process's `mm` can have it.
    ///
    /// Errors: `EPERM` another process.
    pub(crate) fn check_owner(&self) -> Result {
        if current_mm() == self.owner.load(Relaxed) {
            Ok(())
        } else {
            Err(EPERM)
        }
    }

    /// Makes the caller the process the context charges (`IOASID_CHANGE_PROCESS`);
    /// returns how many pages moved.
    ///
    /// Errors: those of [`PinAccount::change_process`].
    pub(crate) fn change_process(&self) -> Result<usize> {
        let mut account = self.account.lock();
        let moved = account.change_process()?;
        self.owner.store(current_mm(), Relaxed);
        Ok(moved)
    }

    /// Adds a new object and returns its ID: `prepare` looks up what it needs in the
    /// table and returns how to build the object given its ID; both run under the table's
    /// lock. The caller publishes the ID with [`Context::publish`].
    ///
    /// Errors: `ENOMEM`, `ENOSPC` no ID left, and those of `prepare` and of the build.
    pub(crate) fn create<B>(&self, prepare: impl FnOnce(&ObjectTable) -> Result<B>) -> Result<u32>
    where
        B: FnOnce(u32) -> Result<Object>,
    {
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut objects = self.objects.lock();
        let build = prepare(&objects)?;
        objects.insert_with(node, build)
    }

    /// Keeps the new object `id` if its ID reached the user (`written`), else takes it
    /// back: an object the user never learnt of must not live on.
    pub(crate) fn publish(&self, id: u32, written: Result) -> Result {
        if written.is_err() {
            self.remove(id);
        }
        written
    }

    /// Destroys the object `id` (`IOASID_DESTROY`).
    ///
    /// Errors: those of [`ObjectTable::destroy`].
    pub(crate) fn destroy(&self, id: u32) -> Result {
        let object = self.objects.lock().destroy(id)?;
        // Released outside the table's lock.
        drop(object);
        Ok(())
    }

    /// Removes the object `id`, if any, releasing it outside the table's lock.
    fn remove(&self, id: u32) {
        let object = self.objects.lock().remove(id);
        drop(object);
    }

    /// Gives the device `access` reaches an ID in this context (for `ioasid_bind_device`).
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
        self.remove(id);
    }
}
