// SPDX-License-Identifier: GPL-2.0

//! Every kind of memory, scanned through the device and through the C ioctl
//! with the same argument: return, errno, `walk_end` and every region must be
//! equal, and must be the regions the C semantics give, written out here.
//!
//! The running kernel's C semantics: `w()` is `PAGE_IS_WRITTEN` where a page
//! of a VMA not registered with userfaultfd is reported written (6.12), 0
//! where it is not (7.3); expected regions are merged as the C ioctl merges
//! them (equal categories, adjacent).

use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::layout::{
    clear_soft_dirty, memfd, require_hugetlb, require_swap, Area, Kind, HUGE, HUGE_PAGES,
};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::scanner::{
    arg, both, kernel_abi, written_in_plain_vma, Reply, Scanner,
};
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::uffd::Uffd;
use std::os::fd::AsFd;

const P: u64 = PAGE_IS_PRESENT;
const F: u64 = PAGE_IS_FILE;
const H: u64 = PAGE_IS_HUGE;
const Z: u64 = PAGE_IS_PFNZERO;
const S: u64 = PAGE_IS_SWAPPED;
const SD: u64 = PAGE_IS_SOFT_DIRTY;
/// Reported categories: all the running kernel's but soft-dirty (a new VMA
/// is soft-dirty as a whole) and wp-allowed (no userfaultfd here).
fn ret() -> u64 {
    kernel_abi().categories & !SD & !PAGE_IS_WPALLOWED
}

/// `PAGE_IS_WRITTEN` of a page without the uffd bit in a plain VMA (6.12), or 0 (7.3).
fn w() -> u64 {
    written_in_plain_vma()
}

/// A present page without the uffd bit in a plain VMA.
fn pw() -> u64 {
    P | w()
}

/// Regions in pages from an area's base: `(first, end, categories)`.
type Regions = Vec<(usize, usize, u64)>;

/// `regions` with adjacent ones of equal categories merged, as C reports them.
fn merged(regions: &[(usize, usize, u64)]) -> Regions {
    let mut out: Regions = Vec::new();
    for &r in regions {
        match out.last_mut() {
            Some(last) if last.1 == r.0 && last.2 == r.2 => last.1 = r.1,
            _ => out.push(r),
        }
    }
    out
}

fn relative(area: &Area, regions: &[PageRegion]) -> Regions {
    let page = |addr: u64| ((addr - area.base()) / PAGE as u64) as usize;
    regions
        .iter()
        .map(|r| (page(r.start), page(r.end), r.categories))
        .collect()
}

/// Scans pages `[from, to)` of `area` with `a`'s masks and `max_pages`
/// through both fds; both must find exactly `want`, and without `max_pages`
/// walk to the end. Returns the reply for further checks of `walk_end`.
fn expect(
    what: &str,
    area: &Area,
    (from, to): (usize, usize),
    a: PmScanArg,
    want: &[(usize, usize, u64)],
) -> Result<Reply, String> {
    let (dev, proc) = Scanner::pair()?;
    let a = PmScanArg {
        start: area.page(from),
        end: area.page(to),
        ..a
    };
    let (reply, regions) = both(&dev, &proc, a, 64).map_err(|e| format!("{what}: {e}"))?;
    let got = relative(area, &regions);
    let want = merged(want);
    ensure!(got == want, "{what}: got {got:x?}\n  want {want:x?}");
    ensure!(
        a.max_pages != 0 || reply.walk_end == a.end,
        "{what}: walk_end {:#x}, want the end {:#x}",
        reply.walk_end,
        a.end
    );
    Ok(reply)
}

/// All of `area`, every category but soft-dirty and wp-allowed.
fn all(what: &str, area: &Area, want: &[(usize, usize, u64)]) -> Outcome {
    expect(what, area, (0, area.pages()), arg(0, 0, 0, ret()), want)
        .map(drop)
        .map_err(Into::into)
}

/// Checks that a call limited by `max_pages` stopped at page `want`.
fn walk_end(what: &str, area: &Area, reply: Reply, want: usize) -> Outcome {
    ensure!(
        reply.walk_end == area.page(want),
        "{what}: walk_end at {:#x}, want page {want} ({:#x})",
        reply.walk_end,
        area.page(want)
    );
    Ok(())
}

