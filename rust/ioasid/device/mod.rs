// SPDX-License-Identifier: GPL-2.0

//! Devices bound to a context by their driver, and the in-kernel API that binds them.
//!
//! A driver that hands its device to userspace binds it through the C API of
//! [`crate::kapi`] (`ioasid_bind_device()`, `include/linux/ioasid.h`) with the user's
//! /dev/ioasid file and its declared DMA intent. The binding, a [`BoundDevice`], holds the
//! device's DMA ownership and a reference to the file, so the context outlives it; the
//! context's object table gives it an ID, through which userspace attaches the device to
//! address spaces. A software-table device (no IOMMU of its own) reaches its address
//! space through the CPU ([`BoundDevice::access_rw`]).

use kernel::{
    fs::File,
    new_mutex,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
};

use crate::{
    abi::{
        ioasid_device_info,
        ioasid_table_vtd,
        IOASID_DEVICE_INFO_DIRTY_TRACKING,
        IOASID_DEVICE_INFO_ENFORCE_COHERENCY,
        IOASID_DEVICE_INFO_GROUP_SHARED,
        IOASID_DEVICE_INFO_MSI_ISOLATED,
        IOASID_DEVICE_INFO_NESTING,
        IOASID_DEVICE_INFO_SW_NESTING,
        IOASID_DEVICE_INTENT_PASID,
        IOASID_FORMAT_AMD_V2,
        IOASID_FORMAT_ARM_SMMUV3,
        IOASID_FORMAT_MOCK,
        IOASID_FORMAT_MOCK_PASID_TABLE,
        IOASID_FORMAT_VTD_S1, //
    },
    fault::Route,
    ioas::nested::{
        soft,
        Child, //
    },
    ioas::CpuUse,
    ioas::Ioas,
    ioas::NestParent,
    ioas::ShadowUse,
    iommu::{
        AttachHandle,
        DmaOwner,
        Domain, //
    },
    pasid::{
        PasidNs,
        PasidUse, //
    },
};

pub(crate) mod ioctl;

/// How a bound device reaches its address space.
pub(crate) enum DeviceAccess {
    /// DMA through its own IOMMU, whose DMA ownership we hold.
    Iommu(DmaOwner),
    /// Through the CPU (`ioasid_access_rw`): a software-table device, no IOMMU involved.
    Cpu,
}

/// An attached device's address space.
enum Attachment {
    /// Through its IOMMU: the address space and the domain the device is attached to.
    Iommu(Arc<Ioas>, Arc<Domain>),
    /// A software-table device, counted in the address space while attached.
    Cpu(CpuUse),
}

/// A (device, PASID) attachment.
struct PasidAttachment {
    /// The PASID (its namespace, name and physical PASID), used while attached.
    pasid: PasidUse,
    ioas: Arc<Ioas>,
    domain: Arc<Domain>,
    /// The core's handle of the attachment; freed only after it ended.
    handle: AttachHandle<Route>,
}

impl PasidAttachment {
    /// Detaches it in the IOMMU and drops its counts.
    fn detach(self, owner: &DmaOwner) {
        self.domain.detach_pasid(owner, self.pasid.ppasid());
        self.forget(owner);
    }

    /// Drops its counts, once the IOMMU no longer uses it (detached or replaced).
    fn forget(self, owner: &DmaOwner) {
        self.handle.abort_faults();
        self.ioas
            .forget_pasid(owner, self.pasid.ppasid(), &self.domain);
    }
}

/// How a bound table reaches the parent (stage 2).
enum Stage2 {
    /// In the IOMMU: a nested domain on a nest-parent domain of the parent.
    Hw { _use: NestParent },
    /// In software: a shadow of the composed translation, registered in the parent.
    Soft { _use: ShadowUse },
}

/// A user-owned stage-1 table bound for the device (`pasid`: for one of its PASIDs).
///
/// Its fields drop in order: the handle (the attachment has ended), the domain, then the
/// nest-parent use or shadow registration under it, then the PASID.
struct TableBinding {
    child: Arc<Child>,
    handle: AttachHandle<Route>,
    /// The nested (or shadow) domain, and what it uses of the parent (held for its
    /// drop).
    domain: Arc<Domain>,
    _parent: Stage2,
    pasid: Option<PasidUse>,
}

impl TableBinding {
    /// Whether it is the one for (`ns`, `vpasid`), or the RID one for `None`.
    fn is(&self, pasid: Option<(&Arc<PasidNs>, u32)>) -> bool {
        match (&self.pasid, pasid) {
            (None, None) => true,
            (Some(u), Some((ns, v))) => u.is(ns, v),
            _ => false,
        }
    }

