// SPDX-License-Identifier: GPL-2.0

//! Locked page tables, as types: a value of [`PteTable`] or [`ThpLock`] is
//! the page-table lock, released on drop, and the only way to decode entries.

use crate::category::Facts;
use crate::sys::{self, MmWalk, Pmd, Pte, Spinlock, Vma};
use core::ptr::NonNull;
use kernel::ffi::{c_uint, c_ulong};

/// The page-table entries under one pmd, mapped and locked.
///
/// # Invariants
///
/// `pte` is mapped by `pte_offset_map_lock()` for `vma` and `ptl` is held,
/// until drop.
pub(crate) struct PteTable {
    vma: *mut Vma,
    pte: NonNull<Pte>,
    ptl: *mut Spinlock,
}

impl PteTable {
    /// Maps and locks the ptes under `pmd` from `addr`; `None` if the table
    /// went away under us (the caller retries the pmd).
    ///
    /// # Safety
    ///
    /// `pmd` is a pmd of `vma` covering `addr`, and the mmap lock is held.
    pub(crate) unsafe fn map_lock(vma: *mut Vma, pmd: *mut Pmd, addr: c_ulong) -> Option<Self> {
        let mut ptl = core::ptr::null_mut();
        // SAFETY: the caller's contract is the function's.
        let pte = NonNull::new(unsafe { sys::pms_pte_map_lock(vma, pmd, addr, &mut ptl) })?;
        // INVARIANT: mapped and locked just now.
        Some(PteTable { vma, pte, ptl })
    }

    /// Decodes one fact byte per entry into `facts`, for addresses from `addr`,
    /// the address this table was mapped at.
    pub(crate) fn facts(&self, addr: c_ulong, facts: &mut [u8], want_file: bool) {
        // SAFETY: the table is mapped and locked (type invariant); `facts.len()`
        // entries from `addr` lie under one pmd, which is the caller's range.
        unsafe {
            sys::pms_pte_facts(
                self.vma,
                addr,
                self.pte.as_ptr(),
                facts.len() as c_uint,
                want_file,
                facts.as_mut_ptr(),
            )
        };
    }
}

impl Drop for PteTable {
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
pub(crate) struct ThpLock {
    vma: *mut Vma,
    pmd: *mut Pmd,
    ptl: NonNull<Spinlock>,
}

impl ThpLock {
    /// Locks `pmd` if it maps a THP (`pmd_trans_huge_lock()`).
    ///
    /// # Safety
    ///
    /// `pmd` is a pmd of `vma` and the mmap lock is held.
    pub(crate) unsafe fn new(vma: *mut Vma, pmd: *mut Pmd) -> Option<Self> {
        // SAFETY: the caller's contract is the function's.
        let ptl = NonNull::new(unsafe { sys::pms_thp_lock(pmd, vma) })?;
        // INVARIANT: locked just now.
        Some(ThpLock { vma, pmd, ptl })
    }

    /// Decodes the pmd, which maps `addr`.
    pub(crate) fn facts(&self, addr: c_ulong, want_file: bool) -> Facts {
        // SAFETY: the pmd is locked and maps a THP of `vma` (type invariant).
        Facts(unsafe { sys::pms_thp_facts(self.vma, addr, self.pmd, want_file) })
    }
}

impl Drop for ThpLock {
    fn drop(&mut self) {
        // SAFETY: held (type invariant); released once, here.
        unsafe { sys::pms_spin_unlock(self.ptl.as_ptr()) };
    }
}

/// Decodes the hugetlb entry `ptep` of the walk's VMA at `addr`.
///
/// # Safety
///
/// Called from the `hugetlb_entry` callback of `walk` with its arguments;
/// the walk holds the hugetlb VMA lock.
pub(crate) unsafe fn hugetlb_facts(walk: *mut MmWalk, addr: c_ulong, ptep: *mut Pte) -> Facts {
    // SAFETY: the caller's contract is the function's.
    Facts(unsafe { sys::pms_hugetlb_facts(walk, addr, ptep) })
}
