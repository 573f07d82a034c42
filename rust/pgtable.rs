// SPDX-License-Identifier: GPL-2.0

//! Locked page tables, as types: a value of [`PteTable`] or [`ThpLock`] is
//! the page-table lock, released on drop, and the only way to decode entries.

use crate::args::PAGE_SIZE;
use crate::category::{DecodeTier, Facts};
use crate::compat::VmaRef;
use crate::sys::{self, Pmd, Pte, Spinlock};
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use kernel::ffi::{c_uint, c_ulong};
use kernel::prelude::*;

/// The page-table entries under one pmd, mapped and locked.
///
/// # Invariants
///
/// `pte` is mapped by `pte_offset_map_lock()` for `vma` and `ptl` is held,
/// until drop.
pub(crate) struct PteTable<'v> {
    vma: &'v VmaRef,
    /// The address `pte` maps.
    addr: c_ulong,
    pte: NonNull<Pte>,
    ptl: *mut Spinlock,
}

impl<'v> PteTable<'v> {
    /// Maps and locks the ptes under `pmd` from `addr`; `None` if the table
    /// went away under us (the caller retries the pmd).
    ///
    /// # Safety
    ///
    /// `pmd` is a pmd of `vma` covering `addr`.
    pub(crate) unsafe fn map_lock(vma: &'v VmaRef, pmd: *mut Pmd, addr: c_ulong) -> Option<Self> {
        let mut ptl = core::ptr::null_mut();
        // SAFETY: the caller's contract; the mmap lock is held (`VmaRef`).
        let pte =
            NonNull::new(unsafe { sys::pms_pte_map_lock(vma.as_ptr(), pmd, addr, &mut ptl) })?;
        // INVARIANT: mapped and locked just now.
        Some(PteTable {
            vma,
            addr,
            pte,
            ptl,
        })
    }

    /// Decodes one fact byte per entry into `buf`, from the mapped address
    /// on, and returns them; of the facts, at least those in `want`
    /// (`Facts::needed_for`), by the loop `tier` (`Facts::decode_tier` of
    /// `want`). `buf` need not be initialised: it is all written.
    ///
    /// `buf` must not reach past the pmd (the walker's range never does).
    pub(crate) fn facts<'b>(
        &self,
        buf: &'b mut [MaybeUninit<u8>],
        want: u8,
        tier: DecodeTier,
    ) -> &'b [u8] {
        // SAFETY: the table is mapped and locked (type invariant); `buf.len()`
        // entries from `addr` lie under one pmd (the caller's range).
        unsafe {
            sys::pms_pte_facts(
                self.vma.as_ptr(),
                self.addr,
                self.pte.as_ptr(),
                buf.len() as c_uint,
                want,
                tier as c_uint,
                buf.as_mut_ptr().cast::<u8>(),
            )
        };
        // SAFETY: `pms_pte_facts` wrote all `buf.len()` bytes.
        unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), buf.len()) }
    }

    /// Write-protects the entries of `[addr, end)`, addresses of this
    /// table at or after the mapped one (the TLB is the caller's to flush).
    pub(crate) fn make_wp(&self, addr: c_ulong, end: c_ulong) {
        // `Pte` is opaque to Rust (zero-sized): C indexes the table.
        let index = ((addr - self.addr) / PAGE_SIZE as c_ulong) as c_uint;
        let n = ((end - addr) / PAGE_SIZE as c_ulong) as c_uint;
        // SAFETY: locked (type invariant); `index..index + n` is inside the
        // table, as `[addr, end)` is inside the caller's range under this pmd.
        unsafe { sys::pms_pte_make_wp(self.vma.as_ptr(), addr, self.pte.as_ptr(), index, n) };
    }

    /// Flushes the TLB for `[start, end)` of this table's VMA.
    pub(crate) fn flush(&self, start: c_ulong, end: c_ulong) {
        // SAFETY: the VMA is valid under the mmap lock (`VmaRef`).
        unsafe { sys::pms_flush_tlb_range(self.vma.as_ptr(), start, end) };
    }
}

