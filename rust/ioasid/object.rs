// SPDX-License-Identifier: GPL-2.0

//! The object table of a context: every object a user creates, under one ID space.
//!
//! IDs are `u32`, never 0, and not reused while the context lives (until the ID space
//! wraps). A lookup hands out a reference counted pointer, so an operation in flight
//! keeps its object alive after a concurrent destroy.

use kernel::{
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    sync::Arc,
};

use crate::{
    device::BoundDevice,
    fault::FaultQueue,
    ioas::{
        nested::Child,
        Ioas, //
    },
    pasid::PasidNs,
};

/// An object of a context.
pub(crate) enum Object {
    /// An I/O address space.
    Ioas(Arc<Ioas>),
    /// A device its driver bound to the context.
    Device(Arc<BoundDevice>),
    /// A PASID namespace.
    PasidNs(Arc<PasidNs>),
    /// A child (nested) address space.
    Child(Arc<Child>),
    /// An I/O page fault queue.
    FaultQueue(Arc<FaultQueue>),
}

/// The objects of one context, by ID.
pub(crate) struct ObjectTable {
    objects: RBTree<u32, Object>,
    next_id: u32,
}

impl ObjectTable {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self {
            objects: RBTree::new(),
            next_id: 1,
        }
    }

    /// Adds `object` under a new ID, using `node` for the table entry.
    ///
    /// Errors: `ENOSPC` when all 2^32 - 1 IDs are in use.
    #[cfg(CONFIG_KUNIT)]
    pub(crate) fn insert(
        &mut self,
        node: RBTreeNodeReservation<u32, Object>,
        object: Object,
    ) -> Result<u32> {
        self.insert_with(node, |_| Ok(object))
    }

    /// Adds the object `make` builds for its new ID. Nothing changes if `make` fails.
    ///
    /// Errors: `ENOSPC` when all 2^32 - 1 IDs are in use, and those of `make`.
    pub(crate) fn insert_with(
        &mut self,
        node: RBTreeNodeReservation<u32, Object>,
        make: impl FnOnce(u32) -> Result<Object>,
    ) -> Result<u32> {
        let mut id = self.next_id;
        loop {
            if id != 0 && self.objects.get(&id).is_none() {
                break;
            }
            id = id.wrapping_add(1);
            if id == self.next_id {
                return Err(ENOSPC);
            }
        }
        let object = make(id)?;
        self.next_id = id.wrapping_add(1);
        self.objects.insert(node.into_node(id, object));
        Ok(id)
    }

    /// The object with ID `id` if `pick` says it has the type asked for.
    ///
    /// Errors: `ENOENT` no object has that ID, `EINVAL` it is of another type.
    fn get<T>(&self, id: u32, pick: impl FnOnce(&Object) -> Option<&Arc<T>>) -> Result<Arc<T>> {
        let object = self.objects.get(&id).ok_or(ENOENT)?;
        pick(object).cloned().ok_or(EINVAL)
    }

    /// The address space with ID `id` (`ENOENT` unknown, `EINVAL` another type).
    pub(crate) fn ioas(&self, id: u32) -> Result<Arc<Ioas>> {
        self.get(id, |o| {
            if let Object::Ioas(x) = o {
                Some(x)
            } else {
                None
            }
        })
    }

    /// The bound device with ID `id` (`ENOENT` unknown, `EINVAL` another type).
    pub(crate) fn device(&self, id: u32) -> Result<Arc<BoundDevice>> {
        self.get(id, |o| {
            if let Object::Device(x) = o {
                Some(x)
            } else {
                None
            }
        })
    }

    /// The PASID namespace with ID `id` (`ENOENT` unknown, `EINVAL` another type).
    pub(crate) fn pasid_ns(&self, id: u32) -> Result<Arc<PasidNs>> {
        self.get(id, |o| {
            if let Object::PasidNs(x) = o {
                Some(x)
            } else {
                None
            }
        })
    }

    /// The child address space with ID `id` (`ENOENT` unknown, `EINVAL` another type).
    pub(crate) fn child(&self, id: u32) -> Result<Arc<Child>> {
        self.get(id, |o| {
            if let Object::Child(x) = o {
                Some(x)
            } else {
                None
            }
        })
    }

    /// The fault queue with ID `id` (`ENOENT` unknown, `EINVAL` another type).
    pub(crate) fn fault_queue(&self, id: u32) -> Result<Arc<FaultQueue>> {
        self.get(id, |o| {
            if let Object::FaultQueue(x) = o {
                Some(x)
            } else {
                None
            }
        })
    }

    /// Removes the object with ID `id` for `IOASID_DESTROY` and returns it, to be dropped
    /// by the caller outside the table's lock.
    ///
    /// Errors: `ENOENT` no object has that ID, `EBUSY` an address space with a device
    /// attached or a namespace with a PASID attached, `EINVAL` a device (devices leave
    /// when their driver unbinds them).
    pub(crate) fn destroy(&mut self, id: u32) -> Result<Object> {
        match self.objects.get(&id) {
            None => return Err(ENOENT),
            Some(Object::Device(_)) => return Err(EINVAL),
            Some(Object::Ioas(ioas)) => ioas.kill()?,
            Some(Object::PasidNs(ns)) => ns.kill()?,
            Some(Object::Child(child)) => child.kill()?,
            // Its file and the address spaces routed to it keep it; only the ID goes.
            Some(Object::FaultQueue(_)) => {}
        }
        self.objects.remove(&id).ok_or(ENOENT)
    }

    /// Removes the object with ID `id`, whatever it is; it is dropped by the caller outside
    /// the table's lock.
    pub(crate) fn remove(&mut self, id: u32) -> Option<Object> {
        self.objects.remove(&id)
    }
}

