// SPDX-License-Identifier: GPL-2.0

//! Linux 7.3's categories as their users meet them: `PAGE_IS_ACCESSED` in
//! VMAs registered for userfaultfd read-write protection (RWP) in async
//! mode, and `PAGE_IS_GUARD` on guard regions (`MADV_GUARD_INSTALL`). Every
//! scan goes through the device and the C ioctl, which must agree, and is
//! checked against the regions the steps made. A kernel without the
//! facility skips the test.

use nix::errno::Errno;
use pagemap_scan_selftests::layout::{Area, Kind, HUGE_PAGES};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::scanner::{arg, both, kernel_abi, Scanner};
use pagemap_scan_selftests::tap::{Failure, Outcome};
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::uffd::Uffd;
use pagemap_scan_selftests::{ensure, skip};

const MADV_GUARD_INSTALL: i32 = 102;
const MADV_GUARD_REMOVE: i32 = 103;

const A: u64 = PAGE_IS_ACCESSED;
const G: u64 = PAGE_IS_GUARD;
const P: u64 = PAGE_IS_PRESENT;
const S: u64 = PAGE_IS_SWAPPED;
const W: u64 = PAGE_IS_WRITTEN;
/// What the tests look at: not soft-dirty (a new VMA is), nor WPALLOWED.
const SHOWN: u64 = A | G | P | S | W | PAGE_IS_FILE;

/// Regions of an area as (first page, end page, categories).
type Want<'a> = &'a [(usize, usize, u64)];

/// `a` on pages `[first, end)` of `area` through both scanners: they must
/// agree, and equal `want`.
fn expect(
    what: &str,
    area: &Area,
    (first, end): (usize, usize),
    a: PmScanArg,
    want: Want,
) -> Outcome {
    let (dev, proc) = Scanner::pair()?;
    let a = PmScanArg {
        start: area.page(first),
        end: area.page(end),
        ..a
    };
    let (reply, got) = both(&dev, &proc, a, 256).map_err(|e| format!("{what}: {e}"))?;
    ensure!(reply.ret.is_ok(), "{what}: {reply:?}");
    let got: Vec<_> = got
        .iter()
        .map(|r| (index(area, r.start), index(area, r.end), r.categories))
        .collect();
    ensure!(got == want, "{what}: got {got:x?}\n  want {want:x?}");
    Ok(())
}

/// Page index of address `addr` of `area`.
fn index(area: &Area, addr: u64) -> usize {
    (addr - area.base()) as usize / PAGE
}

/// Reads a byte of page `i`: an access, as a load of the program's would be.
fn read(area: &Area, i: usize) {
    // SAFETY: page `i` of the area is mapped readable by the test.
    unsafe { (area.page(i) as *const u8).read_volatile() };
}

/// Writes a byte of page `i`.
fn write(area: &Area, i: usize) {
    // SAFETY: page `i` of the area is mapped writable by the test.
    unsafe { (area.page(i) as *mut u8).write_volatile(1) };
}

/// The hot set: pages `ACCESSED`, reported as `ACCESSED | PRESENT` (an
/// accessed page is never empty) and nothing else of [`SHOWN`].
fn hot(what: &str, area: &Area, want: &[(usize, usize)]) -> Outcome {
    let want: Vec<_> = want
        .iter()
        .map(|&(first, end)| (first, end, A | P))
        .collect();
    let a = arg(0, 0, A, A | P | W | G | S);
    expect(what, area, (0, area.pages()), a, &want)
}

/// A registered RWP area of `kind`, written all over, then protected.
fn tracked(kind: Kind, pages: usize) -> Result<(Area, Uffd), Failure> {
    let uffd = Uffd::rwp_async()?;
    let area = Area::of(kind, pages)?;
    area.write(0, pages)?;
    uffd.register_rwp(area.base(), area.end() - area.base())?;
    uffd.rwprotect(area.base(), area.end() - area.base(), true)?;
    Ok((area, uffd))
}