impl Drop for PteTable<'_> {
    fn drop(&mut self) {
        // SAFETY: mapped and locked (type invariant); undone once, here.
        unsafe { sys::pms_pte_unmap_unlock(self.pte.as_ptr(), self.ptl) };
    }
}

/// The lock of a pmd that maps a transparent huge page.
///
/// # Invariants
///
/// `ptl` is the held lock of `pmd`, a THP (or THP swap) pmd of `vma`, until drop.
pub(crate) struct ThpLock<'v> {
    vma: &'v VmaRef,
    pmd: *mut Pmd,
    ptl: NonNull<Spinlock>,
    facts: Facts,
}

impl<'v> ThpLock<'v> {
    /// Locks `pmd` if it maps a THP (`pmd_trans_huge_lock()`) and decodes
    /// it; `addr` is the address it maps, `want` the facts needed.
    ///
    /// # Safety
    ///
    /// `pmd` is a pmd of `vma`.
    pub(crate) unsafe fn new(
        vma: &'v VmaRef,
        pmd: *mut Pmd,
        addr: c_ulong,
        want: u8,
    ) -> Option<Self> {
        let mut facts = 0;
        // SAFETY: the caller's contract, the mmap lock (`VmaRef`); `facts` is writable.
        let ptl =
            NonNull::new(unsafe { sys::pms_thp_lock(pmd, vma.as_ptr(), addr, want, &mut facts) })?;
        // INVARIANT: locked just now.
        Some(ThpLock {
            vma,
            pmd,
            ptl,
            facts: Facts(facts),
        })
    }

    /// The pmd's facts, decoded under the lock.
    pub(crate) fn facts(&self) -> Facts {
        self.facts
    }

    /// Write-protects the whole huge page at `addr` (the TLB is the
    /// caller's to flush, under the lock).
    pub(crate) fn make_wp(&self, addr: c_ulong) {
        // SAFETY: the pmd is locked and maps a THP of `vma` (type invariant).
        unsafe { sys::pms_thp_make_wp(self.vma.as_ptr(), addr, self.pmd) };
    }

    /// Flushes the TLB for `[start, end)` of the VMA.
    pub(crate) fn flush(&self, start: c_ulong, end: c_ulong) {
        // SAFETY: the VMA is valid under the mmap lock (`VmaRef`).
        unsafe { sys::pms_flush_tlb_range(self.vma.as_ptr(), start, end) };
    }

    /// Unlocks, then splits the huge page into a page table of ptes.
    pub(crate) fn split(self, addr: c_ulong) {
        let (vma, pmd) = (self.vma, self.pmd);
        drop(self);
        // SAFETY: `pmd` is a pmd of `vma` under the mmap lock; its lock is released.
        unsafe { sys::pms_thp_split(vma.as_ptr(), pmd, addr) };
    }
}

impl Drop for ThpLock<'_> {
    fn drop(&mut self) {
        // SAFETY: held (type invariant); released once, here.
        unsafe { sys::pms_spin_unlock(self.ptl.as_ptr()) };
    }
}

/// A hugetlb entry locked for write-protection (`i_mmap_lock_write` and the
/// hugetlb pte lock, as C takes them).
///
/// # Invariants
///
/// Both locks are held for `ptep`, an entry of `vma`, until drop.
pub(crate) struct HugetlbLock<'v> {
    vma: &'v VmaRef,
    ptep: *mut Pte,
    ptl: *mut Spinlock,
}

impl<'v> HugetlbLock<'v> {
    /// # Safety
    ///
    /// `ptep` is a hugetlb entry of `vma`, and the walk holds the VMA's
    /// hugetlb lock for reading (its `hugetlb_entry` and `pte_hole` callbacks).
    pub(crate) unsafe fn new(vma: &'v VmaRef, ptep: *mut Pte) -> Self {
        // SAFETY: the caller's contract.
        let ptl = unsafe { sys::pms_hugetlb_lock(vma.as_ptr(), ptep) };
        // INVARIANT: locked just now.
        HugetlbLock { vma, ptep, ptl }
    }