pub fn anon_private() -> Outcome {
    let area = Area::of(Kind::Anon, 2 * HUGE_PAGES)?;
    area.write(0, 2)?;
    area.read(2, 1)?;
    area.write(3, 1)?;
    area.advise(3, 1, libc::MADV_DONTNEED)?;
    // An empty pte is "written" (not write-protected); the second 2 MiB has
    // no page table at all: a hole, which has no category.
    all(
        "anon",
        &area,
        &[
            (0, 2, pw()),
            (2, 3, pw() | Z),
            (3, 512, w()),
            (512, 1024, 0),
        ],
    )?;
    let present = arg(0, 0, P, P | Z);
    expect(
        "present",
        &area,
        (0, 1024),
        present,
        &[(0, 2, P), (2, 3, P | Z)],
    )?;
    let data = PmScanArg {
        category_inverted: Z,
        category_mask: P | Z,
        ..arg(0, 0, 0, P | Z)
    };
    expect(
        "present, not the zero page",
        &area,
        (0, 1024),
        data,
        &[(0, 2, P)],
    )?;
    let anyof = PmScanArg {
        category_anyof_mask: Z | S,
        ..arg(0, 0, 0, ret())
    };
    expect(
        "zero page or swapped",
        &area,
        (0, 1024),
        anyof,
        &[(2, 3, pw() | Z)],
    )?;
    // The PAGE_IS_WRITTEN fast path: every pte of the table, not the hole
    // (6.12); nothing is written in a VMA not registered for uffd-wp (7.3).
    let written = if w() != 0 {
        vec![(0, 512, w())]
    } else {
        vec![]
    };
    expect(
        "written, fast path",
        &area,
        (0, 1024),
        arg(0, 0, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN),
        &written,
    )
    .map(drop)
    .map_err(Into::into)
}

pub fn shmem() -> Outcome {
    require_swap()?;
    let area = Area::of(Kind::Shmem, 16)?;
    area.write(0, 1)?;
    area.read(1, 1)?;
    // Zapped: the page stays in the file, the pte is empty.
    area.write(2, 1)?;
    area.advise(2, 1, libc::MADV_DONTNEED)?;
    // Swapped out: a shmem page leaves an empty pte, not a swap entry.
    area.write(3, 2)?;
    area.page_out(3, 2)?;
    all("shmem", &area, &[(0, 2, pw() | F), (2, 16, w())])?;
    let absent = PmScanArg {
        category_inverted: P,
        ..arg(0, 0, P, ret())
    };
    expect("not present", &area, (0, 16), absent, &[(2, 16, w())])?;
    // A read fault maps its neighbours in the page cache too (fault-around):
    // page 2, zapped but still in the file, comes back; page 4, swapped out,
    // does not.
    area.read(3, 1)?;
    expect(
        "file pages, one swapped back in",
        &area,
        (0, 16),
        arg(0, 0, F, ret()),
        &[(0, 4, pw() | F)],
    )
    .map(drop)
    .map_err(Into::into)
}

pub fn memfd_private_and_shared() -> Outcome {
    let fd = memfd(0, 16 * PAGE)?;
    let mut shared = Area::new(16)?;
    shared.place_file(0, fd.as_fd(), 16, true)?;
    let mut private = Area::new(16)?;
    private.place_file(0, fd.as_fd(), 16, false)?;
    shared.write(0, 1)?;
    // The file's pages: page 0 written through the shared view, page 1 a hole
    // until this read fills it.
    private.read(0, 2)?;
    // A private, anonymous copy.
    private.write(2, 1)?;
    all("memfd shared", &shared, &[(0, 1, pw() | F), (1, 16, w())])?;
    all(
        "memfd private",
        &private,
        &[(0, 2, pw() | F), (2, 3, pw()), (3, 16, w())],
    )?;
    expect(
        "memfd private, anonymous",
        &private,
        (0, 16),
        PmScanArg {
            category_inverted: F,
            ..arg(0, 0, P | F, ret())
        },
        &[(2, 3, pw())],
    )
    .map(drop)
    .map_err(Into::into)
}

