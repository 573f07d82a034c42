// SPDX-License-Identifier: GPL-2.0

//! Every kind of memory, scanned through the device and through the C ioctl:
//! both must return the same regions, and those must be the regions expected
//! from the kernel's semantics (checked here page by page).

use nix::errno::Errno;
use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::mem::{Mapping, PAGE};
use pagemap_scan_selftests::scanner::{arg, Scanner};
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uapi::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const P: u64 = PAGE as u64;
const HUGE_PAGES: u64 = 512;
const PW: u64 = PAGE_IS_PRESENT | PAGE_IS_WRITTEN;
/// Reported categories: all but soft-dirty (new VMAs are soft-dirty whole)
/// and wp-allowed (no userfaultfd here).
const RETURN: u64 = PM_SCAN_CATEGORIES & !PAGE_IS_SOFT_DIRTY & !PAGE_IS_WPALLOWED;

/// Expected regions, in pages from the scanned base: `(first, end, categories)`.
type Expect<'a> = &'a [(u64, u64, u64)];

/// Scans `[base + from, base + to)` pages with `a`'s masks through both fds;
/// both must return `want`.
fn expect(what: &str, base: u64, (from, to): (u64, u64), a: PmScanArg, want: Expect) -> Outcome {
    let (dev, proc) = Scanner::pair()?;
    let a = PmScanArg {
        start: base + from * P,
        end: base + to * P,
        ..a
    };
    let (d, dv) = dev.regions(a, 64);
    let (p, pv) = proc.regions(a, 64);
    ensure!(
        d == p && dv == pv,
        "{what}: device {d:?} {dv:?}\n  != proc {p:?} {pv:?}"
    );
    let got: Vec<_> = pv
        .iter()
        .map(|r| ((r.start - base) / P, (r.end - base) / P, r.categories))
        .collect();
    ensure!(got == want, "{what}: got {got:x?}, want {want:x?}");
    Ok(())
}

/// Every page of `[0, pages)`, every category but soft-dirty and wp-allowed.
fn all(what: &str, m: &Mapping, pages: u64, want: Expect) -> Outcome {
    expect(what, m.start(), (0, pages), arg(0, 0, 0, RETURN), want)
}

fn madvise(m: &Mapping, page: u64, pages: u64, advice: i32) -> Outcome {
    // SAFETY: advice on our own mapping.
    let r = unsafe {
        libc::madvise(
            m.page(page as usize) as *mut libc::c_void,
            (pages * P) as usize,
            advice,
        )
    };
    Errno::result(r)
        .map(drop)
        .map_err(|e| format!("madvise({advice}): {e}"))
}

fn read(m: &Mapping, page: u64) {
    // SAFETY: a readable page of the mapping.
    unsafe { std::ptr::read_volatile(m.page(page as usize) as *const u8) };
}

fn memfd(flags: u32, len: u64) -> Result<OwnedFd, String> {
    // SAFETY: a plain syscall with a NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"pagemap_scan".as_ptr(), flags) };
    let fd = Errno::result(fd).map_err(|e| format!("memfd_create: {e}"))?;
    // SAFETY: a new fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sizes our own file.
    Errno::result(unsafe { libc::ftruncate(fd.as_raw_fd(), len as i64) })
        .map_err(|e| format!("ftruncate: {e}"))?;
    Ok(fd)
}

const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;

pub fn anon_private() -> Outcome {
    let m = Mapping::anon(8)?;
    m.touch(0);
    m.touch(1);
    read(&m, 2);
    m.touch(3);
    madvise(&m, 3, 1, libc::MADV_DONTNEED)?;
    // Empty ptes read as written (not write-protected).
    all(
        "anon",
        &m,
        8,
        &[
            (0, 2, PW),
            (2, 3, PW | PAGE_IS_PFNZERO),
            (3, 8, PAGE_IS_WRITTEN),
        ],
    )
}

pub fn shmem() -> Outcome {
    let m = Mapping::new(8 * PAGE, RW, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1)?;
    m.touch(0);
    read(&m, 1);
    all(
        "shared anon",
        &m,
        8,
        &[(0, 2, PW | PAGE_IS_FILE), (2, 8, PAGE_IS_WRITTEN)],
    )
}