    /// Decodes the entry, which maps `addr`: at least the `want` facts.
    pub(crate) fn facts(&self, addr: c_ulong, want: u8) -> Facts {
        // SAFETY: a locked entry of the walk (type invariant).
        unsafe { hugetlb_facts(self.vma, addr, self.ptep, want) }
    }

    /// The size of the VMA's huge pages.
    pub(crate) fn page_size(&self) -> c_ulong {
        hugetlb_page_size(self.vma)
    }

    /// The entry of `addr` in a hugetlb `vma`, allocated if need be, locked;
    /// `ENOMEM` when no page table could be allocated.
    ///
    /// # Safety
    ///
    /// The walk holds the VMA's hugetlb lock for reading (a `pte_hole`
    /// callback in a hugetlb VMA).
    pub(crate) unsafe fn alloc(vma: &'v VmaRef, addr: c_ulong) -> Result<Self> {
        // SAFETY: a hugetlb VMA under the mmap lock (`VmaRef`).
        let ptep = unsafe { sys::pms_huge_pte_alloc(vma.as_ptr(), addr) };
        if ptep.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `ptep` is the VMA's entry of `addr`; the caller's contract.
        Ok(unsafe { HugetlbLock::new(vma, ptep) })
    }

    /// Write-protects the huge page at `addr` (the TLB is the caller's to
    /// flush, under the lock); whether the entry was populated.
    pub(crate) fn make_wp(&self, addr: c_ulong) -> bool {
        // SAFETY: a locked entry of the walk (type invariant).
        unsafe { sys::pms_hugetlb_make_wp(self.vma.as_ptr(), addr, self.ptep) }
    }

    /// Flushes the TLB for `[start, end)` of the VMA (huge-page stride).
    pub(crate) fn flush(&self, start: c_ulong, end: c_ulong) {
        // SAFETY: the VMA is valid under the mmap lock (`VmaRef`).
        unsafe { sys::pms_flush_tlb_range(self.vma.as_ptr(), start, end) };
    }
}

impl Drop for HugetlbLock<'_> {
    fn drop(&mut self) {
        // SAFETY: held (type invariant); released once, here.
        unsafe { sys::pms_hugetlb_unlock(self.vma.as_ptr(), self.ptl) };
    }
}

/// The size of the huge pages of the hugetlb VMA `vma`.
pub(crate) fn hugetlb_page_size(vma: &VmaRef) -> c_ulong {
    // SAFETY: a hugetlb VMA, valid under the mmap lock (`VmaRef`).
    unsafe { sys::pms_hugetlb_page_size(vma.as_ptr()) }
}

/// Decodes the hugetlb entry `ptep` of `vma` at `addr`: at least the `want` facts.
///
/// # Safety
///
/// Called from the `hugetlb_entry` callback of a walk with its VMA and
/// arguments; the walk holds the hugetlb VMA lock.
pub(crate) unsafe fn hugetlb_facts(vma: &VmaRef, addr: c_ulong, ptep: *mut Pte, want: u8) -> Facts {
    // SAFETY: the caller's contract is the function's.
    Facts(unsafe { sys::pms_hugetlb_facts(vma.as_ptr(), addr, ptep, want) })
}

/// Lazy MMU mode (`arch_enter_lazy_mmu_mode()`), which batches entry updates
/// under a page-table lock, until drop.
pub(crate) struct LazyMmu(());

impl LazyMmu {
    pub(crate) fn enter() -> Self {
        // SAFETY: left exactly once, by `drop`.
        unsafe { sys::pms_lazy_mmu_enter() };
        LazyMmu(())
    }
}

impl Drop for LazyMmu {
    fn drop(&mut self) {
        // SAFETY: entered by `enter`.
        unsafe { sys::pms_lazy_mmu_leave() };
    }
}
