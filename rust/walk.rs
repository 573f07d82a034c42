// SPDX-License-Identifier: GPL-2.0

//! One chunk of a scan: `walk_page_range()` over the bound mm, with the
//! `mm_walk_ops` callbacks below (the ops table is in `helpers.c`, whose ops
//! lock and decode the entries as asked here, one call into Rust an entry;
//! a page table's ptes go as runs of equal facts, a call every
//! [`category::RUNS`] runs). Each callback turns entries into categories,
//! matches them and feeds the collector; the first output that does not fit
//! ends the walk.
//! With `PM_SCAN_WP_MATCHING`, written pages that were reported are
//! write-protected in the same callback, under the same page-table lock, with
//! one TLB flush per page table over the protected span.

use crate::abi::KernelAbi;
use crate::args::{ScanRequest, PAGE_SIZE};
use crate::category::{self, Facts, Matcher};
use crate::compat::VmaRef;
use crate::output::{Collector, Full};
use crate::pgtable::{self, HugetlbEntry, HugetlbLock, PteTable, ThpEntry};
use crate::scan::LockedMm;
use crate::sys::{self, Pmd, Pte};
use crate::uapi::{PAGE_IS_WRITTEN, PM_SCAN_CHECK_WPASYNC, PM_SCAN_WP_MATCHING};
use core::ptr::NonNull;
use kernel::bindings::vm_area_struct;
use kernel::ffi::{c_int, c_uint, c_ulong, c_void};
use kernel::prelude::*;

/// The C ioctl the module equals: that of the kernel it is built for
/// (`Kbuild` sets `pagemap_abi` from the kernel's UAPI).
#[cfg(pagemap_abi = "7.3")]
pub(crate) const KERNEL_ABI: KernelAbi = crate::abi::V7_3;
#[cfg(not(pagemap_abi = "7.3"))]
pub(crate) const KERNEL_ABI: KernelAbi = crate::abi::V6_12;

/// The size of a THP mapped by one pmd: `HPAGE_PMD_SIZE`, which is
/// `PMD_SIZE` (defined whether or not the kernel has THP).
const HPAGE_PMD_SIZE: u64 = 1 << kernel::bindings::PMD_SHIFT;
// A page table's entries (the kernel's, through bindgen) cover one pmd, and
// fit in one run.
const _: () = assert!(kernel::bindings::PTRS_PER_PTE as u64 * PAGE_SIZE == HPAGE_PMD_SIZE);
const _: () = assert!(kernel::bindings::PTRS_PER_PTE as usize <= category::MAX_RUN);
/// No page starts at this address: [`Scan`]'s `table_wp` when nothing of
/// the table is protected yet.
const NO_WP: u64 = u64::MAX;
/// What [`pms_walk_thp`] returns to have the THP split and its ptes walked.
const WALK_SPLIT: c_int = crate::c_define::bit(category::FACTS_H, "PMS_WALK_SPLIT") as c_int;

// C's bounce buffer is `PAGEMAP_WALK_SIZE >> PAGE_SHIFT` regions, with
// `PAGEMAP_WALK_SIZE` (task_mmu.c) `PMD_SIZE`.
const _: () = assert!(crate::output::BOUNCE_REGIONS == HPAGE_PMD_SIZE / PAGE_SIZE);

/// The `PMS_VMA_*` facts of a VMA (`facts.h`).
#[derive(Clone, Copy)]
struct VmaFacts(u32);

impl VmaFacts {
    const PFNMAP: u32 = category::vma_fact("PMS_VMA_PFNMAP");
    const SOFT_DIRTY: u32 = category::vma_fact("PMS_VMA_SOFT_DIRTY");
    const HUGETLB: u32 = category::vma_fact("PMS_VMA_HUGETLB");
    const UFFD_WP: u32 = category::vma_fact("PMS_VMA_UFFD_WP");
    const WP_ASYNC: u32 = category::vma_fact("PMS_VMA_WP_ASYNC");
    const UFFD_RWP: u32 = category::vma_fact("PMS_VMA_UFFD_RWP");
    const ANON: u32 = category::vma_fact("PMS_VMA_ANON");

    fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
}