pub fn memfd_private_and_shared() -> Outcome {
    let fd = memfd(0, 8 * P)?;
    let shared = Mapping::new(8 * PAGE, RW, libc::MAP_SHARED, fd.as_raw_fd())?;
    shared.touch(0);
    let private = Mapping::new(8 * PAGE, RW, libc::MAP_PRIVATE, fd.as_raw_fd())?;
    read(&private, 0); // the file's page
    private.touch(1); // a private copy: anonymous
    all(
        "memfd shared",
        &shared,
        8,
        &[(0, 1, PW | PAGE_IS_FILE), (1, 8, PAGE_IS_WRITTEN)],
    )?;
    all(
        "memfd private",
        &private,
        8,
        &[
            (0, 1, PW | PAGE_IS_FILE),
            (1, 2, PW),
            (2, 8, PAGE_IS_WRITTEN),
        ],
    )
}

/// A 2 MiB-aligned THP-eligible anonymous mapping of `huge` huge pages.
fn thp_mapping(huge: u64) -> Result<(Mapping, u64), String> {
    let len = huge * HUGE_PAGES * P;
    let m = Mapping::new(
        (len + HUGE_PAGES * P) as usize,
        RW,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
    )?;
    let base = (m.start() + HUGE_PAGES * P - 1) & !(HUGE_PAGES * P - 1);
    // SAFETY: advice on our own mapping.
    let r = unsafe { libc::madvise(base as *mut libc::c_void, len as usize, libc::MADV_HUGEPAGE) };
    Errno::result(r).map_err(|e| format!("MADV_HUGEPAGE: {e}"))?;
    Ok((m, base))
}

pub fn thp() -> Outcome {
    let (_m, base) = thp_mapping(2)?;
    // SAFETY: the first byte of the aligned, writable range.
    unsafe { (base as *mut u8).write_volatile(1) };
    let a = arg(0, 0, 0, RETURN);
    let huge = PW | PAGE_IS_HUGE;
    // The second huge page has no page table at all: a hole, not written
    // (unlike an empty pte in an existing table).
    expect(
        "THP full",
        base,
        (0, 1024),
        a,
        &[(0, 512, huge), (512, 1024, 0)],
    )?;
    expect("THP partial", base, (100, 300), a, &[(100, 300, huge)])?;
    // max_pages cuts the huge page's region.
    let a = PmScanArg { max_pages: 10, ..a };
    expect("THP max_pages", base, (0, 1024), a, &[(0, 10, huge)])
}

pub fn hugetlb_map() -> Outcome {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB;
    let m = Mapping::new((2 * HUGE_PAGES * P) as usize, RW, flags, -1)?;
    m.touch(0);
    let huge = PW | PAGE_IS_HUGE;
    all(
        "MAP_HUGETLB",
        &m,
        1024,
        &[(0, 512, huge), (512, 1024, PAGE_IS_HUGE)],
    )?;
    expect(
        "MAP_HUGETLB partial",
        m.start(),
        (1, 3),
        arg(0, 0, 0, RETURN),
        &[(1, 3, huge)],
    )
}

pub fn hugetlb_memfd() -> Outcome {
    let fd = memfd(libc::MFD_HUGETLB, 2 * HUGE_PAGES * P)?;
    let m = Mapping::new(
        (2 * HUGE_PAGES * P) as usize,
        RW,
        libc::MAP_SHARED,
        fd.as_raw_fd(),
    )?;
    m.touch(0);
    let file = PW | PAGE_IS_HUGE | PAGE_IS_FILE;
    all(
        "MFD_HUGETLB",
        &m,
        1024,
        &[(0, 512, file), (512, 1024, PAGE_IS_HUGE)],
    )
}

pub fn hugetlb_shm() -> Outcome {
    let len = (HUGE_PAGES * P) as usize;
    // SAFETY: plain SysV calls on a private segment we remove below.
    let id = unsafe {
        libc::shmget(
            libc::IPC_PRIVATE,
            len,
            libc::IPC_CREAT | libc::SHM_HUGETLB | 0o600,
        )
    };
    let id = Errno::result(id).map_err(|e| format!("shmget(SHM_HUGETLB): {e}"))?;
    // SAFETY: attaches the segment at an address of the kernel's choosing.
    let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
    // SAFETY: marks the segment for removal once detached.
    unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    ensure!(addr as isize != -1, "shmat: {}", Errno::last());
    // SAFETY: the first byte of the attached, writable segment.
    unsafe { (addr as *mut u8).write_volatile(1) };
    let r = expect(
        "SHM_HUGETLB",
        addr as u64,
        (0, 512),
        arg(0, 0, 0, RETURN),
        &[(0, 512, PW | PAGE_IS_HUGE | PAGE_IS_FILE)],
    );
    // SAFETY: detaches what we attached.
    unsafe { libc::shmdt(addr) };
    r
}

