// SPDX-License-Identifier: GPL-2.0

//! /dev/ioasid: device-centric I/O address spaces for userspace VMMs and drivers.
//!
//! Each open of the misc device is a [`context::Context`]: it owns every object the user
//! creates through that file descriptor and releases all of them when the file is closed.
//! The uAPI is declared in `include/uapi/linux/ioasid.h`; [`uapi`] turns user bytes into
//! validated Rust values before any handler acts on them.
//!
//! See `Documentation/userspace-api/ioasid.rst`.

use kernel::{
    miscdevice::{
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    prelude::*,
};

mod abi;
mod anon_file;
mod context;
mod device;
mod eventfd;
mod fault;
mod few;
mod ioas;
mod ioctl;
mod iommu;
mod kapi;
#[cfg(CONFIG_IOASID_TEST)]
mod mock;
#[cfg(not(CONFIG_IOASID_TEST))]
mod mock {
    //! Without `CONFIG_IOASID_TEST` there is no mock IOMMU: nothing is registered.

    /// Nothing.
    pub(crate) struct Mock;

    impl Mock {
        pub(crate) fn register() -> kernel::error::Result<Self> {
            Ok(Mock)
        }
    }
}
mod object;
mod pasid;
mod pin;
mod uapi;

module! {
    type: IoasidModule,
    name: "ioasid",
    authors: ["The ioasid developers"],
    description: "/dev/ioasid: device-centric I/O address spaces",
    license: "GPL",
    params: {
        pasid_quota: u32 {
            default: 1024,
            description: "PASIDs one user (user ID) may hold at once, over all contexts",
        },
    },
}

/// The PASID quota per user (`ioasid.pasid_quota=` on the kernel command line).
pub(crate) fn pasid_quota() -> u32 {
    module_parameters::pasid_quota.value()
}

/// The module: it owns the registration of /dev/ioasid.
#[pin_data]
struct IoasidModule {
    #[pin]
    _miscdev: MiscDeviceRegistration<context::Context>,
    /// The mock IOMMU of the tests (`CONFIG_IOASID_TEST`), after /dev/ioasid.
    #[pin]
    _mock: mock::Mock,
}

impl kernel::InPlaceModule for IoasidModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // SAFETY: module init runs once, before /dev/ioasid (the table's only user)
        // exists.
        unsafe { pasid::init_quota() };
        try_pin_init!(Self {
            _miscdev <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"ioasid" }),
            _mock <- mock::Mock::register(),
        })
    }
}
