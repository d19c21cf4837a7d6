// SPDX-License-Identifier: GPL-2.0

//! The mock IOMMU as the kernel sees it: a bus of its own, an `iommu_device` registered
//! for that bus with its own `iommu_ops`, and the mock devices on the bus.
//!
//! Everything the IOMMU core calls is an `extern "C"` callback here or in
//! [`super::domain`]; each turns its raw pointers into references to [`MockDev`] or
//! [`MockDomain`] once, under the invariant that the core hands the mock only its own
//! devices (the bus check of `probe_device`) and its own domains.

use core::{
    ptr::{
        null_mut,
        NonNull, //
    },
    sync::atomic::{
        AtomicPtr,
        Ordering, //
    },
};
use kernel::{
    bindings,
    error::to_result,
    new_mutex,
    prelude::*,
    sync::Mutex,
    types::Opaque, //
};

use super::{
    domain::{
        self,
        MockDomain, //
    },
    nested::{
        self,
        MockNested, //
    },
    raw::{
        IOASID_MOCK_ADDR_WIDTH,
        IOASID_MOCK_SW_MSI_BASE,
        IOASID_MOCK_SW_MSI_LENGTH, //
    },
};

/// A C object at a fixed address for the life of the kernel, handed to C by pointer.
#[repr(transparent)]
pub(super) struct Global<T>(Opaque<T>);

// SAFETY: Rust code only takes the object's address; the C side that uses it does its
// own locking (or only reads it).
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    pub(super) const fn new(value: T) -> Self {
        Self(Opaque::new(value))
    }

    pub(super) const fn get(&self) -> *mut T {
        self.0.get()
    }
}

// Defined by the IOMMU core with CONFIG_IOMMUFD_TEST (drivers/iommu/iommu-priv.h):
// register an IOMMU driver for one bus, and add a device with that IOMMU's fwspec.
// The C structs are only passed by pointer, never inspected through these declarations.
#[expect(improper_ctypes)]
unsafe extern "C" {
    fn iommu_device_register_bus(
        iommu: *mut bindings::iommu_device,
        ops: *const bindings::iommu_ops,
        bus: *const bindings::bus_type,
        nb: *mut bindings::notifier_block,
    ) -> c_int;
    fn iommu_device_unregister_bus(
        iommu: *mut bindings::iommu_device,
        bus: *const bindings::bus_type,
        nb: *mut bindings::notifier_block,
    );
    fn iommu_mock_device_add(
        dev: *mut bindings::device,
        iommu: *mut bindings::iommu_device,
    ) -> c_int;
}

// From glue.c.
#[expect(improper_ctypes)]
unsafe extern "C" {
    fn ioasid_mock_set_pasid_width(dev: *mut bindings::device, bits: u32) -> c_int;
    fn ioasid_mock_add_resv(head: *mut bindings::list_head, start: u64, length: u64) -> c_int;
    fn ioasid_mock_add_sw_msi(head: *mut bindings::list_head, start: u64, length: u64) -> c_int;
    fn ioasid_mock_hw_info_alloc() -> *mut c_void;
    fn ioasid_mock_free_dev_iommu(dev: *mut bindings::device);
    fn ioasid_mock_msi_init() -> c_int;
    fn ioasid_mock_msi_exit();
    fn ioasid_mock_isolate_msi(dev: *mut bindings::device);
    // drivers/iommu/iommu-priv.h.
    fn iommu_attach_handle_get(
        group: *mut bindings::iommu_group,
        pasid: bindings::ioasid_t,
        type_: c_uint,
    ) -> *mut bindings::iommu_attach_handle;
}

static BUS: Global<bindings::bus_type> = Global::new(bindings::bus_type {
    name: c"ioasid_mock".as_ptr().cast(),
    ..pin_init::zeroed()
});

static NOTIFIER: Global<bindings::notifier_block> = Global::new(pin_init::zeroed());

/// Widest PASID space of the mock IOMMU: 20 bits, as PCIe.
const MAX_PASIDS: u32 = 1 << 20;