#[kunit_tests(ioasid_object)]
mod tests {
    use super::*;
    use crate::pin::PinAccount;
    use kernel::new_mutex;

    /// A table with `n` fresh address spaces (nothing is mapped here).
    fn table_with(n: usize) -> Result<(ObjectTable, KVec<u32>)> {
        let account = Arc::pin_init(new_mutex!(PinAccount::for_kunit()), GFP_KERNEL)?;
        let mut table = ObjectTable::new();
        let mut ids = KVec::new();
        for _ in 0..n {
            let ioas = Ioas::new(account.clone(), None, false, false)?;
            let id = table.insert(RBTreeNodeReservation::new(GFP_KERNEL)?, Object::Ioas(ioas))?;
            ids.push(id, GFP_KERNEL)?;
        }
        Ok((table, ids))
    }

    #[test]
    fn ids_are_nonzero_distinct_and_not_reused() -> Result {
        let (mut table, ids) = table_with(3)?;
        assert_eq!(&ids[..], &[1, 2, 3]);
        table.destroy(2)?;
        let ioas = table.ioas(1)?;
        let id = table.insert(RBTreeNodeReservation::new(GFP_KERNEL)?, Object::Ioas(ioas))?;
        assert_eq!(id, 4);
        Ok(())
    }

    #[test]
    fn unknown_and_removed_ids_are_enoent() -> Result {
        let (mut table, _) = table_with(2)?;
        assert_eq!(table.ioas(0).err(), Some(ENOENT));
        assert_eq!(table.ioas(3).err(), Some(ENOENT));
        table.destroy(1)?;
        assert_eq!(table.destroy(1).err(), Some(ENOENT));
        assert_eq!(table.ioas(1).err(), Some(ENOENT));
        assert!(table.ioas(2).is_ok());
        Ok(())
    }

    #[test]
    fn id_space_wraps_past_zero_and_live_ids() -> Result {
        let (mut table, _) = table_with(1)?;
        table.next_id = u32::MAX;
        let ioas = table.ioas(1)?;
        let a = table.insert(
            RBTreeNodeReservation::new(GFP_KERNEL)?,
            Object::Ioas(ioas.clone()),
        )?;
        let b = table.insert(RBTreeNodeReservation::new(GFP_KERNEL)?, Object::Ioas(ioas))?;
        // u32::MAX, then 0 is skipped and so is 1, which is still in use.
        assert_eq!((a, b), (u32::MAX, 2));
        Ok(())
    }
}