// The C side sets them one by one.
const _: () = assert!(category::distinct_bits(&[
    VmaFacts::PFNMAP,
    VmaFacts::SOFT_DIRTY,
    VmaFacts::HUGETLB,
    VmaFacts::UFFD_WP,
    VmaFacts::WP_ASYNC,
    VmaFacts::UFFD_RWP,
    VmaFacts::ANON,
]));

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
    /// The facts the C side must decode (`Facts::needed_for`).
    want_facts: u8,
    /// Categories of the VMA being walked, set by `pms_walk_test_vma`.
    vma_categories: u64,
    /// Its facts (a hole's categories depend on them).
    vma_facts: VmaFacts,
    /// The last huge entry's facts in this VMA, their categories and whether
    /// these match: neighbouring huge pages mostly have equal facts.
    huge_memo: Option<(Facts, u64, bool)>,
    /// What a missing uffd bit means in that VMA (`KernelAbi::unprotected`).
    vma_unprotected: u64,
    /// The first write-protected address of the page table whose runs are
    /// being handed over, until its last ([`pms_walk_ptes`]): one TLB flush
    /// per table. [`NO_WP`] for none (an `Option` would double its size on
    /// the stack the walk runs on).
    table_wp: u64,
    /// Where matching pages go.
    pub(crate) out: Collector<'a>,
}

/// What a loop over one page table did.
struct PteRun {
    /// The callback's return value.
    ret: c_int,
    /// Where the loop stopped (the table's end, or the page that did not fit).
    stop: u64,
    /// The first write-protected address, if any.
    first_wp: Option<u64>,
}

impl<'a> Scan<'a> {
    /// The walk state of `req`, collecting into `out`.
    pub(crate) fn new(req: &ScanRequest, out: Collector<'a>) -> Self {
        let interest = req.matcher.required | req.matcher.anyof | req.return_mask;
        Scan {
            flags: req.flags,
            matcher: req.matcher,
            want_facts: Facts::needed_for(interest),
            vma_categories: 0,
            vma_facts: VmaFacts(0),
            huge_memo: None,
            vma_unprotected: 0,
            table_wp: NO_WP,
            out,
        }
    }

    fn write_protect(&self) -> bool {
        self.flags & PM_SCAN_WP_MATCHING != 0
    }

    /// Walks `[start, end)` of the locked mm.
    pub(crate) fn walk(
        &mut self,
        mm: &LockedMm<'_>,
        start: u64,
        end: u64,
    ) -> core::result::Result<(), Stop> {
        let want = self.want_facts;
        let wp = self.write_protect();
        let private = (self as *mut Self).cast::<c_void>();
        let (start, end) = (start as c_ulong, end as c_ulong);
        // SAFETY: the mmap lock is held (`mm`), `start < end`, and `self`
        // outlives the call; during it, only the callbacks reach `self`,
        // through `private`, one at a time.
        let ret = unsafe {
            if wp {
                sys::pms_walk_page_range_wp(mm.as_raw(), start, end, private, want)
            } else {
                sys::pms_walk_page_range(mm.as_raw(), start, end, private, want)
            }
        };
        match ret {
            0 => Ok(()),
            e if e == ENOSPC.to_errno() => Err(Stop::Full),
            e => Err(Stop::Error(Error::from_errno(e))),
        }
    }

    /// Reports `[addr, *end)` with `categories`, cutting `*end` back to what
    /// fit; the callback's return value.
    #[inline]
    fn output(&mut self, categories: u64, addr: u64, end: &mut u64) -> c_int {
        match self.out.output(categories, addr, end) {
            Ok(()) => 0,
            Err(Full) => ENOSPC.to_errno(),
        }
    }

    /// The categories of a huge entry with `facts` in this VMA (`of` them:
    /// all its huge entries are THPs or all hugetlb pages), if they match.
    #[inline(always)]
    fn huge_categories(&mut self, facts: Facts, of: fn(Facts, u64) -> u64) -> Option<u64> {
        match self.huge_memo {
            Some((memo, categories, matched)) if memo == facts => matched.then_some(categories),
            _ => {
                let categories = self.vma_categories | of(facts, self.vma_unprotected);
                let matched = self.matcher.page(categories);
                self.huge_memo = Some((facts, categories, matched));
                matched.then_some(categories)
            }
        }
    }

    /// A THP pmd as a whole; `None` when it is to be split to write-protect
    /// part of it, and its ptes walked instead.
    fn thp(&mut self, thp: &ThpEntry<'_>, facts: Facts, start: u64, end: u64) -> Option<c_int> {
        let Some(categories) = self.huge_categories(facts, Facts::thp_categories) else {
            return Some(0);
        };
        let mut end = end;
        let ret = self.output(categories, start, &mut end);
        if start == end || !self.write_protect() || categories & PAGE_IS_WRITTEN == 0 {
            return Some(ret);
        }
        self.thp_protect(thp, start, end).then_some(ret)
    }

