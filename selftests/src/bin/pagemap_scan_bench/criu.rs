// SPDX-License-Identifier: GPL-2.0

//! CRIU's pre-dump question over the whole address space of this process,
//! after it mapped a modest mix of memory: which pages are present or
//! swapped, not the zero page and not file-backed. The ioctls scan
//! `[0, TASK_SIZE)` from `walk_end` to `walk_end`; the pagemap read method
//! does what CRIU did before the ioctl, a `pread` per VMA of the list it
//! already has from `/proc/PID/maps` (read once, untimed).
//!
//! Two address spaces: a modest mix of memory kinds (per page), and a
//! JVM-like one of 10,000 small VMAs (per VMA).

use crate::dense::size;
use crate::method::Method;
use crate::pagemap::Masks;
use crate::scan::scan_all;
use crate::workload::{Tools, Workload};
use pagemap_scan_selftests::layout::{Area, Kind};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::uapi::*;

/// The end of user space with 4-level page tables (`TASK_SIZE_MAX`).
const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// What happens to a part of the mix after it is mapped.
#[derive(Clone, Copy)]
enum Then {
    Write,
    Read,
    Nothing,
    PageOut,
}

/// The mix, in MiB: 128 MiB (32 MiB quick).
const MIX: [(Kind, usize, Then); 8] = [
    (Kind::Anon, 32, Then::Write),
    (Kind::Anon, 8, Then::Read),
    (Kind::Anon, 8, Then::Nothing),
    (Kind::Shmem, 16, Then::Write),
    (Kind::MemfdPrivate, 16, Then::Read),
    (Kind::MemfdPrivate, 8, Then::Write),
    (Kind::Thp, 32, Then::Write),
    (Kind::Anon, 8, Then::PageOut),
];

/// CRIU's masks (criu/pagemap-cache.c).
fn criu_masks() -> Masks {
    Masks {
        inverted: PAGE_IS_PFNZERO | PAGE_IS_FILE,
        mask: PAGE_IS_PFNZERO | PAGE_IS_FILE,
        anyof: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
        ret: PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_SOFT_DIRTY,
    }
}

/// VMAs of the JVM-like address space (10,000 full, 1,000 quick), each of
/// [`VMA_PAGES`] written pages, every other one read-only so that no two
/// merge: thread stacks, heap regions and code of a large process.
const MANY_VMAS: [usize; 2] = [10_000, 1_000];
const VMA_PAGES: usize = 4;

/// The process with the memory mapped, and its VMAs.
pub struct Criu {
    key: &'static str,
    what: String,
    /// Measured per VMA instead of per page.
    per_vma: bool,
    _area: Area,
    vmas: Vec<(u64, u64)>,
}

impl Criu {
    /// Maps the mix into one area and lists the process's VMAs.
    pub fn new(quick: bool) -> Result<Criu, String> {
        let scale = if quick { 4 } else { 1 };
        let mib = (1 << 20) / PAGE / scale;
        let total = MIX.iter().map(|(_, m, _)| m * mib).sum();
        let mut area = Area::new(total)?;
        let mut first = 0;
        let mut swapped = true;
        for (kind, m, then) in MIX {
            let pages = m * mib;
            area.place(first, kind, pages)?;
            match then {
                Then::Write => area.write(first, pages)?,
                Then::Read => area.read(first, pages)?,
                Then::Nothing => {}
                Then::PageOut => {
                    area.write(first, pages)?;
                    if let Err(e) = area.page_out(first, pages) {
                        eprintln!("criu: {e}; measuring without swapped pages");
                        swapped = false;
                    }
                }
            }
            first += pages;
        }
        let vmas = vmas()?;
        let what = format!(
            "CRIU pre-dump whole address space ({} VMAs; mix of {}: anon/zero/shmem/file/THP{})",
            vmas.len(),
            size(total * PAGE),
            if swapped { "/swapped" } else { "" }
        );
        Ok(Criu {
            key: "criu",
            what,
            per_vma: false,
            _area: area,
            vmas,
        })
    }

    /// Maps [`MANY_VMAS`] VMAs of written anonymous pages, alternately
    /// read-write and read-only.
    pub fn many_vmas(quick: bool) -> Result<Criu, String> {
        let n = MANY_VMAS[usize::from(quick)];
        let area = Area::of(Kind::Anon, n * VMA_PAGES)?;
        area.write(0, n * VMA_PAGES)?;
        for i in (1..n).step_by(2) {
            area.protect(i * VMA_PAGES, VMA_PAGES, libc::PROT_READ)?;
        }
        let made = area.vmas()?;
        if made != n {
            return Err(format!("vmas: {made} VMAs in the area, wanted {n}"));
        }
        // Listing 10,000 VMAs grows the heap, outside the list it makes;
        // listed again, the heap's new extent is in it.
        drop(vmas()?);
        let vmas = vmas()?;
        let what = format!(
            "CRIU pre-dump whole address space of {} VMAs ({n} of {} KiB written anon alternately rw/ro)",
            vmas.len(),
            VMA_PAGES * PAGE / 1024
        );
        Ok(Criu {
            key: "vmas",
            what,
            per_vma: true,
            _area: area,
            vmas,
        })
    }
}

/// The VMAs of this process below [`TASK_SIZE`], from `/proc/self/maps`.
fn vmas() -> Result<Vec<(u64, u64)>, String> {
    let maps =
        std::fs::read_to_string("/proc/self/maps").map_err(|e| format!("/proc/self/maps: {e}"))?;
    let mut v = Vec::new();
    for line in maps.lines() {
        let range = line.split(' ').next().unwrap_or_default();
        let (s, e) = range
            .split_once('-')
            .ok_or_else(|| format!("maps line {line:?}"))?;
        let parse = |x| u64::from_str_radix(x, 16).map_err(|e| format!("maps line {line:?}: {e}"));
        let (s, e) = (parse(s)?, parse(e)?);
        if e <= TASK_SIZE {
            v.push((s, e));
        }
    }
    Ok(v)
}

impl Workload for Criu {
    fn key(&self) -> &'static str {
        self.key
    }

    fn describe(&self) -> String {
        self.what.clone()
    }

    fn unit(&self) -> &'static str {
        if self.per_vma {
            "VMA"
        } else {
            "page"
        }
    }

    /// The VMAs, or the pages of all VMAs (what the pagemap read reads).
    fn units(&self) -> u64 {
        if self.per_vma {
            self.vmas.len() as u64
        } else {
            self.vmas.iter().map(|(s, e)| (e - s) / PAGE as u64).sum()
        }
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::Rust, Method::C, Method::Read]
    }

    fn run(&mut self, m: Method, tools: &mut Tools) -> Result<u64, String> {
        let masks = criu_masks();
        match m {
            Method::Read => {
                let mut n = 0;
                for &(s, e) in &self.vmas {
                    n += tools.pagemap.scan(s, e, masks, |_, _, _| Ok(()))?;
                }
                Ok(n)
            }
            _ => {
                let (s, vec) = tools.ioctl(m);
                scan_all(s, masks.arg(0, TASK_SIZE), vec, None, |_| Ok(()))
            }
        }
    }
}