pub fn swapped() -> Outcome {
    let m = Mapping::anon(8)?;
    (0..8).for_each(|i| m.touch(i));
    // Reclaim is asynchronous to nothing here, but may skip a page: retry.
    let proc = Scanner::proc().map_err(|e| e.to_string())?;
    let swapped = arg(m.start(), m.page(4), PAGE_IS_SWAPPED, PAGE_IS_SWAPPED);
    for _ in 0..10 {
        madvise(&m, 0, 4, libc::MADV_PAGEOUT)?;
        let (_, v) = proc.regions(swapped, 4);
        if v.len() == 1 && v[0].end == m.page(4) && v[0].start == m.start() {
            break;
        }
    }
    all(
        "swapped",
        &m,
        8,
        &[(0, 4, PAGE_IS_SWAPPED | PAGE_IS_WRITTEN), (4, 8, PW)],
    )
}

pub fn soft_dirty() -> Outcome {
    let m = Mapping::anon(8)?;
    (0..8).for_each(|i| m.touch(i));
    std::fs::write("/proc/self/clear_refs", "4").map_err(|e| format!("clear_refs: {e}"))?;
    m.touch(2);
    m.touch(5);
    let a = arg(0, 0, PAGE_IS_SOFT_DIRTY, PAGE_IS_SOFT_DIRTY);
    expect(
        "soft-dirty",
        m.start(),
        (0, 8),
        a,
        &[(2, 3, PAGE_IS_SOFT_DIRTY), (5, 6, PAGE_IS_SOFT_DIRTY)],
    )
}

pub fn prot_none_gaps_and_many_vmas() -> Outcome {
    let m = Mapping::anon(64)?;
    (0..64).for_each(|i| m.touch(i));
    // One VMA per page, alternately read-only: regions still coalesce across them.
    for i in (0..64).step_by(2) {
        madvise(&m, i, 0, 0)?;
        // SAFETY: changes protection of one page of our own mapping.
        let r = unsafe {
            libc::mprotect(
                m.page(i as usize) as *mut libc::c_void,
                PAGE,
                libc::PROT_READ,
            )
        };
        Errno::result(r).map_err(|e| format!("mprotect: {e}"))?;
    }
    // SAFETY: as above; PROT_NONE pages stay present.
    unsafe { libc::mprotect(m.page(10) as *mut libc::c_void, 2 * PAGE, libc::PROT_NONE) };
    // SAFETY: unmaps two pages of our own mapping; nothing refers to them.
    unsafe { libc::munmap(m.page(20) as *mut libc::c_void, 2 * PAGE) };
    all("gaps and VMAs", &m, 64, &[(0, 20, PW), (22, 64, PW)])
}

pub fn vec_len_and_max_pages() -> Outcome {
    let m = Mapping::anon(16)?;
    (0..16).step_by(2).for_each(|i| m.touch(i));
    let present = arg(0, 0, PAGE_IS_PRESENT, PAGE_IS_PRESENT);
    let odd: Vec<_> = (0..16)
        .step_by(2)
        .map(|i| (i, i + 1, PAGE_IS_PRESENT))
        .collect();
    expect("every other page", m.start(), (0, 16), present, &odd)?;
    expect(
        "max_pages 3",
        m.start(),
        (0, 16),
        PmScanArg {
            max_pages: 3,
            ..present
        },
        &odd[..3],
    )?;
    // vec_len exhaustion: compare the whole reply, walk_end included.
    let (dev, proc) = Scanner::pair()?;
    let a = PmScanArg {
        start: m.start(),
        end: m.end(),
        ..present
    };
    for n in [1, 2, 7] {
        let (d, dv) = dev.regions(a, n);
        let (p, pv) = proc.regions(a, n);
        ensure!(
            d == p && dv == pv,
            "vec_len {n}: device {d:?} {dv:?} != proc {p:?} {pv:?}"
        );
        ensure!(
            p.walk_end == m.page(2 * n),
            "vec_len {n}: walk_end {:#x}",
            p.walk_end - m.start()
        );
    }
    Ok(())
}

