// SPDX-License-Identifier: GPL-2.0

//! The file operations of /dev/ioasid and its ioctl table.
//!
//! One row per ioctl, in command-number order: the number, the argument struct, the last
//! field of that struct's first version (which sets the smallest argsz accepted) and the
//! handler, which lives with its object. A row reads and size-checks the argument into a
//! [`UserArg`]; the handler validates its fields, does the work and writes the struct
//! back. Adding an ioctl: the header, one row here, one handler, tests.

use kernel::{
    fs::File,
    ioctl::{
        _IO,
        _IOC_NR, //
    },
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    prelude::*,
};

use crate::{
    abi::*,
    context::Context,
    device, fault,
    ioas::{
        self,
        nested, //
    },
    kapi, pasid,
    uapi::{
        self,
        check_flags,
        UserArg, //
    },
};

#[vtable]
impl MiscDevice for Context {
    type Ptr = Pin<KBox<Self>>;

    fn open(file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        kapi::record_fops(file);
        Context::new()
    }

    fn ioctl(me: Pin<&Context>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let op = OPS
            .get((_IOC_NR(cmd) as usize).wrapping_sub(IOASID_CMD_BASE as usize))
            .filter(|op| op.cmd == cmd)
            .ok_or(ENOTTY)?;
        (op.call)(me.get_ref(), arg)
    }
}

/// One row of the table.
struct Op {
    /// The ioctl's number.
    cmd: u32,
    /// Reads the argument at the user address given and runs the handler.
    call: fn(&Context, usize) -> Result<isize>,
}

/// The table: first the one ioctl with no argument struct (its handler returns the
/// ioctl's value), then one row per ioctl: number, argument struct, the last field of
/// the struct's first version, handler.
macro_rules! ioctl_table {
    (
        $nr0:ident => $handler0:path;
        $($nr:ident, $t:ident, $last:ident => $handler:path;)*
    ) => {
        uapi::extensible! { $($t, last $last;)* }

        const TABLE: [Op; 1 + [$(stringify!($nr)),*].len()] = [
            Op {
                cmd: _IO(IOASID_TYPE, $nr0),
                call: |ctx, _arg| $handler0(ctx),
            },
            $(Op {
                cmd: _IO(IOASID_TYPE, $nr),
                call: |ctx, arg| {
                    $handler(ctx, UserArg::<$t>::read(arg)?)?;
                    Ok(0)
                },
            },)*
        ];
    };
}

ioctl_table! {
    IOASID_CMD_GET_API_VERSION => get_api_version;
    IOASID_CMD_CHECK_EXTENSION, ioasid_check_extension, supported => check_extension;
    IOASID_CMD_DESTROY, ioasid_destroy, id => destroy;
    IOASID_CMD_IOAS_ALLOC, ioasid_ioas_alloc, __bindgen_anon_1 => ioas::ioctl::alloc;
    IOASID_CMD_IOAS_IOVA_RANGES, ioasid_ioas_iova_ranges, out_iova_alignment
        => ioas::ioctl::iova_ranges;
    IOASID_CMD_IOAS_MAP, ioasid_ioas_map, iova => ioas::ioctl::map;
    IOASID_CMD_IOAS_UNMAP, ioasid_ioas_unmap, length => ioas::ioctl::unmap;
    IOASID_CMD_DEVICE_ATTACH, ioasid_device_attach, ioas_id => device::ioctl::attach;
    IOASID_CMD_DEVICE_DETACH, ioasid_device_detach, dev_id => device::ioctl::detach;
    IOASID_CMD_DEVICE_GET_INFO, ioasid_device_info, reserved_iovas => device::ioctl::get_info;
    IOASID_CMD_PASID_NS_ALLOC, ioasid_pasid_ns_alloc, __reserved => pasid::ioctl::ns_alloc;
    IOASID_CMD_PASID_ALLOC, ioasid_pasid_alloc, out_pasid => pasid::ioctl::alloc;
    IOASID_CMD_PASID_FREE, ioasid_pasid_free, __reserved => pasid::ioctl::free;
    IOASID_CMD_DEVICE_PASID_ATTACH, ioasid_device_pasid_attach, ioas_id
        => device::ioctl::pasid_attach;
    IOASID_CMD_DEVICE_PASID_DETACH, ioasid_device_pasid_detach, pasid
        => device::ioctl::pasid_detach;
    IOASID_CMD_NESTED_ALLOC, ioasid_nested_alloc, __bindgen_anon_1 => nested::ioctl::alloc;
    IOASID_CMD_BIND_TABLE, ioasid_bind_table, pasid => nested::ioctl::bind_table;
    IOASID_CMD_UNBIND_TABLE, ioasid_unbind_table, pasid => nested::ioctl::unbind_table;
    IOASID_CMD_CACHE_INVALIDATE, ioasid_cache_invalidate, entries
        => nested::ioctl::cache_invalidate;
    IOASID_CMD_FAULT_QUEUE_ALLOC, ioasid_fault_queue_alloc, __reserved => fault::ioctl::alloc;
    IOASID_CMD_FAULT_QUEUE_STATUS, ioasid_fault_queue_status, out_overflows
        => fault::ioctl::status;
    IOASID_CMD_IOAS_COPY, ioasid_ioas_copy, dst_iova => ioas::ioctl::copy;
    IOASID_CMD_IOAS_MAP_FILE, ioasid_ioas_map_file, iova => ioas::ioctl::map_file;
    IOASID_CMD_CHANGE_PROCESS, ioasid_change_process, out_pages => change_process;
    IOASID_CMD_IOAS_SET_DIRTY_TRACKING, ioasid_ioas_set_dirty_tracking, __reserved
        => ioas::ioctl::set_dirty_tracking;
    IOASID_CMD_IOAS_GET_DIRTY_BITMAP, ioasid_ioas_get_dirty_bitmap, data
        => ioas::ioctl::get_dirty_bitmap;
}

