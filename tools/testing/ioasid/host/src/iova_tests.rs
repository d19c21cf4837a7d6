// SPDX-License-Identifier: GPL-2.0

//! IOVA range checks and free-IOVA search.

use crate::iova::{check_range, find_free, gaps, intersects_any, RangeError};

/// Whether `a` and `b` (inclusive ranges) share at least one byte.
fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

const PAGE: u64 = 4096;
const ALL: &[(u64, u64)] = &[(0, u64::MAX)];

#[test]
fn range_checks() {
    assert_eq!(check_range(0, PAGE, PAGE), Ok(PAGE - 1));
    assert_eq!(check_range(PAGE, 0, PAGE), Err(RangeError::Invalid));
    assert_eq!(check_range(1, PAGE, PAGE), Err(RangeError::Invalid));
    assert_eq!(check_range(PAGE, PAGE + 1, PAGE), Err(RangeError::Invalid));
    // The very top page of the space is a valid range; one more byte overflows.
    assert_eq!(check_range(u64::MAX - PAGE + 1, PAGE, PAGE), Ok(u64::MAX));
    assert_eq!(check_range(u64::MAX - PAGE + 1, 2 * PAGE, PAGE), Err(RangeError::Overflow));
    assert_eq!(check_range(0, u64::MAX & !(PAGE - 1), PAGE), Ok((u64::MAX & !(PAGE - 1)) - 1));
}

#[test]
fn empty_space_gives_the_floor() {
    assert_eq!(find_free(ALL, || [].into_iter(), PAGE, PAGE, PAGE), Some(PAGE));
    assert_eq!(find_free(ALL, || [].into_iter(), 1, PAGE, PAGE), Some(PAGE));
}

#[test]
fn skips_used_ranges_and_keeps_alignment() {
    let used = [(PAGE, 3 * PAGE - 1), (4 * PAGE, 5 * PAGE - 1)];
    // A one-page hole at 3 pages.
    assert_eq!(find_free(ALL, || used.into_iter(), PAGE, PAGE, PAGE), Some(3 * PAGE));
    // Two pages do not fit in the hole.
    assert_eq!(find_free(ALL, || used.into_iter(), PAGE, 2 * PAGE, PAGE), Some(5 * PAGE));
    // 2 MiB alignment.
    let huge = 2 << 20;
    assert_eq!(find_free(ALL, || used.into_iter(), PAGE, huge, huge), Some(huge));
}

#[test]
fn respects_allowed_windows() {
    let allowed = [(0x1000, 0x2fff), (0x10000, 0x1ffff)];
    assert_eq!(find_free(&allowed, || [].into_iter(), 0, 0x2000, PAGE), Some(0x1000));
    assert_eq!(find_free(&allowed, || [].into_iter(), 0, 0x3000, PAGE), Some(0x10000));
    assert_eq!(find_free(&allowed, || [(0x1000, 0x1fff)].into_iter(), 0, 0x2000, PAGE), Some(0x10000));
    assert_eq!(find_free(&allowed, || [].into_iter(), 0, 0x20000, PAGE), None);
}

#[test]
fn full_space_and_top_of_space() {
    let top = u64::MAX - PAGE + 1;
    assert_eq!(find_free(ALL, || [(0, top - 1)].into_iter(), 0, PAGE, PAGE), Some(top));
    assert_eq!(find_free(ALL, || [(0, u64::MAX)].into_iter(), 0, PAGE, PAGE), None);
    assert_eq!(find_free(ALL, || [(0, top)].into_iter(), 0, PAGE, PAGE), None);
}

#[test]
fn found_range_never_overlaps_used_ones() {
    // Pseudo-random layouts: whatever is found fits and touches nothing.
    let mut seed = 0x1234_5678_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let mut used = Vec::new();
        let mut at = 0u64;
        for _ in 0..(next() % 8) {
            at += (next() % 16) * PAGE;
            let len = (1 + next() % 8) * PAGE;
            used.push((at, at + len - 1));
            at += len;
        }
        let len = (1 + next() % 6) * PAGE;
        let allowed = [(0, 64 * PAGE - 1)];
        match find_free(&allowed, || used.iter().copied(), 0, len, PAGE) {
            Some(iova) => {
                assert_eq!(iova % PAGE, 0);
                assert!(iova + len - 1 <= allowed[0].1);
                for &u in &used {
                    assert!(!overlaps((iova, iova + len - 1), u), "{iova:#x} {len:#x} {used:x?}");
                }
            }
            None => {
                // Then no aligned hole of that size exists anywhere in the window.
                let mut start = 0;
                while start + len - 1 <= allowed[0].1 {
                    assert!(used.iter().any(|&u| overlaps((start, start + len - 1), u)));
                    start += PAGE;
                }
            }
        }
    }
}

fn all_gaps(reserved: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut v = Vec::new();
    gaps(reserved, |g| v.push(g));
    v
}

#[test]
fn gaps_of_nothing_is_everything() {
    assert_eq!(all_gaps(&[]), vec![(0, u64::MAX)]);
}

#[test]
fn gaps_around_the_msi_window() {
    let msi = (0xfee0_0000, 0xfeef_ffff);
    assert_eq!(all_gaps(&[msi]), vec![(0, 0xfedf_ffff), (0xfef0_0000, u64::MAX)]);
}

#[test]
fn gaps_merge_overlapping_touching_and_nested_reservations() {
    let r = [(0x1000, 0x1fff), (0x1800, 0x2fff), (0x3000, 0x3fff), (0x3100, 0x31ff), (0x8000, 0x8fff)];
    assert_eq!(all_gaps(&r), vec![(0, 0xfff), (0x4000, 0x7fff), (0x9000, u64::MAX)]);
}

#[test]
fn gaps_at_both_ends_of_the_space() {
    assert_eq!(all_gaps(&[(0, 0xfff)]), vec![(0x1000, u64::MAX)]);
    assert_eq!(all_gaps(&[(0x1000, u64::MAX)]), vec![(0, 0xfff)]);
    assert_eq!(all_gaps(&[(0, u64::MAX)]), vec![]);
    assert_eq!(all_gaps(&[(0, 5), (0, u64::MAX), (7, 9)]), vec![]);
}

#[test]
fn gaps_and_reservations_partition_the_space() {
    let r = [(0x10, 0x1f), (0x30, 0x3f), (0x35, 0x50)];
    let g = all_gaps(&r);
    for probe in 0..0x80u64 {
        let reserved = intersects_any(&r, (probe, probe));
        let free = g.iter().any(|&(s, l)| s <= probe && probe <= l);
        assert!(reserved != free, "{probe:#x}");
    }
}
