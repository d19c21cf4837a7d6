// SPDX-License-Identifier: GPL-2.0

//! What C sees: the in-kernel API of `include/linux/ioasid.h`.
//!
//! Device drivers (the samples, and the mock's control file in tests) bind their devices
//! to the context of a user's /dev/ioasid file here. The binding crosses to C as an
//! `Arc<BoundDevice>` turned into a foreign pointer ([`ForeignOwnable`]): C holds that
//! reference until `ioasid_unbind_device()` gives it back. Nothing below this file calls
//! back into it: the context knows its files, the device its binding.

use core::sync::atomic::{
    AtomicPtr,
    Ordering, //
};
use kernel::{
    bindings,
    fs::File,
    prelude::*,
    sync::{
        aref::ARef,
        Arc, //
    },
    types::ForeignOwnable, //
};

use crate::{
    abi::{
        IOASID_DEVICE_INTENT_PASID,
        IOASID_DEVICE_INTENT_RID,
        IOASID_DEVICE_INTENT_SW_TABLE, //
    },
    context::Context,
    device::{
        BoundDevice,
        DeviceAccess, //
    },
    iommu::DmaOwner,
};

/// The `file_operations` of /dev/ioasid files, recorded by every open, so that a file
/// handed in by a driver can be recognised as ours ([`ioasid_file`]). No ioasid file
/// exists before the first open has stored it.
static IOASID_FOPS: AtomicPtr<bindings::file_operations> = AtomicPtr::new(core::ptr::null_mut());

/// Records the `file_operations` of /dev/ioasid from `file`, a /dev/ioasid file being
/// opened.
pub(crate) fn record_fops(file: &File) {
    // SAFETY: `file` is a valid file; its `f_op` is set before open and never changes.
    let fops = unsafe { (*file.as_ptr()).f_op };
    IOASID_FOPS.store(fops.cast_mut(), Ordering::Release);
}

/// Recognises `file` as a /dev/ioasid file and takes a reference to it.
///
/// Errors: `EBADF` another kind of file.
///
/// # Safety
///
/// `file` is a valid file the caller holds a reference to.
unsafe fn ioasid_file(file: *mut bindings::file) -> Result<ARef<File>> {
    let ours = IOASID_FOPS.load(Ordering::Acquire);
    // SAFETY: `file` is valid by the caller's guarantee.
    if ours.is_null() || unsafe { (*file).f_op } != ours.cast_const() {
        return Err(EBADF);
    }
    // SAFETY: `file` is valid and the caller holds a reference for this call;
    // `ARef::from` takes one of our own.
    Ok(ARef::from(unsafe { File::from_raw_file(file) }))
}

/// The context of a /dev/ioasid file.
///
/// # Safety
///
/// `file` is a /dev/ioasid file (one [`ioasid_file`] recognised).
unsafe fn context_of(file: &File) -> &Context {
    // SAFETY: the misc device core stored `Pin<KBox<Context>>::into_foreign()` of this
    // file in `private_data` at open, and releases it only with the file, which the
    // reference keeps.
    unsafe { <Pin<KBox<Context>> as ForeignOwnable>::borrow((*file.as_ptr()).private_data) }
        .get_ref()
}

/// Binds `dev` to the context of `ioasid_file`; see `include/linux/ioasid.h`.
///
/// # Safety
///
/// `ioasid_file` is a file and `dev` a probed device with `driver_managed_dma`, both valid
/// and kept so by the caller for the call; `out_id` is valid for a write. The device stays
/// bound to its driver until `ioasid_unbind_device()` of the result.
#[no_mangle]
#[expect(unreachable_pub)] // Called from C drivers.
pub unsafe extern "C" fn ioasid_bind_device(
    ioasid_file: *mut bindings::file,
    dev: *mut bindings::device,
    intent: u32,
    out_id: *mut u32,
) -> *mut c_void {
    // SAFETY: as the caller guarantees.
    match unsafe { bind(ioasid_file, dev, intent) } {
        Ok(bound) => {
            // SAFETY: `out_id` is valid for a write by the caller's guarantee.
            unsafe { *out_id = bound.id() };
            bound.into_foreign().cast()
        }
        Err(e) => e.to_ptr(),
    }
}