pub fn thp() -> Outcome {
    let area = Area::of(Kind::Thp, 4 * HUGE_PAGES)?;
    let huge = pw() | H;
    // Fully touched: one THP.
    area.write(0, 512)?;
    // Read: the huge zero page.
    area.read(512, 1)?;
    // A THP split by zapping its first pages: ptes, no longer huge (and not
    // to be collapsed again by khugepaged).
    area.write(1024, 512)?;
    area.advise(1024, 10, libc::MADV_DONTNEED)?;
    area.advise(1024, 512, libc::MADV_NOHUGEPAGE)?;
    // The fourth 2 MiB stays untouched: no page table, a hole.
    all(
        "THP",
        &area,
        &[
            (0, 512, huge),
            (512, 1024, huge | Z),
            (1024, 1034, w()),
            (1034, 1536, pw()),
            (1536, 2048, 0),
        ],
    )?;
    let a = arg(0, 0, 0, ret());
    expect("inside a THP", &area, (100, 300), a, &[(100, 300, huge)])?;
    expect(
        "across two THPs",
        &area,
        (500, 520),
        a,
        &[(500, 512, huge), (512, 520, huge | Z)],
    )?;
    let cut = PmScanArg { max_pages: 10, ..a };
    let r = expect(
        "max_pages in a THP",
        &area,
        (0, 2048),
        cut,
        &[(0, 10, huge)],
    )?;
    walk_end("max_pages in a THP", &area, r, 10)?;
    let cut = PmScanArg {
        max_pages: 600,
        ..a
    };
    let r = expect(
        "max_pages past a THP",
        &area,
        (0, 2048),
        cut,
        &[(0, 512, huge), (512, 600, huge | Z)],
    )?;
    walk_end("max_pages past a THP", &area, r, 600)
}

pub fn hugetlb_map() -> Outcome {
    require_hugetlb(3)?;
    let area = Area::of(Kind::Hugetlb, 3 * HUGE_PAGES)?;
    let huge = pw() | H;
    area.write(0, 1)?;
    // A private read allocates a (zeroed, anonymous) page too: no zero page.
    area.read(HUGE_PAGES, 1)?;
    // The third is an empty entry in an existing table: huge, nothing else.
    all("MAP_HUGETLB", &area, &[(0, 1024, huge), (1024, 1536, H)])?;
    let a = arg(0, 0, 0, ret());
    expect("inside a page", &area, (1, 3), a, &[(1, 3, huge)])?;
    let cut = PmScanArg {
        max_pages: 700,
        ..a
    };
    let r = expect("max_pages", &area, (0, 1536), cut, &[(0, 700, huge)])?;
    walk_end("max_pages", &area, r, 700)?;
    let absent = PmScanArg {
        category_inverted: P,
        ..arg(0, 0, P | H, ret())
    };
    expect("not present", &area, (0, 1536), absent, &[(1024, 1536, H)])
        .map(drop)
        .map_err(Into::into)
}

pub fn hugetlb_memfd() -> Outcome {
    require_hugetlb(2)?;
    let fd = memfd(libc::MFD_HUGETLB, 2 * HUGE)?;
    let mut shared = Area::new(2 * HUGE_PAGES)?;
    shared.place_file(0, fd.as_fd(), 2 * HUGE_PAGES, true)?;
    let mut private = Area::new(2 * HUGE_PAGES)?;
    private.place_file(0, fd.as_fd(), 2 * HUGE_PAGES, false)?;
    shared.write(0, 1)?;
    // The file's page, then a private copy of the file's hole.
    private.read(0, 1)?;
    private.write(HUGE_PAGES, 1)?;
    all(
        "MFD_HUGETLB shared",
        &shared,
        &[(0, 512, pw() | H | F), (512, 1024, H)],
    )?;
    all(
        "MFD_HUGETLB private",
        &private,
        &[(0, 512, pw() | H | F), (512, 1024, pw() | H)],
    )?;
    let a = arg(0, 0, 0, ret());
    expect("inside a page", &shared, (3, 7), a, &[(3, 7, pw() | H | F)])
        .map(drop)
        .map_err(Into::into)
}

pub fn hugetlb_shm() -> Outcome {
    require_hugetlb(1)?;
    let area = Area::of(Kind::HugetlbShm, 2 * HUGE_PAGES)?;
    area.write(0, 1)?;
    all(
        "SHM_HUGETLB",
        &area,
        &[(0, 512, pw() | H | F), (512, 1024, H)],
    )?;
    let a = arg(0, 0, F, ret());
    expect("inside a page", &area, (3, 7), a, &[(3, 7, pw() | H | F)])?;
    let cut = PmScanArg { max_pages: 1, ..a };
    let r = expect(
        "max_pages 1",
        &area,
        (0, 1024),
        cut,
        &[(0, 1, pw() | H | F)],
    )?;
    walk_end("max_pages 1", &area, r, 1)
}