static IOMMU: Global<bindings::iommu_device> = Global::new(bindings::iommu_device {
    max_pasids: MAX_PASIDS,
    ..pin_init::zeroed()
});

static OPS: Global<bindings::iommu_ops> = Global::new(bindings::iommu_ops {
    capable: Some(capable),
    domain_alloc_paging_flags: Some(domain_alloc_paging_flags),
    domain_alloc_nested: Some(domain_alloc_nested),
    hw_info: Some(hw_info),
    probe_device: Some(probe_device),
    release_device: Some(release_device),
    device_group: Some(device_group),
    get_resv_regions: Some(get_resv_regions),
    page_response: Some(page_response),
    default_domain_ops: domain::PAGING_OPS.get().cast_const(),
    // Devices start blocked, and go back to blocked when their owner lets go.
    default_domain: domain::BLOCKED.get(),
    blocked_domain: domain::BLOCKED.get(),
    // Built in: no module to pin.
    owner: null_mut(),
    ..pin_init::zeroed()
});

/// The mock IOMMU's I/O page-fault queue (the core's per-IOMMU list of devices that may
/// issue page requests), allocated by [`Registration::new`].
static IOPF_QUEUE: AtomicPtr<bindings::iopf_queue> = AtomicPtr::new(null_mut());

/// The registration of the bus and the IOMMU; undone on drop.
pub(super) struct Registration(());

impl Registration {
    /// Registers the mock bus and the mock IOMMU for it. Called once, by module init.
    pub(super) fn new() -> Result<Self> {
        // SAFETY: the name is a static string.
        let queue = unsafe { bindings::iopf_queue_alloc(c"ioasid-mock".as_ptr().cast()) };
        if queue.is_null() {
            return Err(ENOMEM);
        }
        IOPF_QUEUE.store(queue, Ordering::Release);
        // SAFETY: `BUS` is a static bus type, registered once (the module has one mock).
        let ret = unsafe { bindings::bus_register(BUS.get()) };
        if ret < 0 {
            // SAFETY: allocated above, no device in it.
            unsafe { bindings::iopf_queue_free(queue) };
            return Err(Error::from_errno(ret));
        }
        // The IOMMU's sysfs device (/sys/class/iommu/ioasid-mock), which the core links
        // every probed device to.
        // SAFETY: `IOMMU` is a static, not yet registered; the format takes one string.
        let ret = unsafe {
            bindings::iommu_device_sysfs_add(
                IOMMU.get(),
                null_mut(),
                null_mut(),
                c"%s".as_ptr().cast(),
                c"ioasid-mock".as_ptr(),
            )
        };
        if ret < 0 {
            // SAFETY: registered just above and not used since.
            unsafe {
                bindings::bus_unregister(BUS.get());
                bindings::iopf_queue_free(queue);
            }
            return Err(Error::from_errno(ret));
        }
        // SAFETY: all four are statics that live as long as the kernel; the IOMMU is
        // registered once, after its bus and sysfs device.
        let ret =
            unsafe { iommu_device_register_bus(IOMMU.get(), OPS.get(), BUS.get(), NOTIFIER.get()) };
        if ret < 0 {
            // SAFETY: both registered just above and not used since.
            unsafe {
                bindings::iommu_device_sysfs_remove(IOMMU.get());
                bindings::bus_unregister(BUS.get());
                bindings::iopf_queue_free(queue);
            }
            return Err(Error::from_errno(ret));
        }
        Ok(Self(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: both were registered by `new`; the control device, the only creator of
        // devices on the bus, is gone (it is dropped first), so the bus is empty.
        unsafe {
            iommu_device_unregister_bus(IOMMU.get(), BUS.get(), NOTIFIER.get());
            bindings::iommu_device_sysfs_remove(IOMMU.get());
            bindings::bus_unregister(BUS.get());
            bindings::iopf_queue_free(IOPF_QUEUE.load(Ordering::Acquire));
        }
    }
}

/// The mock's isolating interrupt domain, which isolated mock devices are put under;
/// removed on drop.
pub(super) struct MsiDomain(());

impl MsiDomain {
    /// Creates the domain. Called once, by module init, before any mock device exists.
    pub(super) fn new() -> Result<Self> {
        // SAFETY: called once (the module has one mock); undone by `drop`.
        to_result(unsafe { ioasid_mock_msi_init() })?;
        Ok(Self(()))
    }
}

impl Drop for MsiDomain {
    fn drop(&mut self) {
        // SAFETY: created by `new`; dropped after the bus registration, so no mock
        // device refers to it any more.
        unsafe { ioasid_mock_msi_exit() };
    }
}

/// What a mock device is created with.
pub(super) struct MockProps {
    pub(super) id: u32,
    pub(super) instance: u32,
    pub(super) pasid_width: u32,
    pub(super) reserved: KVec<(u64, u64)>,
    /// A device whose IOMMU group the new one joins.
    pub(super) group_with: Option<DevRef>,
    /// Issues page requests.
    pub(super) pri: bool,
    /// Its MSIs are isolated (it is under [`MsiDomain`]).
    pub(super) msi_isolated: bool,
    /// Its IOMMU has a software MSI window.
    pub(super) sw_msi: bool,
    /// Its IOMMU can enforce cache-coherent DMA.
    pub(super) enforce_coherency: bool,
    /// Its IOMMU can track dirty pages.
    pub(super) dirty: bool,
}

/// A domain DMA goes through.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    Paging(NonNull<MockDomain>),
    Nested(NonNull<MockNested>),
}

/// The domains a mock device is attached to, as the mock "hardware" sees them.
pub(super) struct Attached {
    /// Domain of requester-ID DMA; `None` while blocked.
    pub(super) rid: Option<Slot>,
    /// Domains of PASID-tagged DMA, by PASID.
    pub(super) pasids: KVec<(u32, Slot)>,
}

// SAFETY: the pointers are only names of domains, dereferenced under the device's lock
// while the domain is attached (so alive); domains are usable from any thread.
unsafe impl Send for Attached {}

impl Attached {
    /// The domain DMA tagged with `pasid` (`None`: no PASID) goes through.
    pub(super) fn domain(&self, pasid: Option<u32>) -> Option<Slot> {
        match pasid {
            None => self.rid,
            Some(p) => match self.pasids.iter().find(|(q, _)| *q == p) {
                Some((_, d)) => Some(*d),
                // A guest-owned PASID table bound for the requester ID serves every PASID.
                None => match self.rid {
                    // SAFETY: attached domains are alive while the device's lock is held.
                    Some(Slot::Nested(n)) if unsafe { n.as_ref() }.is_pasid_table() => self.rid,
                    _ => None,
                },
            },
        }
    }

