// SPDX-License-Identifier: GPL-2.0

//! The argsz rules, exhaustively over small sizes.

use crate::argsz::{is_zero, plan, ArgszError, Plan, ARGSZ_MAX};

#[test]
fn below_first_version_is_too_small() {
    for size in 0..16 {
        assert_eq!(plan(size, 16, 24), Err(ArgszError::TooSmall), "argsz {size}");
    }
}

#[test]
fn older_struct_copies_what_it_has() {
    // A first version of 16 bytes, the kernel knows 24: an old user passes 16..24.
    for size in 16..=24 {
        assert_eq!(plan(size, 16, 24), Ok(Plan { copy: size, tail: 0 }));
    }
}

#[test]
fn newer_struct_has_a_tail_to_check() {
    for size in 25..200 {
        assert_eq!(plan(size, 16, 24), Ok(Plan { copy: 24, tail: size - 24 }));
    }
}

#[test]
fn max_is_inclusive() {
    assert_eq!(plan(ARGSZ_MAX, 16, 24), Ok(Plan { copy: 24, tail: ARGSZ_MAX - 24 }));
    assert_eq!(plan(ARGSZ_MAX + 1, 16, 24), Err(ArgszError::TooBig));
    assert_eq!(plan(u32::MAX as usize, 16, 24), Err(ArgszError::TooBig));
    assert_eq!(plan(usize::MAX, 16, 24), Err(ArgszError::TooBig));
}

#[test]
fn copy_plus_tail_is_always_argsz() {
    for size in 16..=ARGSZ_MAX {
        let p = plan(size, 16, 40).unwrap();
        assert_eq!(p.copy + p.tail, size);
        assert!(p.copy <= 40);
    }
}

#[test]
fn zero_check() {
    assert!(is_zero(&[]));
    assert!(is_zero(&[0; 64]));
    for i in 0..64 {
        let mut b = [0u8; 64];
        b[i] = 0x80;
        assert!(!is_zero(&b), "non-zero byte at {i} missed");
    }
}
