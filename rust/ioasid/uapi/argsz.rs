// SPDX-License-Identifier: GPL-2.0

//! Sizing rules for the size-first ("argsz") extensible structs of the uAPI.
//!
//! Pure logic with no kernel dependency, so it is unit-tested on the host as well as by
//! KUnit. The rules (Documentation/userspace-api/ioasid.rst, "Extensible structs"):
//!
//! - `argsz` below the struct's first published size is refused (`TooSmall`, EINVAL);
//! - `argsz` above [`ARGSZ_MAX`] is refused (`TooBig`, E2BIG);
//! - bytes up to `min(argsz, known size)` are copied, the rest of the kernel's struct
//!   reads as zero (an older, shorter userspace struct);
//! - bytes past the known size (a newer, longer userspace struct) must all be zero, else
//!   E2BIG: the kernel never ignores a request it does not understand.

/// Largest `argsz` accepted for any struct (`IOASID_ARGSZ_MAX` in the header).
pub(crate) const ARGSZ_MAX: usize = 4096;

/// Why an `argsz` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArgszError {
    /// Smaller than the first published version of the struct.
    TooSmall,
    /// Larger than [`ARGSZ_MAX`], or a tail byte that is not zero.
    TooBig,
}

/// How to copy a struct of a given `argsz` in and out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Bytes to copy between the user's struct and the kernel's.
    pub(crate) copy: usize,
    /// Bytes past the kernel's struct that must be checked for zero.
    pub(crate) tail: usize,
}

/// Plans the copy of a struct whose first version is `min` bytes and whose current
/// version, as this kernel knows it, is `known` bytes.
pub(crate) fn plan(argsz: usize, min: usize, known: usize) -> Result<Plan, ArgszError> {
    if argsz < min {
        return Err(ArgszError::TooSmall);
    }
    if argsz > ARGSZ_MAX {
        return Err(ArgszError::TooBig);
    }
    Ok(Plan {
        copy: argsz.min(known),
        tail: argsz.saturating_sub(known),
    })
}

/// Whether every byte is zero.
pub(crate) fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}
