// SPDX-License-Identifier: GPL-2.0

//! `kernel::mm::virt::VmaRef` (Linux 6.16 on): a VMA borrowed under the mmap
//! (or VMA) read lock. The subset the scan uses.

use kernel::bindings;
use kernel::types::Opaque;

/// A virtual memory area, valid while the mmap read lock is held.
///
/// # Invariants
///
/// The caller holds the mmap read lock (or the VMA's read lock) for the
/// lifetime of every reference to this type.
#[repr(transparent)]
pub(crate) struct VmaRef {
    vma: Opaque<bindings::vm_area_struct>,
}

impl VmaRef {
    /// Borrows a VMA.
    ///
    /// # Safety
    ///
    /// `vma` is valid and its mmap or VMA read lock (or stronger) is held for `'a`.
    #[inline]
    pub(crate) unsafe fn from_raw<'a>(vma: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: the caller's contract; `VmaRef` is transparent over the struct.
        unsafe { &*vma.cast() }
    }

    /// The raw pointer, for the C side.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.vma.get()
    }
}
