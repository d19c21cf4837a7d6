// SPDX-License-Identifier: GPL-2.0

//! [`Few`]: a list that holds one element without allocating.

use kernel::{
    alloc::{
        Allocator,
        Flags,
        Vec, //
    },
    prelude::*, //
};

/// A list of `T` in which the first element needs no memory: most lists of the hot paths
/// (the runs of a small mapping, the mappings an unmap removes) have one.
pub(crate) enum Few<T> {
    /// No element or one, inline.
    One(Option<T>),
    /// Two or more.
    Many(KVVec<T>),
}

impl<T: Copy> Few<T> {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self::One(None)
    }

    /// The elements.
    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            Self::One(one) => one.as_slice(),
            Self::Many(many) => many,
        }
    }

    /// Appends `value`; the first needs no memory, the second allocates room for `room`
    /// elements (growing by doubling from there), with `gfp`.
    ///
    /// Errors: `ENOMEM`.
    pub(crate) fn push(&mut self, value: T, room: usize, gfp: Flags) -> Result {
        match self {
            Self::One(slot @ None) => *slot = Some(value),
            Self::One(Some(first)) => {
                let first = *first;
                let mut many = KVVec::with_capacity(room.max(2), gfp)?;
                // Capacity for both was allocated above.
                let _ = many.push_within_capacity(first);
                let _ = many.push_within_capacity(value);
                *self = Self::Many(many);
            }
            Self::Many(many) => many.push(value, gfp)?,
        }
        Ok(())
    }

    /// Gives back the room of a vector that its elements do not use (see [`shrink`]).
    pub(crate) fn compact(&mut self, gfp: Flags) {
        if let Self::Many(many) = self {
            shrink(many, gfp);
        }
    }
}

/// Gives back the room of `v` that its elements do not use, when that is more than half
/// of it (a vector that grew by doubling is at least half full) and more than a few
/// bytes; best effort: without memory for the copy, the room stays.
pub(crate) fn shrink<T: Copy>(v: &mut KVVec<T>, gfp: Flags) {
    let len = v.len();
    // Less than a cache line more is not worth a copy.
    if v.capacity() <= 2 * len || (v.capacity() - len) * size_of::<T>() < 64 {
        return;
    }
    let Ok(mut exact) = KVVec::with_capacity(len, gfp) else {
        return;
    };
    for &value in v.iter() {
        // Capacity for all of them was allocated above.
        let _ = exact.push_within_capacity(value);
    }
    *v = exact;
}

/// Drops `v` without a call to the allocator when it holds no memory. A kernel vector
/// hands even the buffer it never allocated to `kvrealloc` when dropped (three calls
/// deep, to free nothing), and the map and unmap paths would drop two or three such
/// vectors each time.
pub(crate) fn drop_vec<T, A: Allocator>(v: Vec<T, A>) {
    // No capacity: no buffer (a vector of zero-sized values has all the capacity there
    // is), so no element either.
    if v.capacity() == 0 {
        core::mem::forget(v);
    }
}