    /// Unbinds it: the device stops using the table, then the domains go.
    fn detach(self, owner: &DmaOwner) {
        match &self.pasid {
            None => self.domain.detach_with_handle(owner),
            Some(u) => self.domain.detach_pasid(owner, u.ppasid()),
        }
        self.handle.abort_faults();
        self.child.remove(&self.domain);
    }
}

/// What a binding's lock protects.
struct State {
    /// How the device reaches memory; `None` once its driver unbound it, so that an
    /// ioctl still holding the binding can do nothing more with the device.
    access: Option<DeviceAccess>,
    /// The address space and domain the device is attached to, if any.
    attached: Option<Attachment>,
    /// Its (device, PASID) attachments.
    pasids: KVec<PasidAttachment>,
    /// User-owned tables bound for it.
    tables: KVec<TableBinding>,
}

impl State {
    /// Whether a table may be bound for the RID (`pasid` `None`) or for the PASID:
    /// `EBUSY` it has an attachment or a bound table already; for a PASID, the errors
    /// of [`State::pasid_owner`].
    fn table_slot_free(&self, intent: u32, pasid: Option<(&Arc<PasidNs>, u32)>) -> Result {
        let busy = match pasid {
            None => self.attached.is_some(),
            Some((ns, v)) => {
                self.pasid_owner(intent)?;
                self.pasids.iter().any(|a| a.pasid.is(ns, v))
            }
        };
        if busy || self.tables.iter().any(|t| t.is(pasid)) {
            return Err(EBUSY);
        }
        Ok(())
    }

    /// The DMA ownership of a device that can do PASID-tagged DMA and whose driver
    /// declared `intent`.
    ///
    /// Errors: `ENOENT` unbound, `EOPNOTSUPP` no IOMMU of its own or no PASID capability,
    /// `EPERM` its driver did not declare the PASID intent.
    fn pasid_owner(&self, intent: u32) -> Result<&DmaOwner> {
        match self.access.as_ref().ok_or(ENOENT)? {
            DeviceAccess::Iommu(owner) if owner.max_pasids() > 0 => {
                if intent != IOASID_DEVICE_INTENT_PASID {
                    return Err(EPERM);
                }
                Ok(owner)
            }
            _ => Err(EOPNOTSUPP),
        }
    }
}

/// A device bound to a context.
#[pin_data]
pub(crate) struct BoundDevice {
    /// The /dev/ioasid file: keeps the context alive while the device is bound.
    file: ARef<File>,
    /// The device's ID in the context.
    id: u32,
    /// The DMA intent its driver declared.
    intent: u32,
    #[pin]
    state: Mutex<State>,
}

