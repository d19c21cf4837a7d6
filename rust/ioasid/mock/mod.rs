// SPDX-License-Identifier: GPL-2.0

//! The mock IOMMU (`CONFIG_IOASID_TEST` only): what emulated hardware cannot show.
//!
//! A real IOMMU driver, registered with the kernel's IOMMU core for the devices of its own
//! bus ("ioasid_mock"), so that /dev/ioasid reaches it only through the host IOMMU API,
//! exactly as it reaches intel-iommu: [`hw`] holds the bus, the `iommu_ops` and the mock
//! devices, [`domain`] the blocking and paging domains with inspectable page tables and
//! IOTLB state, and [`control`] the test-only /dev/ioasid-mock through which kselftests
//! create devices and look at what is mapped.
//!
//! See "The mock IOMMU" in Documentation/driver-api/ioasid.rst.

use kernel::{
    miscdevice::{
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    prelude::*,
};

mod control;
mod domain;
mod hw;
mod nested;

/// Definitions generated from `rust/ioasid/mock/ioasid_mock.h`.
#[allow(
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    unreachable_pub,
    clippy::all
)]
mod raw {
    use pin_init::MaybeZeroable;
    include!(concat!(
        env!("OBJTREE"),
        "/drivers/ioasid/rust/ioasid/mock/ioasid_mock_generated.rs"
    ));
}

/// The mock IOMMU and its control device, registered for the life of the module.
#[pin_data]
pub(crate) struct Mock {
    /// Dropped first: no device can be created once the registration goes.
    #[pin]
    control: MiscDeviceRegistration<control::MockControl>,
    _hw: hw::Registration,
    /// Dropped last: mock devices may refer to it until the bus is gone.
    _msi: hw::MsiDomain,
}

impl Mock {
    /// Registers the mock bus and IOMMU, then /dev/ioasid-mock.
    pub(crate) fn register() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _msi: hw::MsiDomain::new()?,
            _hw: hw::Registration::new()?,
            control <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"ioasid-mock" }),
        })
    }
}