/// Binds `dev` with `intent` to the context of the /dev/ioasid file `file`.
///
/// Errors: `EBADF` not a /dev/ioasid file, `EINVAL` unknown intent, and those of
/// [`DmaOwner::claim`] and of the object table.
///
/// # Safety
///
/// As for [`ioasid_bind_device`].
pub(crate) unsafe fn bind(
    file: *mut bindings::file,
    dev: *mut bindings::device,
    intent: u32,
) -> Result<Arc<BoundDevice>> {
    // SAFETY: `file` is valid by the caller's guarantee.
    let file = unsafe { ioasid_file(file)? };
    // SAFETY: recognised as a /dev/ioasid file just above.
    let context = unsafe { context_of(&file) };
    let access = match intent {
        IOASID_DEVICE_INTENT_RID | IOASID_DEVICE_INTENT_PASID => {
            // Every device of a context is owned under the same cookie: the context.
            let cookie = core::ptr::from_ref(context).cast();
            // SAFETY: `dev` is probed with `driver_managed_dma` and stays bound (caller).
            let owner = unsafe { DmaOwner::claim(dev, cookie)? };
            // Dropping `owner` on failure gives the DMA ownership back.
            owner.check_msi_isolation()?;
            DeviceAccess::Iommu(owner)
        }
        IOASID_DEVICE_INTENT_SW_TABLE => DeviceAccess::Cpu,
        _ => return Err(EINVAL),
    };
    context.add_device(access, file.clone(), intent)
}

/// Unbinds a device bound by [`ioasid_bind_device`]; see `include/linux/ioasid.h`.
///
/// # Safety
///
/// `idev` was returned by `ioasid_bind_device` and is not used after this call.
#[no_mangle]
#[expect(unreachable_pub)] // Called from C drivers.
pub unsafe extern "C" fn ioasid_unbind_device(idev: *mut c_void) {
    // SAFETY: `idev` came from `into_foreign` in `ioasid_bind_device`, and the caller gives
    // that reference back.
    unbind(unsafe { Arc::<BoundDevice>::from_foreign(idev.cast()) });
}

/// Undoes [`bind`]: detaches the device, gives up its DMA ownership and removes its ID.
pub(crate) fn unbind(bound: Arc<BoundDevice>) {
    bound.unbind();
    // SAFETY: the binding holds a reference to its /dev/ioasid file, which `bind`
    // recognised.
    unsafe { context_of(bound.file()) }.remove_device(bound.id());
    // The file goes with the last reference to the binding (an ioctl in flight may hold
    // one a little longer; the device is already released).
}

/// Copies between `buf` and the address space of a software-table device; see
/// `include/linux/ioasid.h`.
///
/// # Safety
///
/// `idev` is a live binding from `ioasid_bind_device`; `buf` is valid for reads and
/// writes of `len` bytes for the duration of the call.
#[no_mangle]
#[expect(unreachable_pub)] // Called from C drivers.
pub unsafe extern "C" fn ioasid_access_rw(
    idev: *mut c_void,
    iova: u64,
    buf: *mut c_void,
    len: usize,
    write: bool,
) -> c_int {
    // SAFETY: `idev` is a live binding the caller keeps for the call.
    let bound = unsafe { Arc::<BoundDevice>::borrow(idev.cast()) };
    if len == 0 {
        return 0;
    }
    // SAFETY: `buf` is valid for `len` bytes by the caller's guarantee.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    match bound.access_rw(iova, buf, write) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The physical PASID named `vpasid` in PASID namespace `ns_id` of the context of
/// `ioasid_file`; see `include/linux/ioasid.h`.
///
/// # Safety
///
/// `ioasid_file` is a valid file the caller holds a reference to for the call; `ppasid`
/// is valid for a write.
#[no_mangle]
#[expect(unreachable_pub)] // Called from C.
pub unsafe extern "C" fn ioasid_pasid_translate(
    ioasid_file: *mut bindings::file,
    ns_id: u32,
    vpasid: u32,
    ppasid: *mut u32,
) -> c_int {
    // SAFETY: `ioasid_file` is valid by the caller's guarantee.
    let file = match unsafe { self::ioasid_file(ioasid_file) } {
        Ok(file) => file,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: recognised as a /dev/ioasid file just above.
    match unsafe { context_of(&file) }.translate_pasid(ns_id, vpasid) {
        Ok(p) => {
            // SAFETY: valid for a write by the caller's guarantee.
            unsafe { *ppasid = p };
            0
        }
        Err(e) => e.to_errno(),
    }
}