    /// Write-protects the reported `[start, end)` of a THP; false when only
    /// part of it was reported, taken back, and the THP is to be split. Out of
    /// line, as it would otherwise weigh on every THP's call.
    #[inline(never)]
    fn thp_protect(&mut self, thp: &ThpEntry<'_>, start: u64, end: u64) -> bool {
        if end != start + HPAGE_PMD_SIZE {
            // Only part of the huge page is reported: protect it as ptes.
            self.out.backout(start, end);
            return false;
        }
        thp.make_wp(start as c_ulong);
        thp.flush(start as c_ulong, end as c_ulong);
        true
    }

    /// Each pte is categorised, matched and reported; a reported written pte
    /// is write-protected when asked. Equal facts give equal categories, so a
    /// run of equal facts is matched and reported once, as one range: a dense
    /// table is one run.
    fn ptes(&mut self, table: &PteTable<'_>, start: u64, runs: &[u16]) -> PteRun {
        let mut run = PteRun {
            ret: 0,
            stop: start,
            first_wp: None,
        };
        for (same, len) in runs.iter().map(|&r| category::run(r)) {
            // The scan's fields are read where used, not kept across the
            // loop in stack slots of the walk's deepest frame.
            core::hint::black_box(&mut *self);
            let addr = run.stop;
            let end = addr + len as u64 * PAGE_SIZE;
            let categories = self.vma_categories | same.pte_categories(self.vma_unprotected);
            if self.matcher.page(categories) {
                let mut fit = end;
                run.ret = self.output(categories, addr, &mut fit);
                if self.write_protect() && categories & PAGE_IS_WRITTEN != 0 && fit > addr {
                    table.make_wp(addr as c_ulong, fit as c_ulong);
                    run.first_wp.get_or_insert(addr);
                }
                if fit != end {
                    // The output is full: the walk resumes at the first page that did not fit.
                    run.stop = fit;
                    break;
                }
            }
            run.stop = end;
        }
        run
    }

    /// Write-protect with no output vector (the "reset" call): every pte not
    /// yet protected, whatever the masks, as C does.
    fn protect_ptes(table: &PteTable<'_>, start: u64, runs: &[u16]) -> PteRun {
        let mut run = PteRun {
            ret: 0,
            stop: start,
            first_wp: None,
        };
        for (same, len) in runs.iter().map(|&r| category::run(r)) {
            let end = run.stop + len as u64 * PAGE_SIZE;
            if !same.is_uffd() {
                table.make_wp(run.stop as c_ulong, end as c_ulong);
                run.first_wp.get_or_insert(run.stop);
            }
            run.stop = end;
        }
        run
    }
}

/// The walk state of a callback, from the walk's private pointer.
///
/// # Safety
///
/// `scan` is the `walk->private` of a walk started by [`Scan::walk`], and the
/// returned reference is not used after the callback returns.
unsafe fn state<'w>(scan: *mut c_void) -> &'w mut Scan<'w> {
    // SAFETY: `walk->private` is the `Scan` of `Scan::walk`, not otherwise
    // accessed while a callback runs (caller contract).
    unsafe { &mut *scan.cast::<Scan<'w>>() }
}

