// SPDX-License-Identifier: GPL-2.0

//! Locked page-table entries, as types: a value of [`PteTable`], [`ThpEntry`]
//! or [`HugetlbEntry`] stands for entries whose lock is held (by the C op
//! that calls the walk callback, for the callback's duration), and is the
//! only way to change them. [`HugetlbLock`] takes and releases the lock itself.

use crate::args::PAGE_SIZE;
use crate::compat::VmaRef;
use crate::sys::{self, Pmd, Pte, Spinlock};
use core::ops::Deref;
use core::ptr::NonNull;
use kernel::ffi::{c_uint, c_ulong};
use kernel::prelude::*;

/// The page-table entries under one pmd, mapped and locked by the caller.
///
/// # Invariants
///
/// `pte` is mapped by `pte_offset_map_lock()` for `vma` at `addr`, and its
/// lock held, as long as this value lives.
pub(crate) struct PteTable<'v> {
    vma: &'v VmaRef,
    /// The address `pte` maps.
    addr: c_ulong,
    pte: NonNull<Pte>,
}

impl<'v> PteTable<'v> {
    /// The table `pte`, which maps `addr` in `vma`.
    ///
    /// # Safety
    ///
    /// `pte` is mapped and locked (`pte_offset_map_lock()`) for `vma` at
    /// `addr`, and stays so as long as the value lives.
    pub(crate) unsafe fn locked(vma: &'v VmaRef, pte: NonNull<Pte>, addr: c_ulong) -> Self {
        // INVARIANT: the caller's contract.
        PteTable { vma, addr, pte }
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

/// A pmd that maps a transparent huge page, locked by the caller.
///
/// # Invariants
///
/// `pmd` is a THP (or THP swap) pmd of `vma` whose lock is held as long as
/// this value lives.
pub(crate) struct ThpEntry<'v> {
    vma: &'v VmaRef,
    pmd: *mut Pmd,
}

impl<'v> ThpEntry<'v> {
    /// # Safety
    ///
    /// `pmd` is a THP pmd of `vma`, locked (`pmd_trans_huge_lock()`) as long
    /// as the value lives.
    pub(crate) unsafe fn locked(vma: &'v VmaRef, pmd: *mut Pmd) -> Self {
        // INVARIANT: the caller's contract.
        ThpEntry { vma, pmd }
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
}

/// A hugetlb entry locked for write-protection (`i_mmap_lock_write` and the
/// hugetlb pte lock, as C takes them).
///
/// # Invariants
///
/// Both locks are held for `ptep`, an entry of `vma`, as long as this value
/// lives.
pub(crate) struct HugetlbEntry<'v> {
    vma: &'v VmaRef,
    ptep: *mut Pte,
}

impl<'v> HugetlbEntry<'v> {
    /// # Safety
    ///
    /// `ptep` is a hugetlb entry of `vma`, locked (`pms_hugetlb_lock()`) as
    /// long as the value lives.
    pub(crate) unsafe fn locked(vma: &'v VmaRef, ptep: *mut Pte) -> Self {
        // INVARIANT: the caller's contract.
        HugetlbEntry { vma, ptep }
    }

    /// The size of the VMA's huge pages.
    pub(crate) fn page_size(&self) -> c_ulong {
        hugetlb_page_size(self.vma)
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

/// A hugetlb entry this side locked ([`HugetlbEntry`]), released on drop.
///
/// # Invariants
///
/// `ptl` is the hugetlb pte lock of `entry`, held with `i_mmap_lock_write`
/// until drop.
pub(crate) struct HugetlbLock<'v> {
    entry: HugetlbEntry<'v>,
    ptl: *mut Spinlock,
}

impl<'v> HugetlbLock<'v> {
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
        // SAFETY: `ptep` is the VMA's entry of `addr`; the walk holds the
        // hugetlb VMA lock for reading (the caller's contract).
        let ptl = unsafe { sys::pms_hugetlb_lock(vma.as_ptr(), ptep) };
        // INVARIANT: locked just now.
        Ok(HugetlbLock {
            // SAFETY: locked until `drop`, and the entry lives no longer.
            entry: unsafe { HugetlbEntry::locked(vma, ptep) },
            ptl,
        })
    }
}

impl<'v> Deref for HugetlbLock<'v> {
    type Target = HugetlbEntry<'v>;

    fn deref(&self) -> &HugetlbEntry<'v> {
        &self.entry
    }
}

impl Drop for HugetlbLock<'_> {
    fn drop(&mut self) {
        // SAFETY: held (type invariant); released once, here.
        unsafe { sys::pms_hugetlb_unlock(self.entry.vma.as_ptr(), self.ptl) };
    }
}

/// The size of the huge pages of the hugetlb VMA `vma`.
pub(crate) fn hugetlb_page_size(vma: &VmaRef) -> c_ulong {
    // SAFETY: a hugetlb VMA, valid under the mmap lock (`VmaRef`).
    unsafe { sys::pms_hugetlb_page_size(vma.as_ptr()) }
}
