// SPDX-License-Identifier: GPL-2.0

//! One chunk of a scan: `walk_page_range()` over the bound mm, with the
//! `mm_walk_ops` callbacks below (the ops table is in `helpers.c`). Each
//! callback turns entries into categories, matches them and feeds the
//! collector; the first output that does not fit ends the walk.

use crate::args::{ScanRequest, PAGE_SIZE};
use crate::category::{self, Matcher};
use crate::mm::MmapReadGuard;
use crate::output::{Collector, Full};
use crate::pgtable::{self, PteTable, ThpLock};
use crate::sys::{self, MmWalk, Pmd, Pte, Vma};
use crate::uapi::{PAGE_IS_FILE, PM_SCAN_CHECK_WPASYNC, PM_SCAN_WP_MATCHING};
use kernel::ffi::{c_int, c_ulong, c_void};
use kernel::prelude::*;

/// Entries of one page table.
const PTRS_PER_PTE: usize = 512;

/// The `PMS_VMA_*` facts of a VMA (`helpers.h`).
#[derive(Clone, Copy)]
struct VmaFacts(u32);

impl VmaFacts {
    const PFNMAP: u32 = 1 << 0;
    const SOFT_DIRTY: u32 = 1 << 1;
    const HUGETLB: u32 = 1 << 2;
    const UFFD_WP: u32 = 1 << 3;
    const WP_ASYNC: u32 = 1 << 4;

    /// # Safety
    ///
    /// `vma` is the current VMA of a running walk.
    unsafe fn of(vma: *mut Vma) -> Self {
        // SAFETY: the caller's contract: the VMA is valid under the walk's mmap lock.
        VmaFacts(unsafe { sys::pms_vma_facts(vma) })
    }

    fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
}

/// Why a walk stopped early.
pub(crate) enum Stop {
    /// The output is full (`max_pages` or the bounce buffer).
    Full,
    /// An error to return to the caller.
    Error(Error),
}

/// The state one `PAGEMAP_SCAN` shares with the walk callbacks (`walk->private`).
pub(crate) struct Scan<'a> {
    flags: u64,
    matcher: Matcher,
    want_file: bool,
    /// Categories of the VMA being walked, set by `pms_walk_test_vma`.
    vma_categories: u64,
    /// Where matching pages go.
    pub(crate) out: Collector<'a>,
}

impl<'a> Scan<'a> {
    /// The walk state of `req`, collecting into `out`.
    pub(crate) fn new(req: &ScanRequest, out: Collector<'a>) -> Self {
        let interest = req.category_mask | req.category_anyof_mask | req.return_mask;
        Scan {
            flags: req.flags,
            matcher: Matcher {
                inverted: req.category_inverted,
                required: req.category_mask,
                anyof: req.category_anyof_mask,
            },
            want_file: interest & PAGE_IS_FILE != 0,
            vma_categories: 0,
            out,
        }
    }

    /// Walks `[start, end)` of the locked mm.
    pub(crate) fn walk(
        &mut self,
        mm: &MmapReadGuard<'_>,
        start: u64,
        end: u64,
    ) -> core::result::Result<(), Stop> {
        let private = (self as *mut Self).cast::<c_void>();
        // SAFETY: the mmap lock is held (`mm`), `start < end`, and `self`
        // outlives the call; during it, only the callbacks reach `self`,
        // through `private`, one at a time.
        let ret = unsafe {
            sys::pms_walk_page_range(mm.as_raw(), start as c_ulong, end as c_ulong, private)
        };
        match ret {
            0 => Ok(()),
            e if e == ENOSPC.to_errno() => Err(Stop::Full),
            e => Err(Stop::Error(Error::from_errno(e))),
        }
    }

    /// Reports `[addr, end)` if `categories` match; the callback's return value.
    fn report(&mut self, categories: u64, addr: u64, end: u64) -> c_int {
        if !self.matcher.page(categories) {
            return 0;
        }
        let mut end = end;
        self.output(categories, addr, &mut end)
    }

    fn output(&mut self, categories: u64, addr: u64, end: &mut u64) -> c_int {
        match self.out.output(categories, addr, end) {
            Ok(()) => 0,
            Err(Full) => ENOSPC.to_errno(),
        }
    }
}

/// The walk state and current VMA of a callback.
///
/// # Safety
///
/// `walk` is a walk started by [`Scan::walk`], and the returned reference is
/// not used after the callback returns.
unsafe fn state<'w>(walk: *mut MmWalk) -> (&'w mut Scan<'w>, *mut Vma) {
    // SAFETY: `walk->private` is the `Scan` of `Scan::walk`, not otherwise
    // accessed while a callback runs (caller contract).
    let scan = unsafe { &mut *sys::pms_walk_private(walk).cast::<Scan<'w>>() };
    // SAFETY: `walk` is a live walk (caller contract).
    (scan, unsafe { sys::pms_walk_vma(walk) })
}