/// `test_walk`: whether to walk a VMA (0), skip it (1), or fail (< 0); to
/// walk it, sets `*tier`, how the op decodes its ptes. The op decodes the
/// VMA's `PMS_VMA_*` facts into `vma_facts`.
///
/// # Safety
///
/// Called only by the `test_walk` op of a walk started from [`Scan::walk`],
/// with its `walk->private` and the facts of `walk->vma`; `tier` is writable.
#[no_mangle]
unsafe extern "C" fn pms_walk_test_vma(
    scan: *mut c_void,
    vma_facts: c_uint,
    tier: *mut c_uint,
) -> c_int {
    // SAFETY: `scan` is the walk's private state (caller contract).
    let scan = unsafe { state(scan) };
    let facts = VmaFacts(vma_facts);
    let wp_allowed = facts.has(VmaFacts::WP_ASYNC);
    if !wp_allowed {
        if scan.flags & PM_SCAN_CHECK_WPASYNC != 0 {
            return EPERM.to_errno();
        }
        // Write-protecting requests skip VMAs they cannot protect.
        if scan.write_protect() {
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
    scan.vma_facts = facts;
    scan.huge_memo = None;
    let decode = Facts::decode_tier(scan.want_facts, facts.has(VmaFacts::ANON));
    // SAFETY: writable (caller contract).
    unsafe { *tier = decode as c_uint };
    scan.vma_unprotected =
        KERNEL_ABI.unprotected(facts.has(VmaFacts::UFFD_WP), facts.has(VmaFacts::UFFD_RWP));
    0
}

/// A THP pmd, locked and decoded into `facts` by the `pmd_entry` op: 0, a
/// negative errno, or [`WALK_SPLIT`] to have it split and its ptes walked.
///
/// # Safety
///
/// Called only by the `pmd_entry` op of a walk started from [`Scan::walk`],
/// with its `walk->private`, `walk->vma` and arguments, the pmd mapping a
/// THP and locked for the call.
#[no_mangle]
unsafe extern "C" fn pms_walk_thp(
    scan: *mut c_void,
    vma: *mut vm_area_struct,
    pmd: *mut Pmd,
    start: c_ulong,
    end: c_ulong,
    facts: u8,
) -> c_int {
    // SAFETY: `scan` is the walk's private state (caller contract).
    let scan = unsafe { state(scan) };
    // SAFETY: `walk->vma`, under the mmap lock for the callback.
    let vma = unsafe { VmaRef::from_raw(vma) };
    // SAFETY: locked THP pmd of `vma` for the call (caller contract).
    let thp = unsafe { ThpEntry::locked(vma, pmd) };
    scan.thp(&thp, Facts(facts), start as u64, end as u64)
        .unwrap_or(WALK_SPLIT)
}

/// Runs of ptes under a pmd that maps no THP, from `start`, mapped and
/// locked by the `pmd_entry` op and decoded into runs of equal facts
/// (`category::run`), handed over [`category::RUNS`] at a time: `n` of them,
/// and whether they are the table's last (`category::handed`). 0 for the
/// next runs; anything else stops the walk (the output is full).
///
/// # Safety
///
/// Called only by the `pmd_entry` op of a walk started from [`Scan::walk`],
/// with its `walk->private`, `walk->vma` and arguments, `pte` the entry of
/// `start` in a table locked for the call, and `runs` that many runs of
/// ptes of the table; the table's calls in order, each from where the last
/// one ended, until the last runs or a call that stops.
#[no_mangle]
unsafe extern "C" fn pms_walk_ptes(
    scan: *mut c_void,
    vma: *mut vm_area_struct,
    pte: NonNull<Pte>,
    start: c_ulong,
    runs: *const u16,
    n: c_uint,
) -> c_int {
    // SAFETY: `scan` is the walk's private state (caller contract).
    let scan = unsafe { state(scan) };
    // SAFETY: `walk->vma`, under the mmap lock for the callback.
    let vma = unsafe { VmaRef::from_raw(vma) };
    // SAFETY: mapped and locked for the call (caller contract).
    let table = unsafe { PteTable::locked(vma, pte, start) };
    let (count, last) = category::handed(n);
    debug_assert!(count <= category::RUNS);
    // SAFETY: `count` runs, written by the op (caller contract).
    let runs = unsafe { core::slice::from_raw_parts(runs, count) };
    let start = start as u64;
    let run = if scan.write_protect() && !scan.out.has_vector() {
        Scan::protect_ptes(&table, start, runs)
    } else {
        scan.ptes(&table, start, runs)
    };
    // The table's protected span, from its first call to its last.
    let first_wp = match scan.table_wp {
        NO_WP => run.first_wp,
        first => Some(first),
    };
    if !last && run.ret == 0 {
        scan.table_wp = first_wp.unwrap_or(NO_WP);
        return 0;
    }
    scan.table_wp = NO_WP;
    if let Some(first) = first_wp {
        table.flush(first as c_ulong, run.stop as c_ulong);
    }
    run.ret
}

/// `pte_hole`: a range with no page table under it (or between VMAs).
///
/// # Safety
///
/// Called only by the `pte_hole` op of a walk started from [`Scan::walk`],
/// with its `walk->private`, `walk->vma` (NULL between VMAs) and arguments.
#[no_mangle]
unsafe extern "C" fn pms_walk_hole(
    scan: *mut c_void,
    vma: *mut vm_area_struct,
    start: c_ulong,
    end: c_ulong,
) -> c_int {
    // SAFETY: `scan` is the walk's private state (caller contract).
    let scan = unsafe { state(scan) };
    if vma.is_null() {
        return 0;
    }
    // SAFETY: `walk->vma`, under the mmap lock for the callback.
    let vma = unsafe { VmaRef::from_raw(vma) };
    // A hole inside a VMA is walked only after `test_walk` let the VMA be.
    let facts = scan.vma_facts;
    let hugetlb = facts.has(VmaFacts::HUGETLB);
    let categories =
        scan.vma_categories | category::hole_categories(facts.has(VmaFacts::UFFD_WP), hugetlb);
    if !scan.matcher.page(categories) {
        return 0;
    }
    let (start, mut end) = (start as u64, end as u64);
    let ret = scan.output(categories, start, &mut end);
    if start == end || !scan.write_protect() {
        return ret;
    }
    let (start, end) = (start as c_ulong, end as c_ulong);
    if hugetlb {
        // SAFETY: a `pte_hole` callback of a hugetlb VMA.
        return match unsafe { hugetlb_hole_wp(vma, start, end) } {
            Ok(()) => ret,
            Err(e) => e.to_errno(),
        };
    }
    // SAFETY: `vma` is the walk's VMA, under the mmap lock, and covers the range.
    let err = unsafe { sys::pms_uffd_wp_range(vma.as_ptr(), start, end - start) };
    if err < 0 {
        err as c_int
    } else {
        ret
    }
}

/// Write-protects the unpopulated hugetlb entries covering `[start, end)`
/// with markers, one huge page at a time, as the C scan does.
///
/// # Safety
///
/// Called from a `pte_hole` callback in the hugetlb `vma` (the walk holds
/// its hugetlb lock for reading).
unsafe fn hugetlb_hole_wp(vma: &VmaRef, start: c_ulong, end: c_ulong) -> Result {
    let psize = pgtable::hugetlb_page_size(vma);
    let mut addr = start & !(psize - 1);
    while addr < end {
        // SAFETY: the caller's contract.
        let entry = unsafe { HugetlbLock::alloc(vma, addr) }?;
        // A none entry has no TLB entry to flush, unless a fault raced in.
        if entry.make_wp(addr) {
            entry.flush(addr, addr + psize);
        }
        addr += psize;
    }
    Ok(())
}

/// `hugetlb_entry`: one hugetlb page, decoded into `facts` by the op (and
/// locked for the call in a write-protecting walk).
///
/// # Safety
///
/// Called only by the `hugetlb_entry` op of a walk started from
/// [`Scan::walk`], with its `walk->private`, `walk->vma` and arguments; in a
/// walk of [`Scan::write_protect`], the entry locked (`pms_hugetlb_lock()`)
/// for the call.
#[no_mangle]
unsafe extern "C" fn pms_walk_hugetlb(
    scan: *mut c_void,
    vma: *mut vm_area_struct,
    ptep: *mut Pte,
    start: c_ulong,
    end: c_ulong,
    facts: u8,
) -> c_int {
    // SAFETY: `scan` is the walk's private state (caller contract).
    let scan = unsafe { state(scan) };
    // SAFETY: `walk->vma`, under the mmap lock (and the hugetlb VMA lock).
    let vma = unsafe { VmaRef::from_raw(vma) };
    let Some(categories) = scan.huge_categories(Facts(facts), Facts::hugetlb_categories) else {
        return 0;
    };
    let (start, mut end) = (start as u64, end as u64);
    let ret = scan.output(categories, start, &mut end);
    if !scan.write_protect() || start == end || categories & PAGE_IS_WRITTEN == 0 {
        return ret;
    }
    // SAFETY: locked for the call in a write-protecting walk (caller contract).
    let entry = unsafe { HugetlbEntry::locked(vma, ptep) };
    if scan.hugetlb_protect(&entry, start, end) {
        ret
    } else {
        0
    }
}

impl Scan<'_> {
    /// Write-protects the reported `[start, end)` of a hugetlb page; false
    /// when only part of it was reported: taken back, and the walk stops
    /// before it. Out of line, as it would otherwise weigh on every call.
    #[inline(never)]
    fn hugetlb_protect(&mut self, entry: &HugetlbEntry<'_>, start: u64, end: u64) -> bool {
        if end != start + entry.page_size() as u64 {
            // A huge page cannot be protected in part.
            self.out.backout(start, end);
            self.out.stop_at(start);
            return false;
        }
        // C flushes a huge page it protected whether it was populated or not.
        entry.make_wp(start as c_ulong);
        entry.flush(start as c_ulong, end as c_ulong);
        true
    }
}
