// SPDX-License-Identifier: GPL-2.0

//! Memory of every kind the scan tells apart, built the same way for the
//! per-kind tests and the randomized layouts: an [`Area`] is a PROT_NONE
//! reservation, and each kind is mapped over part of it with `MAP_FIXED` (or
//! `SHM_REMAP`). Pages change state through the kernel (`MADV_POPULATE_*`,
//! `MADV_DONTNEED`, `MADV_PAGEOUT`, `mprotect`), so a page that is not mapped
//! as expected fails a call instead of faulting the test.

use crate::mem::{Mapping, PAGE};
use crate::rng::Rng;
use crate::scanner::{arg, Scanner};
use crate::uapi::PAGE_IS_PRESENT;
use nix::errno::Errno;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// A PMD-sized page: THP and the 2 MiB hugetlb pages.
pub const HUGE: usize = 2 << 20;
/// Base pages in a [`HUGE`] page.
pub const HUGE_PAGES: usize = HUGE / PAGE;
/// Areas start at a PUD boundary, so the page tables under one are only those
/// its own pages populated: whether an untouched page reads as an empty entry
/// or as a hole without a table depends on it.
const ALIGN: usize = 1 << 30;
const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;

/// A kind of memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `MAP_PRIVATE | MAP_ANONYMOUS`.
    Anon,
    /// `MAP_SHARED | MAP_ANONYMOUS`: shmem.
    Shmem,
    /// A memfd (a tmpfs file) mapped `MAP_SHARED`.
    MemfdShared,
    /// A memfd mapped `MAP_PRIVATE`: file pages until written, then anonymous copies.
    MemfdPrivate,
    /// Anonymous with `MADV_HUGEPAGE`: a THP at the first fault of each 2 MiB.
    Thp,
    /// `MAP_HUGETLB`, private and anonymous.
    Hugetlb,
    /// A memfd with `MFD_HUGETLB`, mapped `MAP_SHARED`.
    HugetlbMemfd,
    /// A SysV segment with `SHM_HUGETLB`.
    HugetlbShm,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 8] = [
        Kind::Anon,
        Kind::Shmem,
        Kind::MemfdShared,
        Kind::MemfdPrivate,
        Kind::Thp,
        Kind::Hugetlb,
        Kind::HugetlbMemfd,
        Kind::HugetlbShm,
    ];

    /// Whether the kind is hugetlb: mapped, placed and faulted in 2 MiB units.
    pub fn is_hugetlb(self) -> bool {
        matches!(self, Kind::Hugetlb | Kind::HugetlbMemfd | Kind::HugetlbShm)
    }

    /// A random kind, and how many pages of a `slot` of pages it covers:
    /// all of them for hugetlb or, otherwise, once in `whole_one_in`; else
    /// a random number of them from the first.
    pub fn random_fill(r: &mut Rng, slot: usize, whole_one_in: u64) -> (Kind, usize) {
        let kind = r.pick(&Kind::ALL);
        let pages = if kind.is_hugetlb() || r.one_in(whole_one_in) {
            slot
        } else {
            1 + r.below(slot as u64) as usize
        };
        (kind, pages)
    }
}

/// An empty memfd of `len` bytes.
pub fn memfd(flags: libc::c_uint, len: usize) -> Result<OwnedFd, String> {
    // SAFETY: a plain syscall with a NUL-terminated name.
    let fd = Errno::result(unsafe { libc::memfd_create(c"pagemap_scan".as_ptr(), flags) })
        .map_err(|e| format!("memfd_create: {e}"))?;
    // SAFETY: a new fd, ours alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sizes our own file.
    Errno::result(unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) })
        .map_err(|e| format!("ftruncate: {e}"))?;
    Ok(fd)
}

/// Clears the soft-dirty bits of the whole process (`clear_refs` 4): of every
/// page and of every VMA, so only what is written afterwards is soft-dirty.
pub fn clear_soft_dirty() -> Result<(), String> {
    std::fs::write("/proc/self/clear_refs", "4").map_err(|e| format!("clear_refs: {e}"))
}

/// A reservation at a 1 GiB boundary that memory of any kind is mapped into.
pub struct Area {
    base: u64,
    pages: usize,
    /// What is mapped, in address order: the reservation minus the holes
    /// `unmap` made. A hole is never mapped over again (another mapping of
    /// the process may have taken it), and is not unmapped again on drop.
    parts: Vec<Mapping>,
}

impl Area {
    /// A PROT_NONE reservation of `pages` pages.
    pub fn new(pages: usize) -> Result<Area, String> {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        let m = Mapping::aligned(pages * PAGE, ALIGN, libc::PROT_NONE, flags)?;
        Ok(Area {
            base: m.start(),
            pages,
            parts: vec![m],
        })
    }