pub fn swapped() -> Outcome {
    require_swap()?;
    let area = Area::of(Kind::Anon, 16)?;
    area.write(0, 16)?;
    area.page_out(0, 4)?;
    all("swapped", &area, &[(0, 4, S | w()), (4, 16, pw())])?;
    // Swapped back in by a read.
    area.read(1, 1)?;
    all(
        "one swapped in",
        &area,
        &[
            (0, 1, S | w()),
            (1, 2, pw()),
            (2, 4, S | w()),
            (4, 16, pw()),
        ],
    )?;
    expect(
        "swapped only",
        &area,
        (0, 16),
        arg(0, 0, S, S),
        &[(0, 1, S), (2, 4, S)],
    )?;
    let anyof = PmScanArg {
        category_anyof_mask: P | S,
        ..arg(0, 0, 0, P | S)
    };
    expect(
        "present or swapped",
        &area,
        (0, 16),
        anyof,
        &[(0, 1, S), (1, 2, P), (2, 4, S), (4, 16, P)],
    )
    .map(drop)
    .map_err(Into::into)
}

pub fn soft_dirty() -> Outcome {
    require_swap()?;
    let area = Area::of(Kind::Anon, 8)?;
    area.write(0, 8)?;
    clear_soft_dirty()?;
    area.write(2, 1)?;
    area.write(5, 2)?;
    // Swap entries keep the bit: page 6 soft-dirty, page 7 clean.
    area.page_out(6, 2)?;
    expect(
        "soft-dirty after clear_refs",
        &area,
        (0, 8),
        arg(0, 0, 0, SD | S),
        &[
            (0, 2, 0),
            (2, 3, SD),
            (3, 5, 0),
            (5, 6, SD),
            (6, 7, SD | S),
            (7, 8, S),
        ],
    )?;
    // A VMA mapped after clear_refs is soft-dirty as a whole, holes too.
    let fresh = Area::of(Kind::Anon, 8)?;
    fresh.write(0, 1)?;
    expect(
        "new VMA",
        &fresh,
        (0, 8),
        arg(0, 0, SD, SD | P),
        &[(0, 1, SD | P), (1, 8, SD)],
    )
    .map(drop)
    .map_err(Into::into)
}

pub fn prot_none_gaps_and_many_vmas() -> Outcome {
    let mut area = Area::of(Kind::Anon, 64)?;
    area.write(0, 64)?;
    // One VMA per page, alternately read-only: regions coalesce across them.
    for i in (0..64).step_by(2) {
        area.protect(i, 1, libc::PROT_READ)?;
    }
    let vmas = area.vmas()?;
    ensure!(vmas == 64, "{vmas} VMAs, want 64");
    // PROT_NONE pages stay present; a PROT_NONE empty pte is still written.
    area.protect(10, 2, libc::PROT_NONE)?;
    area.advise(40, 4, libc::MADV_DONTNEED)?;
    area.protect(40, 8, libc::PROT_NONE)?;
    // A hole without a VMA is never reported.
    area.unmap(20, 2)?;
    all(
        "gaps and VMAs",
        &area,
        &[(0, 20, pw()), (22, 40, pw()), (40, 44, w()), (44, 64, pw())],
    )?;
    // One region of room: the walk stops at the next region, past the hole.
    let (dev, proc) = Scanner::pair()?;
    let (r, v) = both(&dev, &proc, arg(area.base(), area.end(), 0, ret()), 1)?;
    ensure!(
        relative(&area, &v) == [(0, 20, pw())],
        "vec_len 1: {:x?}",
        relative(&area, &v)
    );
    walk_end("vec_len 1", &area, r, 22)
}