/// Anonymous 4 KiB pages: reads and writes, the zero page, pages first
/// populated after the protection; protected again; protection lifted.
pub fn anon() -> Outcome {
    let uffd = Uffd::rwp_async()?;
    let area = Area::of(Kind::Anon, 64)?;
    let len = area.end() - area.base();
    // 0..48 written, 48..56 the zero page, 56..64 never touched.
    area.write(0, 48)?;
    area.read(48, 8)?;
    uffd.register_rwp(area.base(), len)?;
    // Registered but not protected yet: every populated page is accessed.
    hot("registered", &area, &[(0, 56)])?;
    uffd.rwprotect(area.base(), len, true)?;
    hot("protected", &area, &[])?;
    // Protected ptes stay present (PROT_NONE with the uffd bit).
    let all = arg(0, 0, 0, SHOWN | PAGE_IS_PFNZERO);
    let z = PAGE_IS_PFNZERO;
    expect(
        "protected, all",
        &area,
        (0, 64),
        all,
        &[(0, 48, P), (48, 56, P | z), (56, 64, 0)],
    )?;

    read(&area, 1);
    read(&area, 2);
    read(&area, 3);
    write(&area, 10);
    (20..24).for_each(|i| write(&area, i));
    read(&area, 50);
    hot("touched", &area, &[(1, 4), (10, 11), (20, 24), (50, 51)])?;
    // The cold set: present and not accessed.
    let cold = PmScanArg {
        category_inverted: A,
        ..arg(0, 0, A | P, A | P)
    };
    let cold_want = [(0, 1, P), (4, 10, P), (11, 20, P), (24, 50, P), (51, 56, P)];
    expect("cold", &area, (0, 64), cold, &cold_want)?;

    uffd.rwprotect(area.base(), len, true)?;
    hot("protected again", &area, &[])?;
    write(&area, 5);
    read(&area, 40);
    // Populated after the protection: comes in unprotected.
    write(&area, 60);
    hot("touched others", &area, &[(5, 6), (40, 41), (60, 61)])?;

    uffd.rwprotect(area.base(), len, false)?;
    hot("protection lifted", &area, &[(0, 56), (60, 61)])
}

/// RWP on another kind, in 4 units of `unit` pages, touched one
/// byte in the middle of a unit: a THP pmd or hugetlb page is protected and
/// resolved whole.
fn kind_rounds(kind: Kind, unit: usize) -> Outcome {
    let (area, uffd) = tracked(kind, 4 * unit)?;
    let len = area.end() - area.base();
    let at = |u: usize| u * unit + unit / 2;
    let units = |us: &[usize]| -> Vec<(usize, usize)> {
        us.iter().map(|&u| (u * unit, (u + 1) * unit)).collect()
    };
    let huge = if unit > 1 { PAGE_IS_HUGE } else { 0 };
    let present = arg(0, 0, P | huge, P | huge);
    expect(
        "populated",
        &area,
        (0, 4 * unit),
        present,
        &[(0, 4 * unit, P | huge)],
    )?;
    hot("protected", &area, &[])?;
    read(&area, at(1));
    write(&area, at(3));
    hot("touched", &area, &units(&[1, 3]))?;
    uffd.rwprotect(area.base(), len, true)?;
    hot("protected again", &area, &[])?;
    write(&area, at(2));
    hot("touched another", &area, &units(&[2]))?;
    // Still huge: protection and resolution left the pmds whole.
    expect(
        "still",
        &area,
        (0, 4 * unit),
        present,
        &[(0, 4 * unit, P | huge)],
    )?;
    Ok(())
}

pub fn shmem() -> Outcome {
    kind_rounds(Kind::Shmem, 1)
}

pub fn thp() -> Outcome {
    kind_rounds(Kind::Thp, HUGE_PAGES)
}

pub fn hugetlb() -> Outcome {
    kind_rounds(Kind::Hugetlb, HUGE_PAGES)
}

/// An RWP VMA is not a write-protected one: no page is written,
/// `PM_SCAN_WP_MATCHING` skips it (touching no protection), and
/// `PM_SCAN_CHECK_WPASYNC` refuses it.
pub fn not_write_protect() -> Outcome {
    let (area, _uffd) = tracked(Kind::Anon, 16)?;
    write(&area, 3);
    ensure!(
        kernel_abi().unprotected(false, true) & W == 0,
        "the C ABI probed reports WRITTEN outside uffd-wp VMAs, yet RWP exists"
    );
    expect("written", &area, (0, 16), arg(0, 0, W, W), &[])?;
    let all = arg(0, 0, 0, SHOWN);
    expect(
        "all",
        &area,
        (0, 16),
        all,
        &[(0, 3, P), (3, 4, P | A), (4, 16, P)],
    )?;
    crate::writeprotect::not_wp_allowed(area.base(), area.end(), &[W, A, 0], SHOWN)?;
    hot("after WP_MATCHING", &area, &[(3, 4)])
}

/// `madvise(advice)` of pages `[first, first + pages)`, with its errno.
fn madvise(area: &Area, first: usize, pages: usize, advice: i32) -> Result<(), Errno> {
    let len = pages * PAGE;
    // SAFETY: advice on a range of the test's own area, which nothing refers into.
    Errno::result(unsafe { libc::madvise(area.page(first) as *mut libc::c_void, len, advice) })
        .map(drop)
}