    /// Records that `pasid` now goes through `domain` (`None`: blocked).
    /// Whether no attachment change of (`dev`, `pasid`) is half done: the IOMMU core
    /// programs the mock (`set`, under this lock) before it publishes the attachment's
    /// handle, and its owner may free the old handle as soon as the change returns. A
    /// page request reported in between would reach the old handle; reported while this
    /// holds (and the lock is held), the handle it finds stays alive.
    ///
    /// # Safety
    ///
    /// `dev` is this device's live, probed `struct device`.
    pub(super) unsafe fn settled(&self, dev: *mut bindings::device, pasid: Option<u32>) -> bool {
        let domain_of = |slot: Option<&Slot>| match slot {
            Some(Slot::Paging(d)) => d.as_ptr().cast::<bindings::iommu_domain>(),
            Some(Slot::Nested(d)) => d.as_ptr().cast::<bindings::iommu_domain>(),
            None => core::ptr::null_mut(),
        };
        // SAFETY: `dev` is probed (caller), so its group is set.
        let group = unsafe { (*dev).iommu_group };
        let handle_domain = |key: u32| {
            // SAFETY: a live group; the lookup takes the group's lock.
            let h = unsafe { iommu_attach_handle_get(group, key, 0) };
            kernel::error::from_err_ptr(h).ok().map(|h| {
                // SAFETY: a handle found is alive while its attachment lasts, which the
                // attachment lock the caller holds keeps (the core changes attachments
                // only through `set`).
                unsafe { (*h).domain }
            })
        };
        let (key, slot) = match pasid {
            Some(p) => {
                let slot = self.pasids.iter().find(|(q, _)| *q == p).map(|(_, d)| d);
                if slot.is_none() && handle_domain(p).is_none() {
                    // Nothing for the PASID: the core looks at the RID's handle.
                    (bindings::IOMMU_NO_PASID, self.rid.as_ref())
                } else {
                    (p, slot)
                }
            }
            None => (bindings::IOMMU_NO_PASID, self.rid.as_ref()),
        };
        // No handle: the core finds no handler, there is nothing to reach.
        handle_domain(key).is_none_or(|d| d == domain_of(slot))
    }