pub fn vec_len_and_max_pages() -> Outcome {
    let area = Area::of(Kind::Anon, 32)?;
    // Eight regions of three present pages: 0..3, 4..7, ..., 28..31.
    for i in (0..32).step_by(4) {
        area.write(i, 3)?;
    }
    let runs: Regions = (0..32).step_by(4).map(|i| (i, i + 3, P)).collect();
    let present = arg(0, 0, P, P);
    expect("eight regions", &area, (0, 32), present, &runs)?;
    // max_pages cuts the second region; the walk ends there.
    let cut = PmScanArg {
        max_pages: 5,
        ..present
    };
    let r = expect("max_pages 5", &area, (0, 32), cut, &[runs[0], (4, 6, P)])?;
    walk_end("max_pages 5", &area, r, 6)?;
    // Reaching max_pages exactly does not stop the walk: it stops at the next
    // page that matches, or at the end if none does.
    let cut = PmScanArg {
        max_pages: 6,
        ..present
    };
    let r = expect("max_pages 6", &area, (0, 32), cut, &runs[..2])?;
    walk_end("max_pages 6", &area, r, 8)?;
    let r = expect("max_pages 6, no more", &area, (0, 7), cut, &runs[..2])?;
    walk_end("max_pages 6, no more", &area, r, 7)?;
    // vec_len: the walk stops where the first region left out starts.
    let (dev, proc) = Scanner::pair()?;
    let all_of = arg(area.base(), area.end(), P, P);
    for n in [1, 2, 7, 8, 9] {
        let (r, v) = both(&dev, &proc, all_of, n)?;
        let kept = n.min(runs.len());
        ensure!(
            relative(&area, &v) == runs[..kept],
            "vec_len {n}: {:x?}",
            relative(&area, &v)
        );
        let stop = if n < runs.len() { 4 * n } else { 32 };
        walk_end(&format!("vec_len {n}"), &area, r, stop)?;
    }
    // No vector at all: nothing to report, max_pages moot, a walk to the end.
    let nothing = PmScanArg {
        max_pages: 1,
        ..all_of
    };
    let (mut for_dev, mut for_proc) = (nothing, nothing);
    let (d, p) = (dev.scan(&mut for_dev), proc.scan(&mut for_proc));
    ensure!(d == p, "no vector: device {d:?} != proc {p:?}");
    ensure!(
        p.ret == Ok(0) && p.walk_end == area.end(),
        "no vector: {p:?}"
    );
    Ok(())
}

/// Loops from `a.start` to `a.end` on `walk_end`, as callers do, with room
/// for `vec_len` regions per call and, with `buffer`, `max_pages` set to what
/// is left of it. Each call is compared between the fds; returns all the
/// regions found, adjacent ones merged, and the number of calls.
fn walk(
    area: &Area,
    a: PmScanArg,
    vec_len: usize,
    buffer: Option<usize>,
) -> Result<(Regions, usize), String> {
    let (dev, proc) = Scanner::pair()?;
    let mut found: Regions = Vec::new();
    let mut start = a.start;
    let mut calls = 0;
    let pages = |found: &Regions| found.iter().map(|r| r.1 - r.0).sum::<usize>();
    while start < a.end && buffer.is_none_or(|b| pages(&found) < b) {
        let a = PmScanArg {
            start,
            max_pages: buffer.map_or(0, |b| (b - pages(&found)) as u64),
            ..a
        };
        let (r, v) = both(&dev, &proc, a, vec_len).map_err(|e| format!("call {calls}: {e}"))?;
        r.ret.map_err(|e| format!("call {calls}: {e}"))?;
        ensure!(
            r.walk_end > start,
            "call {calls}: no progress from {start:#x}"
        );
        for region in relative(area, &v) {
            match found.last_mut() {
                Some(last) if last.1 == region.0 && last.2 == region.2 => last.1 = region.1,
                _ => found.push(region),
            }
        }
        start = r.walk_end;
        calls += 1;
    }
    Ok((found, calls))
}