static OPS: [Op; TABLE.len()] = TABLE;

// The row of command `IOASID_CMD_BASE + i` is at index `i`, and every row's number is
// ours, with no size encoded (size-first structs carry their size in argsz).
const _: () = {
    let mut i = 0;
    while i < TABLE.len() {
        assert!(TABLE[i].cmd == _IO(IOASID_TYPE, IOASID_CMD_BASE + i as u32));
        i += 1;
    }
};

/// `IOASID_GET_API_VERSION`.
fn get_api_version(_ctx: &Context) -> Result<isize> {
    Ok(uapi::API_VERSION as isize)
}

/// `IOASID_CHECK_EXTENSION`.
///
/// Errors: `EOPNOTSUPP` unknown flags.
fn check_extension(_ctx: &Context, mut arg: UserArg<ioasid_check_extension>) -> Result {
    check_flags(arg.flags, 0, 0)?;
    arg.supported = u32::from(uapi::extension_supported(arg.extension));
    arg.write_back()
}

/// `IOASID_CHANGE_PROCESS`: the caller becomes the process the context charges. The
/// change is made before the count is written back (a failed write-back leaves it
/// made; calling again is harmless).
///
/// Errors: `EOPNOTSUPP` unknown flags, `ENOMEM` the caller's limit.
fn change_process(ctx: &Context, mut arg: UserArg<ioasid_change_process>) -> Result {
    check_flags(arg.flags, 0, 0)?;
    arg.out_pages = ctx.change_process()? as u64;
    arg.write_back()
}

/// `IOASID_DESTROY`.
fn destroy(ctx: &Context, arg: UserArg<ioasid_destroy>) -> Result {
    ctx.destroy(arg.id)
}

#[kunit_tests(ioasid_ioctl)]
mod tests {
    use super::*;
    use crate::uapi::Extensible;
    use kernel::ioctl::{
        _IOC_NR,
        _IOC_SIZE,
        _IOC_TYPE, //
    };

    #[test]
    fn ioctl_numbers_are_ours_and_distinct() {
        for (i, op) in OPS.iter().enumerate() {
            assert_eq!(_IOC_TYPE(op.cmd), IOASID_TYPE);
            assert_eq!(_IOC_SIZE(op.cmd), 0);
            for other in &OPS[i + 1..] {
                assert_ne!(_IOC_NR(op.cmd), _IOC_NR(other.cmd));
            }
        }
    }

    #[test]
    fn first_versions_have_the_published_sizes() {
        // The sizes the header documents for each struct's first version: a change of
        // a row's last field that moves them breaks old binaries.
        assert_eq!(ioasid_check_extension::MIN_SIZE, 16);
        assert_eq!(ioasid_destroy::MIN_SIZE, 8);
        assert_eq!(ioasid_ioas_alloc::MIN_SIZE, 16);
        assert_eq!(ioasid_ioas_iova_ranges::MIN_SIZE, 32);
        assert_eq!(ioasid_ioas_map::MIN_SIZE, 40);
        assert_eq!(ioasid_ioas_unmap::MIN_SIZE, 24);
        assert_eq!(ioasid_device_attach::MIN_SIZE, 16);
        assert_eq!(ioasid_device_detach::MIN_SIZE, 8);
        assert_eq!(ioasid_device_info::MIN_SIZE, 56);
        assert_eq!(ioasid_pasid_ns_alloc::MIN_SIZE, 16);
        assert_eq!(ioasid_pasid_alloc::MIN_SIZE, 24);
        assert_eq!(ioasid_pasid_free::MIN_SIZE, 16);
        assert_eq!(ioasid_device_pasid_attach::MIN_SIZE, 24);
        assert_eq!(ioasid_device_pasid_detach::MIN_SIZE, 16);
        assert_eq!(ioasid_nested_alloc::MIN_SIZE, 24);
        assert_eq!(ioasid_bind_table::MIN_SIZE, 32);
        assert_eq!(ioasid_unbind_table::MIN_SIZE, 24);
        assert_eq!(ioasid_cache_invalidate::MIN_SIZE, 40);
        assert_eq!(ioasid_fault_queue_alloc::MIN_SIZE, 24);
        assert_eq!(ioasid_fault_queue_status::MIN_SIZE, 32);
        assert_eq!(ioasid_ioas_copy::MIN_SIZE, 40);
        assert_eq!(ioasid_ioas_map_file::MIN_SIZE, 40);
        assert_eq!(ioasid_change_process::MIN_SIZE, 16);
        assert_eq!(ioasid_ioas_set_dirty_tracking::MIN_SIZE, 16);
        assert_eq!(ioasid_ioas_get_dirty_bitmap::MIN_SIZE, 48);
    }
}