impl BoundDevice {
    /// A binding of a device that reaches memory through `access`, under `id`.
    pub(crate) fn new(
        access: DeviceAccess,
        file: ARef<File>,
        id: u32,
        intent: u32,
    ) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                file,
                id,
                intent,
                state <- new_mutex!(State {
                    access: Some(access),
                    attached: None,
                    pasids: KVec::new(),
                    tables: KVec::new(),
                }),
            }),
            GFP_KERNEL,
        )
    }

    /// Attaches the device to `ioas`.
    ///
    /// Errors: `EBUSY` already attached, `ENOENT` unbound meanwhile, and those of
    /// [`Ioas::attach`].
    pub(crate) fn attach(&self, ioas: Arc<Ioas>) -> Result {
        let mut state = self.state.lock();
        if state.attached.is_some() || state.tables.iter().any(|t| t.is(None)) {
            return Err(EBUSY);
        }
        let attachment = match state.access.as_ref().ok_or(ENOENT)? {
            DeviceAccess::Iommu(owner) => {
                let domain = ioas.attach(owner, self.id)?;
                Attachment::Iommu(ioas, domain)
            }
            DeviceAccess::Cpu => Attachment::Cpu(ioas.attach_cpu()?),
        };
        state.attached = Some(attachment);
        Ok(())
    }

    /// Detaches the device from its address space.
    ///
    /// Errors: `ENOENT` unbound meanwhile, `EINVAL` not attached.
    pub(crate) fn detach(&self) -> Result {
        let mut state = self.state.lock();
        state.access.as_ref().ok_or(ENOENT)?;
        Self::detach_locked(&mut state)
    }

    fn detach_locked(state: &mut State) -> Result {
        let attachment = state.attached.take().ok_or(EINVAL)?;
        if let (Some(DeviceAccess::Iommu(owner)), Attachment::Iommu(ioas, domain)) =
            (&state.access, attachment)
        {
            ioas.detach(owner, &domain);
        }
        Ok(())
    }

    /// Attaches (device, the PASID named `vpasid` in `ns`) to `ioas`; `replace`: move it
    /// there if it is attached elsewhere.
    ///
    /// Errors: `EOPNOTSUPP` no PASID capability, `ENOENT` unbound or no such PASID,
    /// `EBUSY` attached and not `replace`, `EINVAL` the physical PASID is beyond the
    /// device's width, and those of [`Ioas::attach_pasid`].
    pub(crate) fn attach_pasid(
        &self,
        ns: Arc<PasidNs>,
        vpasid: u32,
        ioas: Arc<Ioas>,
        replace: bool,
    ) -> Result {
        let mut state = self.state.lock();
        state.pasid_owner(self.intent)?;
        if state.tables.iter().any(|t| t.is(Some((&ns, vpasid)))) {
            return Err(EBUSY);
        }
        let old = state.pasids.iter().position(|a| a.pasid.is(&ns, vpasid));
        if let Some(i) = old {
            if !replace {
                return Err(EBUSY);
            }
            if Arc::ptr_eq(&state.pasids[i].ioas, &ioas) {
                return Ok(());
            }
        }
        state.pasids.reserve(1, GFP_KERNEL)?;
        let owner = state.pasid_owner(self.intent)?;
        let handle = AttachHandle::new(ioas.fault_route(self.id), owner)?;
        let pasid = ns.get(vpasid)?;
        if pasid.ppasid() >= owner.max_pasids() {
            return Err(EINVAL);
        }
        let domain = ioas.attach_pasid(owner, pasid.ppasid(), &handle, old.is_some())?;
        if let Some(i) = old {
            // Replaced in the IOMMU already: only the counts of the old one go.
            let old = state.pasids.remove(i).map_err(|_| EINVAL)?;
            if let Some(DeviceAccess::Iommu(owner)) = &state.access {
                old.forget(owner);
            }
        }
        let new = PasidAttachment {
            pasid,
            ioas,
            domain,
            handle,
        };
        // Room was reserved above.
        let _ = state.pasids.push_within_capacity(new);
        Ok(())
    }

    /// Binds a user-owned table of `child`'s format, described at user address `uptr`
    /// (`len` bytes, read by the IOMMU driver; `vtd`: its VT-d member, already read), for
    /// the device's requester-ID DMA or for (device, the PASID named `vpasid` in `ns`):
    /// in the IOMMU if it takes the format, else in software if ioasid walks it.
    ///
    /// Errors: `EOPNOTSUPP` no IOMMU of its own, no PASID capability, or neither the
    /// IOMMU nor ioasid takes such a table; `EBUSY` attached or bound already; `ENOENT`
    /// unbound or no such PASID; `EINVAL` the physical PASID is beyond the device's width;
    /// those of [`soft::Table::vtd`] and [`Ioas::shadow`]; and the driver's.
    pub(crate) fn bind_table(
        &self,
        child: Arc<Child>,
        pasid: Option<(Arc<PasidNs>, u32)>,
        (uptr, len): (usize, usize),
        vtd: ioasid_table_vtd,
    ) -> Result {
        let mut state = self.state.lock();
        state.tables.reserve(1, GFP_KERNEL)?;
        let owner = match state.access.as_ref().ok_or(ENOENT)? {
            DeviceAccess::Iommu(owner) => owner,
            DeviceAccess::Cpu => return Err(EOPNOTSUPP),
        };
        state.table_slot_free(self.intent, pasid.as_ref().map(|(ns, v)| (ns, *v)))?;
        let handle = AttachHandle::new(child.fault_route(self.id), owner)?;
        let pasid = pasid.map(|(ns, v)| ns.get(v)).transpose()?;
        let ppasid = pasid.as_ref().map(|u| u.ppasid());
        if ppasid.is_some_and(|p| p >= owner.max_pasids()) {
            return Err(EINVAL);
        }
        let (domain, parent, shadow) = if nesting_formats(owner)?.contains(&child.format()) {
            let parent = child.parent().nest_parent(owner, ppasid.unwrap_or(0))?;
            let domain = Domain::new_nested(owner, parent.domain(), child.format(), uptr, len)?;
            if handle.route().is_some() {
                domain.route_faults::<Route>();
            }
            (
                Arc::new(domain, GFP_KERNEL)?,
                Stage2::Hw { _use: parent },
                None,
            )
        } else if soft::walks(child.format()) {
            let table = soft::Table::vtd(&vtd)?;
            let shadow = child
                .parent()
                .shadow(owner, table, handle.route().is_some())?;
            let s = shadow.shadow().clone();
            (s.domain().clone(), Stage2::Soft { _use: shadow }, Some(s))
        } else {
            return Err(EOPNOTSUPP);
        };
        match ppasid {
            None => domain.attach_with_handle(owner, &handle)?,
            Some(p) => domain.attach_pasid(owner, p, &handle, false)?,
        }
        let key = pasid.as_ref().map(|u| (PasidNs::key(u.ns()), u.vpasid()));
        let binding = TableBinding {
            child: child.clone(),
            handle,
            domain: domain.clone(),
            _parent: parent,
            pasid,
        };
        if let Err(e) = child.add(self.id, key, domain, shadow) {
            binding.detach(owner);
            return Err(e);
        }
        // Room was reserved above.
        let _ = state.tables.push_within_capacity(binding);
        Ok(())
    }

    /// Unbinds the table bound for the device (`pasid`: for that PASID) in `child`.
    ///
    /// Errors: `EINVAL` none is bound, `ENOENT` unbound device.
    pub(crate) fn unbind_table(
        &self,
        child: &Arc<Child>,
        pasid: Option<(&Arc<PasidNs>, u32)>,
    ) -> Result {
        let mut state = self.state.lock();
        state.access.as_ref().ok_or(ENOENT)?;
        let i = state
            .tables
            .iter()
            .position(|t| Arc::ptr_eq(&t.child, child) && t.is(pasid))
            .ok_or(EINVAL)?;
        let table = state.tables.remove(i).map_err(|_| EINVAL)?;
        let Some(DeviceAccess::Iommu(owner)) = &state.access else {
            return Err(ENOENT);
        };
        table.detach(owner);
        Ok(())
    }

    /// Allocates a PASID in `ns` that fits this device (see [`PasidNs::alloc`]).
    ///
    /// Errors: `ENOENT` unbound, `EOPNOTSUPP` no IOMMU of its own or no PASID capability,
    /// and those of [`PasidNs::alloc`].
    pub(crate) fn alloc_pasid(&self, ns: &PasidNs, vpasid: Option<u32>, quota: u32) -> Result<u32> {
        let state = self.state.lock();
        ns.alloc(state.pasid_owner(self.intent)?, vpasid, quota)
    }

    /// Detaches (device, the PASID named `vpasid` in `ns`).
    ///
    /// Errors: `EINVAL` not attached, `ENOENT` unbound.
    pub(crate) fn detach_pasid(&self, ns: &Arc<PasidNs>, vpasid: u32) -> Result {
        let mut state = self.state.lock();
        state.access.as_ref().ok_or(ENOENT)?;
        let i = state
            .pasids
            .iter()
            .position(|a| a.pasid.is(ns, vpasid))
            .ok_or(EINVAL)?;
        let attachment = state.pasids.remove(i).map_err(|_| EINVAL)?;
        let Some(DeviceAccess::Iommu(owner)) = &state.access else {
            return Err(ENOENT);
        };
        attachment.detach(owner);
        Ok(())
    }

    /// Detaches the device and gives up its DMA ownership, now, while its driver still
    /// holds it; whatever still refers to this binding finds it unbound.
    pub(crate) fn unbind(&self) {
        let mut state = self.state.lock();
        let _ = Self::detach_locked(&mut state);
        let pasids = core::mem::take(&mut state.pasids);
        let tables = core::mem::take(&mut state.tables);
        if let Some(DeviceAccess::Iommu(owner)) = &state.access {
            for attachment in pasids {
                attachment.detach(owner);
            }
            for table in tables {
                table.detach(owner);
            }
        }
        state.access = None;
    }

    /// Copies between `buf` and the attached address space (software-table devices).
    ///
    /// Errors: `EINVAL` not a software-table device or not attached, and those of
    /// [`Ioas::access`].
    pub(crate) fn access_rw(&self, iova: u64, buf: &mut [u8], write: bool) -> Result {
        // The device's lock keeps it attached for the copy.
        let state = self.state.lock();
        if !matches!(state.access, Some(DeviceAccess::Cpu)) {
            return Err(EINVAL);
        }
        match state.attached.as_ref().ok_or(EINVAL)? {
            Attachment::Cpu(cpu) => cpu.ioas().access(iova, buf, write),
            Attachment::Iommu(..) => Err(EINVAL),
        }
    }

    /// The device's ID in its context.
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// Fills the `out_` fields of `IOASID_DEVICE_GET_INFO` and returns the device's
    /// reserved IOVA ranges and the nesting formats its IOMMU takes.
    pub(crate) fn info(
        &self,
        info: &mut ioasid_device_info,
    ) -> Result<(KVec<(u64, u64)>, KVec<u32>, KVec<u32>)> {
        info.out_intent = self.intent;
        let state = self.state.lock();
        let DeviceAccess::Iommu(owner) = state.access.as_ref().ok_or(ENOENT)? else {
            // Through the CPU: any page-aligned IOVA, no group, no reservation; its
            // writes are tracked by the address space itself.
            info.out_flags = IOASID_DEVICE_INFO_DIRTY_TRACKING;
            info.out_group_devices = 0;
            info.out_pgsize_bitmap = kernel::page::PAGE_SIZE as u64;
            info.out_addr_width = 64;
            info.out_pasid_width = 0;
            return Ok((KVec::new(), KVec::new(), KVec::new()));
        };
        let iommu = owner.iommu_info();
        info.out_flags = 0;
        if iommu.group_devices > 1 {
            info.out_flags |= IOASID_DEVICE_INFO_GROUP_SHARED;
        }
        if owner.msi_isolated() {
            info.out_flags |= IOASID_DEVICE_INFO_MSI_ISOLATED;
        }
        if owner.can_track_dirty() {
            info.out_flags |= IOASID_DEVICE_INFO_DIRTY_TRACKING;
        }
        if owner.can_enforce_coherency() {
            info.out_flags |= IOASID_DEVICE_INFO_ENFORCE_COHERENCY;
        }
        let formats = nesting_formats(owner)?;
        if !formats.is_empty() {
            info.out_flags |= IOASID_DEVICE_INFO_NESTING;
        }
        let sw_formats = software_formats(&formats)?;
        if !sw_formats.is_empty() {
            info.out_flags |= IOASID_DEVICE_INFO_SW_NESTING;
        }
        info.out_group_devices = iommu.group_devices;
        info.out_pgsize_bitmap = iommu.pgsize_bitmap;
        info.out_addr_width = 64 - iommu.aperture_end.leading_zeros();
        info.out_pasid_width = iommu.max_pasids.checked_ilog2().unwrap_or(0);
        Ok((owner.reserved_regions()?, formats, sw_formats))
    }

    /// The /dev/ioasid file of the context the device is bound to.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }
}

