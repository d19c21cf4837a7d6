// SPDX-License-Identifier: GPL-2.0

//! Anonymous-inode files whose operations are written in Rust.
//!
//! An [`AnonFile`] implementor is shared between its owner and the file: [`create`] gives
//! the file one `Arc` reference, which crosses to C in `private_data` as a foreign pointer
//! ([`ForeignOwnable`]) and comes back, once, in `release`. As with `MiscDevice`, the
//! `file_operations` are one constant per implementor, and their `owner` is this module,
//! so an open file keeps the module loaded.

use core::{
    marker::PhantomData,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    fs::File,
    module::this_module,
    prelude::*,
    sync::{
        aref::ARef,
        poll::PollTable,
        Arc, //
    },
    types::ForeignOwnable,
    uaccess::UserPtr,
};

// Exported by fs/anon_inodes.c; not in the generated bindings. `struct file_operations`
// and `struct file` are only passed by pointer here.
#[expect(improper_ctypes)]
unsafe extern "C" {
    fn anon_inode_getfile(
        name: *const c_char,
        fops: *const bindings::file_operations,
        private: *mut c_void,
        flags: c_int,
    ) -> *mut bindings::file;
}

/// The operations of an anonymous file.
pub(crate) trait AnonFile: Send + Sync + Sized + 'static {
    /// The file's name, as /proc/<pid>/fd shows it.
    const NAME: &'static CStr;

    /// `read()` of `count` bytes into the user buffer `buf`.
    fn read(this: &Self, file: &File, buf: UserPtr, count: usize) -> Result<usize>;

    /// `write()` of `count` bytes from the user buffer `buf`.
    fn write(this: &Self, file: &File, buf: UserPtr, count: usize) -> Result<usize>;

    /// `poll()`: registers with `table` what to wait on and returns the ready mask.
    fn poll(this: &Self, file: &File, table: &PollTable<'_>) -> u32;

    /// The file's last reference is gone; `this` is the reference [`create`] gave it.
    fn release(this: Arc<Self>);
}

/// Creates an anonymous file (open with `O_RDWR`) whose operations are `T`'s, holding
/// `this`. No fd names it: the caller installs one once nothing else can fail.
///
/// Errors: `ENOMEM`, `ENFILE`.
pub(crate) fn create<T: AnonFile>(this: Arc<T>) -> Result<ARef<File>> {
    let private = this.into_foreign();
    // SAFETY: `NAME` is a NUL-terminated string and the fops a constant promoted to a
    // static; `private` is ours to give to the file, whose `release` takes it back.
    let file = unsafe {
        anon_inode_getfile(
            T::NAME.as_char_ptr(),
            Vtable::<T>::build(),
            private,
            bindings::O_RDWR as c_int,
        )
    };
    match kernel::error::from_err_ptr(file) {
        // SAFETY: a new file, whose one reference `anon_inode_getfile` gave us; `File`
        // is a transparent wrapper of `struct file`.
        Ok(file) => Ok(unsafe { ARef::from_raw(NonNull::new_unchecked(file.cast::<File>())) }),
        Err(e) => {
            // SAFETY: not given to any file: we take it back, once.
            drop(unsafe { Arc::<T>::from_foreign(private) });
            Err(e)
        }
    }
}

/// The `file_operations` of `T`'s files.
struct Vtable<T>(PhantomData<T>);

impl<T: AnonFile> Vtable<T> {
    const FOPS: bindings::file_operations = bindings::file_operations {
        read: Some(Self::read),
        write: Some(Self::write),
        poll: Some(Self::poll),
        release: Some(Self::release),
        llseek: Some(bindings::noop_llseek),
        owner: this_module::<crate::LocalModule>().as_ptr(),
        ..pin_init::zeroed()
    };

    const fn build() -> &'static bindings::file_operations {
        &Self::FOPS
    }

    /// The object behind a file, with the file.
    ///
    /// # Safety
    ///
    /// `file` is a live file made by [`create::<T>`], which the caller keeps for `'a`.
    unsafe fn object<'a>(file: *mut bindings::file) -> (&'a T, &'a File) {
        // SAFETY: `private_data` holds the reference `create` gave the file until
        // `release`, which cannot run while the caller keeps the file.
        let this = unsafe { <Arc<T> as ForeignOwnable>::borrow((*file).private_data) };
        // SAFETY: live for `'a` by the caller's guarantee.
        let file = unsafe { File::from_raw_file(file) };
        // SAFETY: the borrowed `Arc` points at an object the file keeps for `'a`.
        (unsafe { &*core::ptr::from_ref::<T>(&this) }, file)
    }

    /// # Safety
    ///
    /// Called by the VFS with a live file of `T`'s.
    unsafe extern "C" fn read(
        file: *mut bindings::file,
        buf: *mut c_char,
        count: usize,
        _pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: the VFS keeps the file for the call.
        let (this, file) = unsafe { Self::object(file) };
        match T::read(this, file, UserPtr::from_ptr(buf.cast()), count) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS with a live file of `T`'s.
    unsafe extern "C" fn write(
        file: *mut bindings::file,
        buf: *const c_char,
        count: usize,
        _pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: the VFS keeps the file for the call.
        let (this, file) = unsafe { Self::object(file) };
        match T::write(this, file, UserPtr::from_ptr(buf.cast_mut().cast()), count) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS with a live file of `T`'s and a valid or null table.
    unsafe extern "C" fn poll(
        file: *mut bindings::file,
        table: *mut bindings::poll_table_struct,
    ) -> bindings::__poll_t {
        // SAFETY: the VFS keeps the file for the call.
        let (this, file) = unsafe { Self::object(file) };
        // SAFETY: the table is valid or null for the call.
        let table = unsafe { PollTable::from_raw(table) };
        T::poll(this, file, &table)
    }

    /// # Safety
    ///
    /// Called by the VFS once, when the last reference to a file of `T`'s is gone.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: `private_data` is the reference `create` gave this file; this is the
        // one place it is taken back.
        T::release(unsafe { <Arc<T> as ForeignOwnable>::from_foreign((*file).private_data) });
        0
    }
}