    /// An area of `pages` pages, all of `kind`.
    pub fn of(kind: Kind, pages: usize) -> Result<Area, String> {
        let mut area = Area::new(pages)?;
        area.place(0, kind, pages)?;
        Ok(area)
    }

    /// Size in pages.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// First address.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// End address (exclusive).
    pub fn end(&self) -> u64 {
        self.page(self.pages)
    }

    /// Address of page `i` (`i` may be the end).
    pub fn page(&self, i: usize) -> u64 {
        self.base + (i * PAGE) as u64
    }

    /// Address and length of pages `[first, first + pages)`, if inside the area.
    fn range(&self, first: usize, pages: usize) -> Result<(*mut libc::c_void, usize), String> {
        if first + pages > self.pages {
            return Err(format!(
                "pages {first}..{} outside the area of {}",
                first + pages,
                self.pages
            ));
        }
        Ok((self.page(first) as *mut libc::c_void, pages * PAGE))
    }

    /// Index of the part holding all of `[first, first + pages)`.
    fn part(&self, first: usize, pages: usize) -> Result<usize, String> {
        let (start, end) = (self.page(first), self.page(first + pages));
        self.parts
            .iter()
            .position(|m| m.start() <= start && end <= m.end())
            .ok_or_else(|| format!("pages {first}..{} overlap a hole", first + pages))
    }

    /// Maps `pages` pages of `kind` at page `first`, replacing what was there.
    pub fn place(&mut self, first: usize, kind: Kind, pages: usize) -> Result<(), String> {
        let (addr, len) = self.range(first, pages)?;
        self.part(first, pages)?;
        if kind.is_hugetlb()
            && (!first.is_multiple_of(HUGE_PAGES) || !pages.is_multiple_of(HUGE_PAGES))
        {
            return Err(format!(
                "{kind:?} at pages {first}+{pages}: not in 2 MiB units"
            ));
        }
        let anon = libc::MAP_ANONYMOUS | libc::MAP_FIXED;
        match kind {
            Kind::Anon => {
                // 4 KiB pages whatever the THP default ("always" on a distribution).
                map_fixed(addr, len, libc::MAP_PRIVATE | anon, None)?;
                self.advise(first, pages, libc::MADV_NOHUGEPAGE)
            }
            Kind::Shmem => map_fixed(addr, len, libc::MAP_SHARED | anon, None),
            Kind::MemfdShared | Kind::MemfdPrivate => {
                let fd = memfd(0, len)?;
                self.place_file(first, fd.as_fd(), pages, kind == Kind::MemfdShared)
            }
            Kind::Thp => {
                map_fixed(addr, len, libc::MAP_PRIVATE | anon, None)?;
                self.advise(first, pages, libc::MADV_HUGEPAGE)
            }
            Kind::Hugetlb => map_fixed(
                addr,
                len,
                libc::MAP_PRIVATE | anon | libc::MAP_HUGETLB,
                None,
            ),
            Kind::HugetlbMemfd => {
                let fd = memfd(libc::MFD_HUGETLB, len)?;
                self.place_file(first, fd.as_fd(), pages, true)
            }
            Kind::HugetlbShm => shm_hugetlb_at(addr, len),
        }
    }

    /// Maps `pages` pages of the file `fd` from offset 0 at page `first`,
    /// shared or private, replacing what was there.
    pub fn place_file(
        &mut self,
        first: usize,
        fd: BorrowedFd,
        pages: usize,
        shared: bool,
    ) -> Result<(), String> {
        let (addr, len) = self.range(first, pages)?;
        self.part(first, pages)?;
        let share = if shared {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        };
        map_fixed(addr, len, share | libc::MAP_FIXED, Some(fd))
    }

    /// `madvise(advice)` of pages `[first, first + pages)`.
    pub fn advise(&self, first: usize, pages: usize, advice: i32) -> Result<(), String> {
        self.madvise(first, pages, advice)?
            .map_err(|e| format!("madvise({advice}) of pages {first}+{pages}: {e}"))
    }

    /// `advise`, with the errno for the caller to judge (an advice the
    /// kernel lacks, say); the outer error is a range outside the area.
    pub fn madvise(
        &self,
        first: usize,
        pages: usize,
        advice: i32,
    ) -> Result<Result<(), Errno>, String> {
        let (addr, len) = self.range(first, pages)?;
        // SAFETY: advice on a range of our own area, which nothing refers into.
        Ok(Errno::result(unsafe { libc::madvise(addr, len, advice) }).map(drop))
    }

    /// Faults pages `[first, first + pages)` in as a write to each would.
    pub fn write(&self, first: usize, pages: usize) -> Result<(), String> {
        self.advise(first, pages, libc::MADV_POPULATE_WRITE)
    }

    /// Faults pages `[first, first + pages)` in as a read of each would: the
    /// zero page where the memory is private and anonymous.
    pub fn read(&self, first: usize, pages: usize) -> Result<(), String> {
        self.advise(first, pages, libc::MADV_POPULATE_READ)
    }