/// A mixed layout for the call-pattern loops: anon written, zero, swapped,
/// file-backed pages and holes.
fn mixed() -> Result<(Mapping, OwnedFd, Mapping), String> {
    let m = Mapping::anon(64)?;
    (0..64).filter(|i| i % 5 != 0).for_each(|i| m.touch(i));
    (40..48).for_each(|i| read(&m, i as u64));
    madvise(&m, 48, 8, libc::MADV_DONTNEED)?;
    madvise(&m, 8, 8, libc::MADV_PAGEOUT)?;
    // Gaps split the written ranges into several regions.
    for gap in [30, 58] {
        // SAFETY: unmaps two pages of our own mapping; nothing refers to them.
        unsafe { libc::munmap(m.page(gap) as *mut libc::c_void, 2 * PAGE) };
    }
    let fd = memfd(0, 16 * P)?;
    let f = Mapping::new(16 * PAGE, RW, libc::MAP_SHARED, fd.as_raw_fd())?;
    (0..16).step_by(3).for_each(|i| f.touch(i));
    Ok((m, fd, f))
}

/// Loops on `walk_end` from `start` to `end` with vectors of `vec_len`, and
/// `max_pages` from `limit` (the pages still wanted) when given; returns the
/// sequence of replies and regions, compared between the two fds.
fn walk_loop(a: PmScanArg, vec_len: usize, limit: Option<u64>) -> Outcome {
    let (dev, proc) = Scanner::pair()?;
    let mut start = a.start;
    let mut found = 0;
    let mut calls = 0;
    while start < a.end && limit.is_none_or(|l| found < l) {
        let a = PmScanArg {
            start,
            max_pages: limit.map_or(0, |l| l - found),
            ..a
        };
        let (d, dv) = dev.regions(a, vec_len);
        let (p, pv) = proc.regions(a, vec_len);
        ensure!(
            d == p && dv == pv,
            "call {calls} from {start:#x}: device {d:?} {dv:?}\n  != proc {p:?} {pv:?}"
        );
        p.ret.map_err(|e| format!("call {calls}: {e}"))?;
        found += pv.iter().map(|r| (r.end - r.start) / P).sum::<u64>();
        ensure!(
            p.walk_end > start || p.walk_end == a.end,
            "no progress at {start:#x}"
        );
        start = p.walk_end;
        calls += 1;
    }
    ensure!(calls > 1, "the loop ended after {calls} call");
    Ok(())
}

pub fn criu_predump_loop() -> Outcome {
    let (m, _fd, f) = mixed()?;
    let (start, end) = (m.start().min(f.start()), m.end().max(f.end()));
    let a = PmScanArg {
        category_inverted: PAGE_IS_PFNZERO | PAGE_IS_FILE,
        category_mask: PAGE_IS_PFNZERO | PAGE_IS_FILE,
        category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
        ..arg(
            start,
            end,
            0,
            PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_SOFT_DIRTY,
        )
    };
    walk_loop(a, 3, None)
}

pub fn wine_get_loop() -> Outcome {
    let (m, _fd, f) = mixed()?;
    let (start, end) = (m.start().min(f.start()), m.end().max(f.end()));
    walk_loop(
        arg(start, end, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN),
        2,
        Some(200),
    )
}

pub fn more_regions_than_the_bounce_buffer() -> Outcome {
    let m = Mapping::anon(2048)?;
    (0..2048).step_by(2).for_each(|i| m.touch(i));
    let (dev, proc) = Scanner::pair()?;
    let a = arg(m.start(), m.end(), PAGE_IS_PRESENT, PAGE_IS_PRESENT);
    let (d, dv) = dev.regions(a, 2048);
    let (p, pv) = proc.regions(a, 2048);
    ensure!(
        d == p && dv == pv,
        "device {d:?} ({} regions) != proc {p:?} ({} regions)",
        dv.len(),
        pv.len()
    );
    ensure!(pv.len() == 1024, "{} regions, want 1024", pv.len());
    println!(
        "# 1024 regions in one call: walk_end = start + {:#x} (end = start + {:#x})",
        p.walk_end - m.start(),
        m.end() - m.start()
    );
    Ok(())
}