/// `test_walk`: whether to walk a VMA (0), skip it (1), or fail (< 0).
///
/// # Safety
///
/// Called only by `walk_page_range()` started from [`Scan::walk`], with the
/// walker's arguments.
#[no_mangle]
unsafe extern "C" fn pms_walk_test_vma(_start: c_ulong, _end: c_ulong, walk: *mut MmWalk) -> c_int {
    // SAFETY: called by `walk_page_range()` from `Scan::walk`.
    let (scan, vma) = unsafe { state(walk) };
    // SAFETY: `test_walk` runs with `walk->vma` set.
    let facts = unsafe { VmaFacts::of(vma) };
    let wp_allowed = facts.has(VmaFacts::WP_ASYNC);
    if !wp_allowed {
        if scan.flags & PM_SCAN_CHECK_WPASYNC != 0 {
            return EPERM.to_errno();
        }
        // Write-protecting requests skip VMAs they cannot protect.
        if scan.flags & PM_SCAN_WP_MATCHING != 0 {
            return 1;
        }
    }
    if facts.has(VmaFacts::PFNMAP) {
        return 1;
    }
    let categories = category::vma_categories(wp_allowed, facts.has(VmaFacts::SOFT_DIRTY));
    if !scan.matcher.vma(categories) {
        return 1;
    }
    scan.vma_categories = categories;
    0
}

/// `pmd_entry`: a THP pmd as a whole, else each pte under the pmd.
///
/// # Safety
///
/// Called only by `walk_page_range()` started from [`Scan::walk`], with the
/// walker's arguments.
#[no_mangle]
unsafe extern "C" fn pms_walk_pmd(
    pmd: *mut Pmd,
    start: c_ulong,
    end: c_ulong,
    walk: *mut MmWalk,
) -> c_int {
    // SAFETY: called by `walk_page_range()` from `Scan::walk`.
    let (scan, vma) = unsafe { state(walk) };
    let (start, end) = (start as u64, end as u64);

    // SAFETY: `pmd` is the walk's pmd in `vma`, under the mmap lock.
    if let Some(thp) = unsafe { ThpLock::new(vma, pmd) } {
        let categories =
            scan.vma_categories | thp.facts(start as c_ulong, scan.want_file).thp_categories();
        return scan.report(categories, start, end);
    }

    // SAFETY: as above; `start` is inside the pmd.
    let Some(table) = (unsafe { PteTable::map_lock(vma, pmd, start as c_ulong) }) else {
        // The page table changed under us: let the walker look at the pmd again.
        // SAFETY: `walk` is live.
        unsafe { sys::pms_walk_again(walk) };
        return 0;
    };
    let n = ((end - start) / PAGE_SIZE) as usize;
    let mut facts = [0u8; PTRS_PER_PTE];
    let facts = &mut facts[..n];
    table.facts(start as c_ulong, facts, scan.want_file);

    let mut ret = 0;
    let mut addr = start;
    for f in facts.iter() {
        let categories = scan.vma_categories | category::Facts(*f).pte_categories();
        if scan.matcher.page(categories) {
            let mut next = addr + PAGE_SIZE;
            ret = scan.output(categories, addr, &mut next);
            if next == addr {
                break;
            }
        }
        addr += PAGE_SIZE;
    }
    drop(table);
    // SAFETY: no lock is held here but the mmap read lock, which may sleep.
    unsafe { sys::pms_cond_resched() };
    ret
}

/// `pte_hole`: a range with no page table under it (or between VMAs).
///
/// # Safety
///
/// Called only by `walk_page_range()` started from [`Scan::walk`], with the
/// walker's arguments.
#[no_mangle]
unsafe extern "C" fn pms_walk_hole(
    start: c_ulong,
    end: c_ulong,
    _depth: c_int,
    walk: *mut MmWalk,
) -> c_int {
    // SAFETY: called by `walk_page_range()` from `Scan::walk`.
    let (scan, vma) = unsafe { state(walk) };
    if vma.is_null() {
        return 0;
    }
    // SAFETY: `vma` is the walk's current VMA.
    let facts = unsafe { VmaFacts::of(vma) };
    let categories = scan.vma_categories
        | category::hole_categories(facts.has(VmaFacts::UFFD_WP), facts.has(VmaFacts::HUGETLB));
    scan.report(categories, start as u64, end as u64)
}

/// `hugetlb_entry`: one hugetlb page.
///
/// # Safety
///
/// Called only by `walk_page_range()` started from [`Scan::walk`], with the
/// walker's arguments.
#[no_mangle]
unsafe extern "C" fn pms_walk_hugetlb(
    ptep: *mut Pte,
    _hmask: c_ulong,
    start: c_ulong,
    end: c_ulong,
    walk: *mut MmWalk,
) -> c_int {
    // SAFETY: called by `walk_page_range()` from `Scan::walk`.
    let (scan, _vma) = unsafe { state(walk) };
    // SAFETY: the `hugetlb_entry` arguments, passed on.
    let facts = unsafe { pgtable::hugetlb_facts(walk, start, ptep) };
    scan.report(
        scan.vma_categories | facts.hugetlb_categories(),
        start as u64,
        end as u64,
    )
}
