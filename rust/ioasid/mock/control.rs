// SPDX-License-Identifier: GPL-2.0

//! /dev/ioasid-mock: the test-only control interface of the mock IOMMU
//! (`rust/ioasid/mock/ioasid_mock.h`).
//!
//! Each open is a [`MockControl`] that owns the mock devices it creates. A device is bound to
//! the user's ioasid context when it is created, exactly as a device driver binds its
//! device, and unbound (detached first) when it is deleted or the file is closed: a
//! hot-unplug in whatever state the device is.

use core::sync::atomic::{
    AtomicU32,
    Ordering, //
};
use kernel::{
    bindings,
    fs::{
        File,
        LocalFile, //
    },
    ioctl::_IO,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{
        Arc,
        Mutex, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

use super::{
    domain::MockDomain,
    hw::{
        DevRef,
        MockDev,
        MockProps,
        Slot, //
    },
    nested::{
        MockNested,
        Translation, //
    },
    raw::*,
};
use crate::{
    device::BoundDevice,
    kapi,
    uapi::{
        check_flags,
        extensible,
        raw::{
            IOASID_DEVICE_INTENT_PASID,
            IOASID_DEVICE_INTENT_RID, //
        },
        UserArg, //
    },
};

extensible! {
    ioasid_mock_device_add, last out_dev_id;
    ioasid_mock_device_del, last mock_id;
    ioasid_mock_check_map, last out_pgsizes;
    ioasid_mock_iotlb, last out_invalidations;
    ioasid_mock_page_request, last addr;
    ioasid_mock_page_response, last __reserved;
    ioasid_mock_pasid_translate, last __reserved;
    ioasid_mock_dma_write, last length;
}

// SAFETY: two `__aligned_u64` fields, no padding: any bit pattern is a valid value.
unsafe impl kernel::transmute::FromBytes for ioasid_mock_range {}

const DEVICE_ADD: u32 = _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_DEVICE_ADD);
const DEVICE_DEL: u32 = _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_DEVICE_DEL);
const CHECK_MAP: u32 = _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_CHECK_MAP);
const IOTLB: u32 = _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_IOTLB);
const PAGE_REQUEST: u32 = _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_PAGE_REQUEST);
const PAGE_RESPONSE: u32 = _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_PAGE_RESPONSE);
const PASID_TRANSLATE: u32 = _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_PASID_TRANSLATE);
const DMA_WRITE: u32 = _IO(IOASID_MOCK_TYPE, IOASID_MOCK_CMD_DMA_WRITE);

const _: () = {
    assert!(IOASID_MOCK_PAGE_REQUEST_PASID_VALID == bindings::IOMMU_FAULT_PAGE_REQUEST_PASID_VALID);
    assert!(IOASID_MOCK_PAGE_REQUEST_LAST_PAGE == bindings::IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE);
    assert!(IOASID_MOCK_PERM_READ == bindings::IOMMU_FAULT_PERM_READ);
    assert!(IOASID_MOCK_PERM_WRITE == bindings::IOMMU_FAULT_PERM_WRITE);
    assert!(IOASID_MOCK_PERM_EXEC == bindings::IOMMU_FAULT_PERM_EXEC);
    assert!(IOASID_MOCK_PERM_PRIV == bindings::IOMMU_FAULT_PERM_PRIV);
    assert!(IOASID_MOCK_RESP_SUCCESS == bindings::iommu_page_response_code_IOMMU_PAGE_RESP_SUCCESS);
    assert!(IOASID_MOCK_RESP_INVALID == bindings::iommu_page_response_code_IOMMU_PAGE_RESP_INVALID);
    assert!(IOASID_MOCK_RESP_FAILURE == bindings::iommu_page_response_code_IOMMU_PAGE_RESP_FAILURE);
};

/// Mock IDs, unique for the life of the kernel (they name the devices).
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// A mock device of a control file and its binding to an ioasid context.
struct Entry {
    id: u32,
    dev: DevRef,
    bound: Arc<BoundDevice>,
}

