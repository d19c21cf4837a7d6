// SPDX-License-Identifier: GPL-2.0

//! IOVA arithmetic for address spaces: range checks and the choice of a free IOVA.
//!
//! Pure logic with no kernel dependency, so it is unit-tested on the host as well as used
//! by the driver. Ranges are inclusive (`start..=last`) so that the top of a 64-bit space
//! can be described without overflow.

/// Why an IOVA range is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeError {
    /// A zero length, or a start or length that is not a multiple of the alignment.
    Invalid,
    /// `start + length` does not fit in 64 bits.
    Overflow,
}

/// Checks that `start` and `length` describe a non-empty, aligned range and returns its
/// last byte. `align` is a power of two.
pub(crate) fn check_range(start: u64, length: u64, align: u64) -> Result<u64, RangeError> {
    if length == 0 || (start | length) & (align - 1) != 0 {
        return Err(RangeError::Invalid);
    }
    start.checked_add(length - 1).ok_or(RangeError::Overflow)
}

/// Rounds `value` up to a multiple of `align` (a power of two), if that fits in 64 bits.
fn align_up(value: u64, align: u64) -> Option<u64> {
    value.checked_add(align - 1).map(|v| v & !(align - 1))
}

/// Finds the lowest IOVA, at or above `floor`, where `length` bytes aligned to `align`
/// fit inside one of the `allowed` ranges without touching any of the `used` ranges.
///
/// Both lists are inclusive ranges sorted by start; `used()` yields a fresh iteration of
/// the used ranges, which do not overlap each other. `length` is a non-zero multiple of
/// `align`.
pub(crate) fn find_free<F, I>(
    allowed: &[(u64, u64)],
    used: F,
    floor: u64,
    length: u64,
    align: u64,
) -> Option<u64>
where
    F: Fn() -> I,
    I: Iterator<Item = (u64, u64)>,
{
    for &(lo, hi) in allowed {
        let mut candidate = align_up(lo.max(floor), align)?;
        for (ustart, ulast) in used() {
            if ulast < candidate {
                continue;
            }
            let last = candidate.checked_add(length - 1)?;
            if last > hi {
                break;
            }
            if ustart > last {
                return Some(candidate);
            }
            candidate = align_up(ulast.checked_add(1)?, align)?;
        }
        if let Some(last) = candidate.checked_add(length - 1) {
            if candidate <= hi && last <= hi {
                return Some(candidate);
            }
        }
    }
    None
}

/// Whether `range` shares a byte with any of `ranges` (inclusive ranges, any order).
pub(crate) fn intersects_any(ranges: &[(u64, u64)], range: (u64, u64)) -> bool {
    ranges.iter().any(|&(s, l)| s <= range.1 && range.0 <= l)
}

/// Emits, in increasing order, the ranges of the 64-bit space that none of `reserved`
/// covers. `reserved` is sorted by start; its ranges may overlap or touch.
pub(crate) fn gaps(reserved: &[(u64, u64)], mut emit: impl FnMut((u64, u64))) {
    // The first address not yet known to be reserved or emitted; `None` past the top.
    let mut next = Some(0u64);
    for &(start, last) in reserved {
        let Some(from) = next else { return };
        if start > from {
            emit((from, start - 1));
        }
        if last >= from {
            next = last.checked_add(1);
        }
    }
    if let Some(from) = next {
        emit((from, u64::MAX));
    }
}