/// CRIU's pre-dump over anon (written, zero, zapped, swapped, a hole), memfd
/// shared and private, shmem, an untouched reservation, a THP and hugetlb:
/// present or swapped pages that are neither the zero page nor file-backed.
pub fn criu_predump_loop() -> Outcome {
    require_swap()?;
    let mut area = Area::new(3 * HUGE_PAGES)?;
    area.place(0, Kind::Anon, 64)?;
    area.write(0, 32)?;
    area.read(32, 4)?;
    area.write(36, 12)?;
    area.advise(40, 4, libc::MADV_DONTNEED)?;
    area.page_out(8, 4)?;
    area.unmap(20, 2)?;
    area.place(64, Kind::MemfdShared, 16)?;
    area.write(64, 16)?;
    area.place(80, Kind::Shmem, 16)?;
    area.write(80, 8)?;
    area.place(96, Kind::MemfdPrivate, 16)?;
    area.read(96, 4)?;
    area.write(100, 4)?;
    area.place(512, Kind::Thp, 512)?;
    area.write(512, 512)?;
    area.place(1024, Kind::Hugetlb, 512)?;
    area.write(1024, 1)?;
    let criu = PmScanArg {
        category_inverted: Z | F,
        category_mask: Z | F,
        category_anyof_mask: P | S,
        ..arg(area.base(), area.end(), 0, P | S | SD)
    };
    let want = [
        (0, 8, P | SD),
        (8, 12, S | SD),
        (12, 20, P | SD),
        (22, 32, P | SD),
        (36, 40, P | SD),
        (44, 48, P | SD),
        (100, 104, P | SD),
        (512, 1536, P | SD),
    ];
    for vec_len in [1, 2, 4] {
        let (found, calls) = walk(&area, criu, vec_len, None)?;
        ensure!(
            found == want,
            "vec_len {vec_len}: found {found:x?}\n  want {want:x?}"
        );
        ensure!(calls > 1, "vec_len {vec_len}: {calls} call");
    }
    Ok(())
}

/// Wine's GetWriteWatch without write-protection: the written pages, in
/// vectors of `vec_len` and at most the caller's `buffer` of pages, over 342
/// two-page regions between holes. As Wine, in a VMA registered for uffd-wp
/// (7.3 reports written pages only there), with nothing protected yet.
pub fn wine_get_loop() -> Outcome {
    let mut area = Area::of(Kind::Anon, 1024)?;
    let uffd = Uffd::wp_async()?;
    uffd.register_wp(area.base(), area.end() - area.base())?;
    area.write(0, 1024)?;
    for i in (2..1024).step_by(3) {
        area.unmap(i, 1)?;
    }
    let written: Vec<usize> = (0..1024).filter(|i| i % 3 != 2).collect();
    let watch = arg(area.base(), area.end(), PAGE_IS_WRITTEN, PAGE_IS_WRITTEN);
    for (vec_len, buffer, want_calls) in [(256, 600, 2), (256, 4096, 2), (4, 40, 5)] {
        let (found, calls) = walk(&area, watch, vec_len, Some(buffer))?;
        let pages: Vec<usize> = found.iter().flat_map(|r| r.0..r.1).collect();
        let want = &written[..buffer.min(written.len())];
        ensure!(
            pages == want,
            "vec_len {vec_len}, buffer {buffer}: found {found:x?}"
        );
        ensure!(
            calls == want_calls,
            "vec_len {vec_len}, buffer {buffer}: {calls} calls, want {want_calls}"
        );
    }
    Ok(())
}

/// More regions than C's 512-entry bounce buffer: the walk runs in chunks.
pub fn more_regions_than_the_bounce_buffer() -> Outcome {
    let area = Area::of(Kind::Anon, 2048)?;
    for i in (0..2048).step_by(2) {
        area.write(i, 1)?;
    }
    let (dev, proc) = Scanner::pair()?;
    let present = arg(area.base(), area.end(), P, P);
    let odd: Regions = (0..2048).step_by(2).map(|i| (i, i + 1, P)).collect();
    // 1024 regions in a call, and every page (2048 regions, alternating).
    for (what, a, want) in [
        ("present", present, 1024),
        ("every page", arg(area.base(), area.end(), 0, P), 2048),
    ] {
        let (r, v) = both(&dev, &proc, a, 4096).map_err(|e| format!("{what}: {e}"))?;
        ensure!(v.len() == want, "{what}: {} regions, want {want}", v.len());
        println!(
            "# {what}: {want} regions in one call; walk_end at page {} of {}",
            (r.walk_end - area.base()) / PAGE as u64,
            area.pages()
        );
    }
    // Stopped by vec_len in the second chunk.
    let (r, v) = both(&dev, &proc, present, 600)?;
    ensure!(
        relative(&area, &v) == odd[..600],
        "vec_len 600: {} regions",
        v.len()
    );
    walk_end("vec_len 600", &area, r, 1200)
}