    pub(super) fn set(&mut self, pasid: Option<u32>, domain: Option<Slot>) -> Result {
        let Some(p) = pasid else {
            self.rid = domain;
            return Ok(());
        };
        self.pasids.retain(|(q, _)| *q != p);
        if let Some(d) = domain {
            self.pasids.push((p, d), GFP_KERNEL)?;
        }
        Ok(())
    }
}

/// A mock device: a `struct device` on the mock bus, behind the mock IOMMU.
///
/// # Invariants
///
/// Allocated by [`MockDev::create`] and freed only by the device core's `release`, when
/// the last reference to `dev` goes.
#[repr(C)]
#[pin_data]
pub(super) struct MockDev {
    /// First field: a `struct device` of the bus is a `MockDev`.
    dev: Opaque<bindings::device>,
    id: u32,
    /// Domains of another instance do not fit this device.
    pub(super) instance: u32,
    reserved: KVec<(u64, u64)>,
    group_with: Option<DevRef>,
    /// Issues page requests; a member of [`IOPF_QUEUE`] while registered.
    pub(super) pri: bool,
    /// Its IOMMU reserves a software MSI window.
    pub(super) sw_msi: bool,
    /// Its IOMMU can enforce cache-coherent DMA.
    pub(super) enforce_coherency: bool,
    /// Its IOMMU can track dirty pages.
    pub(super) dirty: bool,
    #[pin]
    pub(super) attached: Mutex<Attached>,
    /// Page responses the core sent, oldest first.
    #[pin]
    pub(super) responses: Mutex<KVec<bindings::iommu_page_response>>,
}

const _: () = assert!(core::mem::offset_of!(MockDev, dev) == 0);

impl MockDev {
    /// Creates and registers a mock device; the IOMMU core probes it on the way.
    pub(super) fn create(props: MockProps) -> Result<DevRef> {
        let boxed = KBox::pin_init(
            try_pin_init!(MockDev {
                dev: Opaque::zeroed(),
                id: props.id,
                instance: props.instance,
                reserved: props.reserved,
                group_with: props.group_with,
                pri: props.pri,
                sw_msi: props.sw_msi,
                enforce_coherency: props.enforce_coherency,
                dirty: props.dirty,
                attached <- new_mutex!(Attached {
                    rid: None,
                    pasids: KVec::new(),
                }),
                responses <- new_mutex!(KVec::new()),
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: the device core frees it through `release` and never moves it.
        let me = KBox::into_raw(unsafe { Pin::into_inner_unchecked(boxed) });
        let dev: *mut bindings::device = me.cast();
        // SAFETY: `dev` is the zeroed, not yet initialised device of `me`.
        unsafe {
            bindings::device_initialize(dev);
            (*dev).bus = BUS.get();
            (*dev).release = Some(release);
        }
        // The reference `device_initialize` gave is now `this`'s: from here on, dropping
        // it frees the device through `release`.
        // SAFETY: `me` is a live `MockDev` whose reference we own.
        let this = unsafe { DevRef::adopt(NonNull::new_unchecked(me)) };
        // SAFETY: `dev` is initialised; the format takes one `u32`.
        to_result(unsafe {
            bindings::dev_set_name(dev, c"ioasid_mock%u".as_ptr().cast(), props.id)
        })?;
        if props.pasid_width > 0 {
            // SAFETY: `dev` is initialised and not yet added.
            to_result(unsafe { ioasid_mock_set_pasid_width(dev, props.pasid_width) })?;
        }
        if props.msi_isolated {
            // SAFETY: `dev` is initialised and not yet added; the domain outlives every
            // mock device (`MsiDomain` is dropped after the bus registration).
            unsafe { ioasid_mock_isolate_msi(dev) };
        }
        // SAFETY: `dev` is initialised and named, not added; `this` keeps it.
        unsafe { Self::add(dev, props.pri) }?;
        Ok(this)
    }

    /// Adds the initialised, named device `dev`, which the IOMMU core probes, and makes
    /// it a member of the I/O page fault queue if it issues page requests (`pri`). On
    /// failure the device is not added (the caller's reference frees it).
    ///
    /// # Safety
    ///
    /// `dev` is the initialised, named, not yet added device of a live [`MockDev`] the
    /// caller holds a reference to.
    unsafe fn add(dev: *mut bindings::device, pri: bool) -> Result {
        // SAFETY: `dev` is initialised, named and on the mock bus; `IOMMU` is registered.
        let added = to_result(unsafe { iommu_mock_device_add(dev, IOMMU.get()) });
        if let Err(e) = added {
            // SAFETY: `dev` was not added; nothing else uses its IOMMU data.
            unsafe { ioasid_mock_free_dev_iommu(dev) };
            return Err(e);
        }
        // Adding the device probes it with the IOMMU core, whose failure (out of memory)
        // leaves a device without an IOMMU: not a mock device.
        // SAFETY: `dev` is added; a group reference is taken if it has one.
        let group = unsafe { bindings::iommu_group_get(dev) };
        if group.is_null() {
            // SAFETY: added above, deleted once; the caller drops the last reference.
            unsafe { bindings::device_del(dev) };
            return Err(ENODEV);
        }
        // SAFETY: the reference just taken.
        unsafe { bindings::iommu_group_put(group) };
        if pri {
            // SAFETY: the queue lives as long as the registration, which outlives every
            // device; `dev` is probed. `unregister` takes it out again.
            let ret =
                unsafe { bindings::iopf_queue_add_device(IOPF_QUEUE.load(Ordering::Acquire), dev) };
            if ret < 0 {
                // SAFETY: added above, deleted once; the caller drops the last reference.
                unsafe { bindings::device_del(dev) };
                return Err(Error::from_errno(ret));
            }
        }
        Ok(())
    }

    /// The mock device of a `struct device` the IOMMU core hands the mock.
    ///
    /// # Safety
    ///
    /// `dev` is a live device of the mock bus (every device the core probes with the
    /// mock's ops is: `probe_device` refuses others).
    pub(super) unsafe fn from_raw<'a>(dev: *mut bindings::device) -> &'a MockDev {
        // SAFETY: devices of the mock bus are created only by `create`, with the device
        // first in a live `MockDev`.
        unsafe { &*dev.cast::<MockDev>() }
    }

    /// The device's `struct device`.
    pub(super) fn raw(&self) -> *mut bindings::device {
        self.dev.get()
    }
}

/// `release` of a mock device: frees it when its last reference goes.
///
/// # Safety
///
/// `device.release` of mock devices: called by the driver core once, when the last
/// reference to a device `MockDev::create` made is gone.
unsafe extern "C" fn release(dev: *mut bindings::device) {
    // SAFETY: `dev` is the first field of a `MockDev` allocated by `create` as a `KBox`,
    // and this is the last use of it (invariant of `MockDev`).
    drop(unsafe { KBox::from_raw(dev.cast::<MockDev>()) });
}

/// A counted reference to a mock device.
///
/// # Invariants
///
/// Holds one reference (`get_device`) on the live device of `0`.
pub(super) struct DevRef(NonNull<MockDev>);

// SAFETY: a device reference may be taken and dropped from any thread; `MockDev` is
// only accessed through `&` and its own lock.
unsafe impl Send for DevRef {}
// SAFETY: as above.
unsafe impl Sync for DevRef {}

impl DevRef {
    /// Takes over a reference the caller owns.
    ///
    /// # Safety
    ///
    /// The caller owns one reference to the live device of `dev` and gives it up.
    unsafe fn adopt(dev: NonNull<MockDev>) -> Self {
        Self(dev)
    }

    /// Removes the device from the bus (the IOMMU core releases it) and drops the
    /// reference; the device is freed when the last other reference goes.
    pub(super) fn unregister(self) {
        if self.pri {
            // SAFETY: `create` added the probed device to the queue; pending partial
            // requests are discarded.
            unsafe {
                bindings::iopf_queue_remove_device(IOPF_QUEUE.load(Ordering::Acquire), self.raw())
            };
        }
        // SAFETY: the device was added by `MockDev::create`, and is deleted once: `self`
        // is the reference `create` returned, consumed here.
        unsafe { bindings::device_del(self.raw()) };
    }
}

impl Clone for DevRef {
    fn clone(&self) -> Self {
        // SAFETY: we hold a reference, so the device is live.
        unsafe { bindings::get_device(self.raw()) };
        Self(self.0)
    }
}

impl Drop for DevRef {
    fn drop(&mut self) {
        // SAFETY: gives back the reference of the invariant.
        unsafe { bindings::put_device(self.raw()) };
    }
}

impl core::ops::Deref for DevRef {
    type Target = MockDev;

    fn deref(&self) -> &MockDev {
        // SAFETY: by the invariant the device is live while we hold the reference.
        unsafe { self.0.as_ref() }
    }
}

/// # Safety
///
/// `iommu_ops.capable`: called by the IOMMU core with a device the mock probed.
unsafe extern "C" fn capable(dev: *mut bindings::device, cap: bindings::iommu_cap) -> bool {
    // SAFETY: probed by the mock, so on its bus.
    let mdev = unsafe { MockDev::from_raw(dev) };
    cap == bindings::iommu_cap_IOMMU_CAP_CACHE_COHERENCY
        || (cap == bindings::iommu_cap_IOMMU_CAP_ENFORCE_CACHE_COHERENCY && mdev.enforce_coherency)
        || (cap == bindings::iommu_cap_IOMMU_CAP_DIRTY_TRACKING && mdev.dirty)
}

/// # Safety
///
/// `iommu_ops.probe_device`: called by the IOMMU core with a valid device of the
/// mock's bus.
unsafe extern "C" fn probe_device(dev: *mut bindings::device) -> *mut bindings::iommu_device {
    // SAFETY: the core hands a valid device.
    if unsafe { (*dev).bus } != BUS.get().cast_const() {
        return ENODEV.to_ptr();
    }
    IOMMU.get()
}

/// # Safety
///
/// `iommu_ops.release_device`: called by the IOMMU core with a device the mock
/// probed.
unsafe extern "C" fn release_device(dev: *mut bindings::device) {
    // SAFETY: probed by the mock, so on its bus.
    let mdev = unsafe { MockDev::from_raw(dev) };
    let mut attached = mdev.attached.lock();
    attached.rid = None;
    attached.pasids.clear();
}

/// # Safety
///
/// `iommu_ops.device_group`: called by the IOMMU core with a device the mock probed.
unsafe extern "C" fn device_group(dev: *mut bindings::device) -> *mut bindings::iommu_group {
    // SAFETY: probed by the mock, so on its bus.
    let mdev = unsafe { MockDev::from_raw(dev) };
    match &mdev.group_with {
        Some(other) => {
            // SAFETY: `other` is a live device we hold a reference to; the group comes
            // with a reference of its own, which the core takes over.
            let group = unsafe { bindings::iommu_group_get(other.raw()) };
            if group.is_null() {
                ENODEV.to_ptr()
            } else {
                group
            }
        }
        // SAFETY: `dev` is a valid device being probed.
        None => unsafe { bindings::generic_device_group(dev) },
    }
}

/// # Safety
///
/// `iommu_ops.get_resv_regions`: called by the IOMMU core with a device the mock
/// probed and the list of regions it is filling.
unsafe extern "C" fn get_resv_regions(dev: *mut bindings::device, head: *mut bindings::list_head) {
    // SAFETY: probed by the mock, so on its bus.
    let mdev = unsafe { MockDev::from_raw(dev) };
    for &(start, last) in mdev.reserved.iter() {
        // A region that cannot be allocated is left out, as the core does for its own.
        // SAFETY: `head` is the core's list of regions being filled.
        let _ = unsafe { ioasid_mock_add_resv(head, start, last - start + 1) };
    }
    if mdev.sw_msi {
        // SAFETY: as above.
        let _ = unsafe {
            ioasid_mock_add_sw_msi(
                head,
                u64::from(IOASID_MOCK_SW_MSI_BASE),
                u64::from(IOASID_MOCK_SW_MSI_LENGTH),
            )
        };
    }
}

/// # Safety
///
/// `iommu_ops.page_response`: called by the IOMMU core with a device the mock probed
/// and a valid response message.
unsafe extern "C" fn page_response(
    dev: *mut bindings::device,
    _evt: *mut bindings::iopf_fault,
    msg: *mut bindings::iommu_page_response,
) {
    // SAFETY: the core answers only devices the mock probed, with a valid message.
    let (mdev, msg) = unsafe { (MockDev::from_raw(dev), *msg) };
    // A response that cannot be recorded is lost, as on a full hardware queue; the
    // test that expects it fails.
    let _ = mdev.responses.lock().push(msg, GFP_KERNEL);
}

/// # Safety
///
/// `iommu_ops.domain_alloc_paging_flags`: called by the IOMMU core with a device the
/// mock probed and null or valid user data.
unsafe extern "C" fn domain_alloc_paging_flags(
    dev: *mut bindings::device,
    flags: u32,
    user_data: *const bindings::iommu_user_data,
) -> *mut bindings::iommu_domain {
    // Any paging domain of the mock can be a parent of nested domains.
    let dirty = bindings::iommufd_hwpt_alloc_flags_IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
    if flags & !(bindings::iommufd_hwpt_alloc_flags_IOMMU_HWPT_ALLOC_NEST_PARENT | dirty) != 0
        || !user_data.is_null()
    {
        return EOPNOTSUPP.to_ptr();
    }
    // SAFETY: probed by the mock, so on its bus.
    let mdev = unsafe { MockDev::from_raw(dev) };
    if flags & dirty != 0 && !mdev.dirty {
        return EOPNOTSUPP.to_ptr();
    }
    match MockDomain::new(mdev.instance, IOASID_MOCK_ADDR_WIDTH, flags & dirty != 0) {
        Ok(domain) => domain,
        Err(e) => e.to_ptr(),
    }
}

/// # Safety
///
/// `iommu_ops.domain_alloc_nested`: called by the IOMMU core with a device the mock
/// probed, a paging domain (of its IOMMU, checked) and null or valid user data.
unsafe extern "C" fn domain_alloc_nested(
    dev: *mut bindings::device,
    parent: *mut bindings::iommu_domain,
    flags: u32,
    user_data: *const bindings::iommu_user_data,
) -> *mut bindings::iommu_domain {
    if flags != 0 || user_data.is_null() || parent.is_null() {
        return EINVAL.to_ptr();
    }
    // SAFETY: probed by the mock, so on its bus.
    let mdev = unsafe { MockDev::from_raw(dev) };
    // SAFETY: the core's user passes a live parent and valid user data.
    match unsafe { nested::alloc(mdev.instance, parent, user_data) } {
        Ok(domain) => domain,
        Err(e) => e.to_ptr(),
    }
}

/// # Safety
///
/// `iommu_ops.hw_info`: called by the IOMMU core with valid `length` and `type_`.
unsafe extern "C" fn hw_info(
    _dev: *mut bindings::device,
    length: *mut u32,
    type_: *mut bindings::iommu_hw_info_type,
) -> *mut c_void {
    // The mock has no registers to report: an empty (zero-length) allocation.
    // SAFETY: plain allocation, which the caller frees.
    let info = unsafe { ioasid_mock_hw_info_alloc() };
    if info.is_null() {
        return ENOMEM.to_ptr();
    }
    // SAFETY: the core passes valid out-pointers.
    unsafe {
        *length = 0;
        *type_ = crate::device::MOCK_HW_INFO_TYPE;
    }
    info
}