/// The user-owned table formats the IOMMU of the device `owner` holds takes.
fn nesting_formats(owner: &DmaOwner) -> Result<KVec<u32>> {
    let (hw, ecap) = owner.nesting_hw()?;
    let offered: &[u32] = match hw {
        MOCK_HW_INFO_TYPE => &[IOASID_FORMAT_MOCK, IOASID_FORMAT_MOCK_PASID_TABLE],
        // VT-d offers nesting when its extended capabilities say NEST (bit 26).
        HW_INFO_VTD if ecap & (1 << 26) != 0 => &[IOASID_FORMAT_VTD_S1],
        HW_INFO_SMMUV3 => &[IOASID_FORMAT_ARM_SMMUV3],
        HW_INFO_AMD => &[IOASID_FORMAT_AMD_V2],
        _ => &[],
    };
    let mut formats = KVec::with_capacity(offered.len(), GFP_KERNEL)?;
    for &f in offered {
        formats.push(f, GFP_KERNEL)?;
    }
    Ok(formats)
}

/// The table formats ioasid walks in software for a device whose IOMMU takes `hw`: those
/// it walks that the IOMMU does not take itself.
fn software_formats(hw: &[u32]) -> Result<KVec<u32>> {
    let mut formats = KVec::new();
    for f in [IOASID_FORMAT_VTD_S1] {
        if soft::walks(f) && !hw.contains(&f) {
            formats.push(f, GFP_KERNEL)?;
        }
    }
    Ok(formats)
}

/// The `hw_info` type the mock IOMMU (`CONFIG_IOASID_TEST`) reports, by which its
/// nesting format is told from those of real IOMMUs.
pub(crate) const MOCK_HW_INFO_TYPE: u32 = 0xbb00;

/// `enum iommu_hw_info_type` values of the IOMMU drivers with nesting.
const HW_INFO_VTD: u32 = 1;
const HW_INFO_SMMUV3: u32 = 2;
const HW_INFO_AMD: u32 = 4;