/// Pages 0..8 written, guards on 2..4 (populated: zapped) and 10..12
/// (never populated).
fn guarded(area: &Area) -> Outcome {
    area.write(0, 8)?;
    for first in [2, 10] {
        madvise(area, first, 2, MADV_GUARD_INSTALL)
            .map_err(|e| format!("MADV_GUARD_INSTALL: {e}"))?;
    }
    Ok(())
}

/// Guard regions: GUARD and SWAPPED markers, FILE never, WRITTEN in a
/// uffd-wp VMA until write-protected, ACCESSED always in an RWP VMA (a
/// marker is never protected); removed, nothing.
pub fn guard() -> Outcome {
    let probe = Area::of(Kind::Anon, 1)?;
    match madvise(&probe, 0, 1, MADV_GUARD_INSTALL) {
        Ok(()) => {}
        Err(Errno::EINVAL) => {
            skip!("MADV_GUARD_INSTALL: EINVAL (no guard regions before Linux 6.13)")
        }
        Err(e) => return Err(format!("MADV_GUARD_INSTALL: {e}").into()),
    }
    if kernel_abi().categories & G == 0 {
        skip!("guard regions, but the C ioctl has no PAGE_IS_GUARD (before Linux 7.3)");
    }
    let guards = arg(0, 0, G, SHOWN);
    let sg = S | G;
    let plain = Area::of(Kind::Anon, 16)?;
    guarded(&plain)?;
    expect(
        "guards",
        &plain,
        (0, 16),
        guards,
        &[(2, 4, sg), (10, 12, sg)],
    )?;
    let all = arg(0, 0, 0, SHOWN);
    let want = [
        (0, 2, P),
        (2, 4, sg),
        (4, 8, P),
        (8, 10, 0),
        (10, 12, sg),
        (12, 16, 0),
    ];
    expect("plain VMA", &plain, (0, 16), all, &want)?;
    // FILE is asked about: the else-if of C leaves it off markers.
    let file = arg(0, 0, G | PAGE_IS_FILE, SHOWN);
    expect("guard and file", &plain, (0, 16), file, &[])?;

    // uffd-wp async: a marker has no uffd bit, so it is written until
    // WP_MATCHING ORs the bit onto it; through the device on one area and
    // the C ioctl on its twin, then compared.
    let uffd = Uffd::wp_async()?;
    let twins = [Area::of(Kind::Anon, 16)?, Area::of(Kind::Anon, 16)?];
    let (dev, proc) = Scanner::pair()?;
    for (area, scanner) in twins.iter().zip([&dev, &proc]) {
        uffd.register_wp(area.base(), area.end() - area.base())?;
        guarded(area)?;
        let want = [
            (0, 2, P | W),
            (2, 4, sg | W),
            (4, 8, P | W),
            (8, 10, W),
            (10, 12, sg | W),
            (12, 16, W),
        ];
        expect("uffd-wp VMA", area, (0, 16), all, &want)?;
        let mut reset = PmScanArg {
            flags: PM_SCAN_WP_MATCHING,
            ..arg(area.base(), area.end(), W, W)
        };
        let r = scanner.scan(&mut reset);
        ensure!(r.ret == Ok(0), "{}: WP_MATCHING: {r:?}", scanner.name);
        // Empty ptes became uffd-wp markers: swapped, not written.
        let want = [
            (0, 2, P),
            (2, 4, sg),
            (4, 8, P),
            (8, 10, S),
            (10, 12, sg),
            (12, 16, S),
        ];
        expect(
            &format!("uffd-wp VMA protected by {}", scanner.name),
            area,
            (0, 16),
            all,
            &want,
        )?;
    }

    let (rwp, uffd) = (Area::of(Kind::Anon, 16)?, Uffd::rwp_async()?);
    uffd.register_rwp(rwp.base(), rwp.end() - rwp.base())?;
    guarded(&rwp)?;
    uffd.rwprotect(rwp.base(), rwp.end() - rwp.base(), true)?;
    let want = [
        (0, 2, P),
        (2, 4, sg | A),
        (4, 8, P),
        (8, 10, 0),
        (10, 12, sg | A),
        (12, 16, 0),
    ];
    expect("RWP VMA", &rwp, (0, 16), all, &want)?;

    for area in [&plain, &twins[0], &twins[1], &rwp] {
        for first in [2, 10] {
            madvise(area, first, 2, MADV_GUARD_REMOVE)
                .map_err(|e| format!("MADV_GUARD_REMOVE: {e}"))?;
        }
        expect("removed", area, (0, 16), guards, &[])?;
    }
    Ok(())
}
