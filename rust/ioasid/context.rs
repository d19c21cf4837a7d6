// SPDX-License-Identifier: GPL-2.0

//! The per-open context of /dev/ioasid.
//!
//! A [`Context`] is created by `open()` and owned by the file; it is dropped, with
//! everything it holds, when the last reference to the file goes away. Ioctls are decoded
//! by [`crate::uapi`] and then handled here.

use kernel::{
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    prelude::*,
};

use crate::uapi::{
    self,
    Request, //
};

/// What one open file of /dev/ioasid owns.
pub(crate) struct Context;

#[vtable]
impl MiscDevice for Context {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        Ok(KBox::new(Context, GFP_KERNEL)?)
    }

    fn ioctl(me: &Context, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        me.ioctl(uapi::Request::parse(cmd, arg)?)
    }
}

impl Context {
    fn ioctl(&self, request: Request) -> Result<isize> {
        match request {
            Request::GetApiVersion => Ok(uapi::API_VERSION as isize),
            Request::CheckExtension(mut arg) => {
                arg.supported = u32::from(uapi::extension_supported(arg.extension));
                arg.write_back()?;
                Ok(0)
            }
        }
    }
}