    /// `mprotect(prot)` of pages `[first, first + pages)`: VMAs split at its ends.
    pub fn protect(&self, first: usize, pages: usize, prot: i32) -> Result<(), String> {
        let (addr, len) = self.range(first, pages)?;
        // SAFETY: changes protection of a range of our own area only.
        Errno::result(unsafe { libc::mprotect(addr, len, prot) })
            .map(drop)
            .map_err(|e| format!("mprotect of pages {first}+{pages}: {e}"))
    }

    /// Unmaps pages `[first, first + pages)` for good: a hole without a VMA.
    pub fn unmap(&mut self, first: usize, pages: usize) -> Result<(), String> {
        self.range(first, pages)?;
        let i = self.part(first, pages)?;
        let part = self.parts.remove(i);
        let off = (self.page(first) - part.start()) as usize;
        match part.punch(off, pages * PAGE) {
            Ok(rest) => {
                self.parts.splice(i..i, rest);
                Ok(())
            }
            Err((part, why)) => {
                self.parts.insert(i, part);
                Err(format!("pages {first}+{pages}: {why}"))
            }
        }
    }

    /// Number of VMAs in the area, from `/proc/self/maps`.
    pub fn vmas(&self) -> Result<usize, String> {
        let maps = std::fs::read_to_string("/proc/self/maps")
            .map_err(|e| format!("/proc/self/maps: {e}"))?;
        Ok(maps
            .lines()
            .filter_map(|line| line.split(['-', ' ']).next())
            .filter_map(|start| u64::from_str_radix(start, 16).ok())
            .filter(|&start| self.base <= start && start < self.end())
            .count())
    }

    /// Pages `[first, first + pages)` out with `MADV_PAGEOUT`, until the C
    /// ioctl sees none of them present (reclaim may skip a page, say one
    /// still on a per-CPU LRU list): anonymous pages become swap entries.
    pub fn page_out(&self, first: usize, pages: usize) -> Result<(), String> {
        let proc = Scanner::proc().map_err(|e| format!("open /proc/self/pagemap: {e}"))?;
        let present = arg(
            self.page(first),
            self.page(first + pages),
            PAGE_IS_PRESENT,
            PAGE_IS_PRESENT,
        );
        for _ in 0..50 {
            self.advise(first, pages, libc::MADV_PAGEOUT)?;
            if proc.regions(present, 1).1.is_empty() {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(format!(
            "pages {first}+{pages} still present after MADV_PAGEOUT"
        ))
    }
}

/// `mmap(addr, len, RW, flags, fd, 0)`, `flags` including `MAP_FIXED`.
fn map_fixed(
    addr: *mut libc::c_void,
    len: usize,
    flags: i32,
    fd: Option<BorrowedFd>,
) -> Result<(), String> {
    let fd = fd.map_or(-1, |fd| fd.as_raw_fd());
    // SAFETY: replaces part of an area of ours, which nothing refers into.
    let p = unsafe { libc::mmap(addr, len, RW, flags, fd, 0) };
    if p == libc::MAP_FAILED {
        return Err(format!(
            "mmap({flags:#x}) of {len} bytes: {}",
            Errno::last()
        ));
    }
    Ok(())
}

/// Attaches a new SHM_HUGETLB segment of `len` bytes at `addr` (`SHM_REMAP`),
/// marked for removal: it goes with its mapping.
fn shm_hugetlb_at(addr: *mut libc::c_void, len: usize) -> Result<(), String> {
    let flags = libc::IPC_CREAT | libc::SHM_HUGETLB | 0o600;
    // SAFETY: creates a private segment; no memory of ours is involved.
    let id = Errno::result(unsafe { libc::shmget(libc::IPC_PRIVATE, len, flags) })
        .map_err(|e| format!("shmget(SHM_HUGETLB) of {len} bytes: {e}"))?;
    // SAFETY: replaces part of an area of ours, which nothing refers into.
    let at = unsafe { libc::shmat(id, addr, libc::SHM_REMAP) };
    let err = Errno::last();
    // SAFETY: marks our segment for removal once no longer attached.
    unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    if at != addr {
        return Err(format!("shmat(SHM_REMAP): {err}"));
    }
    Ok(())
}

/// Skips the test when the system has no swap (`MADV_PAGEOUT` would leave
/// anonymous pages present).
pub fn require_swap() -> crate::tap::Outcome {
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    if swaps.lines().count() < 2 {
        crate::skip!("no swap (/proc/swaps lists none)");
    }
    Ok(())
}

/// Skips the test when fewer than `n` free hugetlb pages are reserved.
pub fn require_hugetlb(n: u64) -> crate::tap::Outcome {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let free = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if free < n {
        crate::skip!("{free} free hugetlb pages, the test needs {n} (vm.nr_hugepages)");
    }
    Ok(())
}