impl Entry {
    /// Hot-unplugs the device: unbinds it from its context, then removes it.
    fn unplug(self) {
        kapi::unbind(self.bound);
        self.dev.unregister();
    }
}

/// What one open of /dev/ioasid-mock owns.
#[pin_data(PinnedDrop)]
pub(crate) struct MockControl {
    #[pin]
    devices: Mutex<KVec<Entry>>,
}

#[vtable]
impl MiscDevice for MockControl {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        KBox::try_pin_init(
            try_pin_init!(MockControl {
                devices <- new_mutex!(KVec::new()),
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(me: Pin<&MockControl>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let me = me.get_ref();
        match cmd {
            DEVICE_ADD => me.device_add(UserArg::read(arg)?)?,
            DEVICE_DEL => me.device_del(UserArg::read(arg)?)?,
            CHECK_MAP => me.check_map(UserArg::read(arg)?)?,
            IOTLB => me.iotlb(UserArg::read(arg)?)?,
            PAGE_REQUEST => me.page_request(UserArg::read(arg)?)?,
            PAGE_RESPONSE => me.page_response(UserArg::read(arg)?)?,
            PASID_TRANSLATE => pasid_translate(UserArg::read(arg)?)?,
            DMA_WRITE => me.dma_write(UserArg::read(arg)?)?,
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

/// `IOASID_MOCK_PASID_TRANSLATE`: what a driver sees through `ioasid_pasid_translate`.
fn pasid_translate(mut arg: UserArg<ioasid_mock_pasid_translate>) -> Result {
    check_flags(0, 0, arg.__reserved)?;
    let file = LocalFile::fget(arg.ioasid_fd as u32)?;
    let mut ppasid = 0;
    // SAFETY: we hold a reference to `file` for the call; `ppasid` is a local.
    let ret =
        unsafe { kapi::ioasid_pasid_translate(file.as_ptr(), arg.ns_id, arg.vpasid, &mut ppasid) };
    if ret < 0 {
        return Err(Error::from_errno(ret));
    }
    arg.out_ppasid = ppasid;
    arg.write_back()
}

/// Reads `n` `struct ioasid_mock_range`s at user address `ptr`.
///
/// Errors: `EFAULT`, `EINVAL` a range that ends before it starts, `ENOMEM`.
fn read_ranges(ptr: usize, n: u32) -> Result<KVec<(u64, u64)>> {
    let mut ranges = KVec::with_capacity(n as usize, GFP_KERNEL)?;
    let len = n as usize * size_of::<ioasid_mock_range>();
    let mut reader = UserSlice::new(UserPtr::from_addr(ptr), len).reader();
    for _ in 0..n {
        let range = reader.read::<ioasid_mock_range>()?;
        if range.start > range.last {
            return Err(EINVAL);
        }
        ranges.push((range.start, range.last), GFP_KERNEL)?;
    }
    Ok(ranges)
}

impl MockControl {
    /// `IOASID_MOCK_DEVICE_DEL`: hot-unplugs a mock device.
    fn device_del(&self, arg: UserArg<ioasid_mock_device_del>) -> Result {
        let entry = {
            let mut devices = self.devices.lock();
            let i = devices
                .iter()
                .position(|e| e.id == arg.mock_id)
                .ok_or(ENOENT)?;
            devices.remove(i)?
        };
        entry.unplug();
        Ok(())
    }

    /// `IOASID_MOCK_IOTLB`: the IOTLB of a device's domain (RID or PASID).
    fn iotlb(&self, mut arg: UserArg<ioasid_mock_iotlb>) -> Result {
        check_flags(0, 0, arg.__reserved | arg.__reserved2)?;
        let dev = self.device(arg.mock_id)?;
        let ((entries, stale, invalidations), flags) = with_domain(
            &dev,
            pasid_of(arg.pasid),
            |d| {
                let mut flags = 0;
                if d.msi_cookie() {
                    flags |= IOASID_MOCK_IOTLB_MSI_COOKIE;
                }
                let table = d.table.lock();
                if table.coherent {
                    flags |= IOASID_MOCK_IOTLB_COHERENT;
                }
                (table.iotlb(), flags)
            },
            |n| {
                let (cached, invalidations) = n.iotlb();
                ((cached, 0, invalidations), 0)
            },
        )?;
        arg.out_entries = entries;
        arg.out_stale = stale;
        arg.out_invalidations = invalidations;
        arg.out_flags = flags;
        arg.write_back()
    }

    /// `IOASID_MOCK_PAGE_RESPONSE`: the oldest page response the device received.
    fn page_response(&self, mut arg: UserArg<ioasid_mock_page_response>) -> Result {
        check_flags(0, 0, arg.__reserved)?;
        let dev = self.device(arg.mock_id)?;
        let response = {
            let mut responses = dev.responses.lock();
            if responses.is_empty() {
                return Err(EAGAIN);
            }
            responses.remove(0)?
        };
        arg.out_pasid = response.pasid;
        arg.out_grpid = response.grpid;
        arg.out_code = response.code;
        arg.write_back()
    }
}

#[pinned_drop]
impl PinnedDrop for MockControl {
    fn drop(self: Pin<&mut Self>) {
        let mut devices = core::mem::take(&mut *self.devices.lock());
        // Unplugged last to first, in the opposite order of creation.
        while let Some(entry) = devices.pop() {
            entry.unplug();
        }
    }
}

/// The `pasid` field's meaning: `None` for requester-ID DMA.
fn pasid_of(pasid: u32) -> Option<u32> {
    (pasid != IOASID_MOCK_NO_PASID).then_some(pasid)
}

/// Runs `paging` or `nested` on the domain (`dev`, `pasid`) is attached to.
///
/// Errors: `ENODEV` nothing attached (blocked).
fn with_domain<R>(
    dev: &MockDev,
    pasid: Option<u32>,
    paging: impl FnOnce(&MockDomain) -> R,
    nested: impl FnOnce(&MockNested) -> R,
) -> Result<R> {
    let attached = dev.attached.lock();
    // A domain stays attached, so alive, while the device's lock is held: the core changes
    // attachments only through the mock's `attach_dev` and `set_dev_pasid`, which take it.
    Ok(match attached.domain(pasid).ok_or(ENODEV)? {
        // SAFETY: attached, so alive, as argued above.
        Slot::Paging(d) => paging(unsafe { d.as_ref() }),
        // SAFETY: attached, so alive, as argued above.
        Slot::Nested(d) => nested(unsafe { d.as_ref() }),
    })
}

/// What DMA from (`dev`, `pasid`) to `iova` reaches: `(phys, prot, entry size)`.
///
/// Errors: `ENODEV` nothing attached.
fn translate(dev: &MockDev, pasid: Option<u32>, iova: u64) -> Result<Option<Translation>> {
    with_domain(
        dev,
        pasid,
        |d| {
            d.table
                .lock()
                .lookup(iova)
                .map(|(start, pte)| (pte.phys + (iova - start), pte.prot, pte.size))
        },
        |n| n.translate(pasid, iova),
    )
}

impl MockControl {
    /// A counted reference to mock device `id` of this file.
    fn device(&self, id: u32) -> Result<DevRef> {
        Ok(Self::find(&self.devices.lock(), id)?.dev.clone())
    }

    /// The entry of mock device `id` (`ENOENT` none).
    fn find(devices: &[Entry], id: u32) -> Result<&Entry> {
        devices.iter().find(|e| e.id == id).ok_or(ENOENT)
    }

    /// `IOASID_MOCK_DEVICE_ADD`: hot-plugs a mock device and binds it to the context of
    /// the ioasid fd given, with the intent the flags ask for.
    fn device_add(&self, mut arg: UserArg<ioasid_mock_device_add>) -> Result {
        check_flags(
            arg.flags,
            IOASID_MOCK_DEVICE_PRI
                | IOASID_MOCK_DEVICE_INTENT_PASID
                | IOASID_MOCK_DEVICE_MSI_UNISOLATED
                | IOASID_MOCK_DEVICE_SW_MSI
                | IOASID_MOCK_DEVICE_NO_COHERENCY
                | IOASID_MOCK_DEVICE_NO_DIRTY,
            arg.__reserved,
        )?;
        if arg.pasid_width > IOASID_MOCK_PASID_WIDTH_MAX
            || arg.num_reserved > IOASID_MOCK_RESERVED_MAX
        {
            return Err(EINVAL);
        }
        let reserved = read_ranges(arg.reserved as usize, arg.num_reserved)?;
        let file = LocalFile::fget(arg.ioasid_fd as u32)?;

        let mut devices = self.devices.lock();
        devices.reserve(1, GFP_KERNEL)?;
        let group_with = match arg.group_with {
            0 => None,
            id => Some(Self::find(&devices, id)?.dev.clone()),
        };
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let dev = MockDev::create(MockProps {
            id,
            instance: arg.instance,
            pasid_width: arg.pasid_width,
            reserved,
            group_with,
            pri: arg.flags & IOASID_MOCK_DEVICE_PRI != 0,
            msi_isolated: arg.flags & IOASID_MOCK_DEVICE_MSI_UNISOLATED == 0,
            sw_msi: arg.flags & IOASID_MOCK_DEVICE_SW_MSI != 0,
            enforce_coherency: arg.flags & IOASID_MOCK_DEVICE_NO_COHERENCY == 0,
            dirty: arg.flags & IOASID_MOCK_DEVICE_NO_DIRTY == 0,
        })?;
        let intent = if arg.flags & IOASID_MOCK_DEVICE_INTENT_PASID != 0 {
            IOASID_DEVICE_INTENT_PASID
        } else {
            IOASID_DEVICE_INTENT_RID
        };
        // SAFETY: `file` is a file we hold a reference to; the device is probed, has no
        // driver to use the DMA API, and stays registered until `Entry::unplug` unbinds it.
        let bound = match unsafe { kapi::bind(file.as_ptr(), dev.raw(), intent) } {
            Ok(bound) => bound,
            Err(e) => {
                dev.unregister();
                return Err(e);
            }
        };
        arg.out_mock_id = id;
        arg.out_dev_id = bound.id();
        let entry = Entry { id, dev, bound };
        if let Err(e) = arg.write_back() {
            // The user never learnt the IDs.
            entry.unplug();
            return Err(e);
        }
        // Capacity was reserved above.
        let _ = devices.push_within_capacity(entry);
        Ok(())
    }

    fn page_request(&self, mut arg: UserArg<ioasid_mock_page_request>) -> Result {
        let known = IOASID_MOCK_PAGE_REQUEST_PASID_VALID | IOASID_MOCK_PAGE_REQUEST_LAST_PAGE;
        check_flags(arg.flags, known, arg.__reserved)?;
        let perms = IOASID_MOCK_PERM_READ
            | IOASID_MOCK_PERM_WRITE
            | IOASID_MOCK_PERM_EXEC
            | IOASID_MOCK_PERM_PRIV;
        let pasid_valid = arg.flags & IOASID_MOCK_PAGE_REQUEST_PASID_VALID != 0;
        if arg.perm == 0
            || arg.perm & !perms != 0
            || arg.grpid >= 512
            || arg.addr % PAGE_SIZE as u64 != 0
            || (pasid_valid && arg.pasid >= 1 << IOASID_MOCK_PASID_WIDTH_MAX)
        {
            return Err(EINVAL);
        }
        let dev = self.device(arg.mock_id)?;
        if !dev.pri {
            return Err(EOPNOTSUPP);
        }
        // The mock's flag and permission bits are the core's (checked below at build time).
        let mut evt = bindings::iopf_fault::default();
        evt.fault.type_ = bindings::iommu_fault_type_IOMMU_FAULT_PAGE_REQ;
        evt.fault.prm.flags = arg.flags;
        evt.fault.prm.pasid = if pasid_valid { arg.pasid } else { 0 };
        evt.fault.prm.grpid = arg.grpid;
        evt.fault.prm.perm = arg.perm;
        evt.fault.prm.addr = arg.addr;
        // The core requires of IOMMU drivers that reports do not race attachment changes
        // (the owner may free an old attach handle as soon as a change returns): like
        // hardware that drains its page requests, the report waits until no change of
        // (device, PASID) is half done and holds the attachment lock, which every attach,
        // detach and replace of the device takes.
        let pasid = pasid_valid.then_some(arg.pasid);
        let mut tries = 0;
        let _settled = loop {
            let attached = dev.attached.lock();
            // SAFETY: `dev` is live and probed.
            if unsafe { attached.settled(dev.raw(), pasid) } {
                break attached;
            }
            drop(attached);
            tries += 1;
            if tries > 5_000 {
                return Err(EBUSY);
            }
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(1));
        };
        // SAFETY: `dev` is a live, probed device in the mock's fault queue (it has PRI);
        // `evt` is a valid fault the core copies what it keeps of.
        let ret = unsafe { bindings::iommu_report_device_fault(dev.raw(), &mut evt) };
        arg.out_delivered = u32::from(ret == 0);
        arg.write_back()
    }

    /// `IOASID_MOCK_DMA_WRITE`: sets the dirty bits a device write of the range would.
    fn dma_write(&self, arg: UserArg<ioasid_mock_dma_write>) -> Result {
        let last = arg
            .iova
            .checked_add(arg.length.checked_sub(1).ok_or(EINVAL)?)
            .ok_or(EINVAL)?;
        let dev = self.device(arg.mock_id)?;
        with_domain(
            &dev,
            None,
            |d| d.table.lock().dma_write(arg.iova, last),
            |_| Err(ENODEV),
        )?
    }

    fn check_map(&self, mut arg: UserArg<ioasid_mock_check_map>) -> Result {
        let known = IOASID_MOCK_CHECK_UNMAPPED | IOASID_MOCK_CHECK_READ | IOASID_MOCK_CHECK_WRITE;
        check_flags(arg.flags, known, 0)?;
        let page = PAGE_SIZE as u64;
        if arg.length == 0 || arg.iova % page != 0 || arg.length % page != 0 || arg.uptr % page != 0
        {
            return Err(EINVAL);
        }
        arg.iova.checked_add(arg.length - 1).ok_or(EINVAL)?;
        let unmapped = arg.flags & IOASID_MOCK_CHECK_UNMAPPED != 0;
        let mut need = 0;
        if arg.flags & IOASID_MOCK_CHECK_READ != 0 {
            need |= bindings::IOMMU_READ;
        }
        if arg.flags & IOASID_MOCK_CHECK_WRITE != 0 {
            need |= bindings::IOMMU_WRITE;
        }
        let dev = self.device(arg.mock_id)?;
        let pasid = pasid_of(arg.pasid);
        let mut pgsizes = 0u64;
        let mut off = 0u64;
        while off < arg.length {
            // Asked before any lock is taken: it may fault the page in.
            let expect = if unmapped {
                None
            } else {
                Some(crate::pin::user_phys(
                    arg.uptr.checked_add(off).ok_or(EFAULT)?,
                )?)
            };
            let found = translate(&dev, pasid, arg.iova + off)?;
            match (expect, found) {
                (None, Some(_)) => return Err(EEXIST),
                (None, None) => {}
                (Some(_), None) => return Err(ENXIO),
                (Some(phys), Some((got, prot, size))) => {
                    if got != phys {
                        return Err(ENXIO);
                    }
                    if prot & need != need {
                        return Err(EACCES);
                    }
                    pgsizes |= size;
                }
            }
            off += page;
        }
        arg.out_pgsizes = pgsizes;
        arg.write_back()
    }
}
