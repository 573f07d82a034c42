// SPDX-License-Identifier: GPL-2.0

//! The raw FFI of the module: the C functions of `helpers.c`.
//!
//! Nothing above this file declares an `extern` function. Each function is a
//! wrapper of a static inline function or macro, or a trampoline target; their
//! contracts are the ones of the kernel functions they wrap.

use core::marker::{PhantomData, PhantomPinned};
use kernel::bindings::{file, mm_struct, vm_area_struct as Vma};
use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};

/// Declares C types that Rust only handles by pointer (the nomicon's opaque-type pattern).
macro_rules! opaque {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[repr(C)]
        pub(crate) struct $name {
            _data: [u8; 0],
            _marker: PhantomData<(*mut u8, PhantomPinned)>,
        }
    )*};
}

opaque! {
    /// `pmd_t`.
    Pmd;
    /// `pte_t`.
    Pte;
    /// `spinlock_t`.
    Spinlock;
    /// `struct task_struct`.
    Task;
}

// Only pointers to `mm_struct` cross; its bindgen layout has zero-sized
// lockdep members that this lint flags.
#[allow(improper_ctypes)]
extern "C" {
    /// `pidfd_get_task()`: the thread-group leader of a pidfd, with a
    /// reference, or an `ERR_PTR` (`-EBADF`, `-ESRCH`).
    pub(crate) fn pms_pidfd_get_task(pidfd: c_int) -> *mut Task;
    /// `mm_access(task, mode)`: the task's mm with an `mm_users` count, an
    /// `ERR_PTR` (`-EACCES`, `-ESRCH`, `-EINTR`), or NULL (no mm, before 6.13).
    pub(crate) fn pms_mm_access(task: *mut Task, mode: c_uint) -> *mut mm_struct;
    /// `put_task_struct()`.
    pub(crate) fn pms_put_task(task: *mut Task);
    /// `anon_inode_getfd()` of a new read-only, close-on-exec file with the
    /// file operations of `like` and `private` as its private data: the new
    /// fd, or a negative errno (`-EMFILE`, `-ENFILE`, `-ENOMEM`), and then no
    /// file took `private`.
    pub(crate) fn pms_new_fd(like: *const file, private: *mut c_void) -> c_int;
    /// `untagged_addr()` for the current task (without address masking,
    /// the identity, and not built).
    #[cfg(CONFIG_ADDRESS_MASKING)]
    pub(crate) fn pms_untagged_addr(addr: c_ulong) -> c_ulong;
    /// Whether the CPU enforces IBT on kernel code.
    pub(crate) fn pms_ibt_enforced() -> bool;
    /// Whether the kernel was built with kCFI.
    pub(crate) fn pms_kcfi_enabled() -> bool;
    /// Where a kprobe on `name` lands, 0 if none can be placed.
    pub(crate) fn pms_kprobe_address(name: *const c_char) -> c_ulong;
    /// The table of non-exported functions to resolve; sets `*len`.
    pub(crate) fn pms_ksym_slots(len: *mut usize) -> *const KsymSlot;
    /// Points the call of [`pms_kallsyms_lookup`] at `kallsyms_lookup_name()`.
    pub(crate) fn pms_set_kallsyms_lookup(addr: c_ulong);
    /// `kallsyms_lookup_name()`, once set.
    pub(crate) fn pms_kallsyms_lookup(name: *const c_char) -> c_ulong;
    /// Whether calls to resolved functions are direct (static calls).
    pub(crate) fn pms_direct_calls() -> bool;

    /// `walk_page_range()` with the scan's ops, which decode the `want` facts
    /// (ptes by the loop `pms_walk_test_vma()` chose for the VMA) and call
    /// back into walk.rs with `scan`.
    pub(crate) fn pms_walk_page_range(
        mm: *mut mm_struct,
        start: c_ulong,
        end: c_ulong,
        scan: *mut c_void,
        want: u8,
    ) -> c_int;
    /// `kmalloc_array(n, size, GFP_KERNEL)`: NULL when out of memory (or
    /// `n * size` overflows); freed with `kfree()`.
    pub(crate) fn pms_kmalloc_array(n: usize, size: usize) -> *mut c_void;
    /// `fatal_signal_pending(current)`.
    pub(crate) fn pms_fatal_signal_pending() -> bool;

    /// [`pms_walk_page_range`] inside an mmu-notifier protection-change range.
    /// Its ops take the locks write-protection needs.
    pub(crate) fn pms_walk_page_range_wp(
        mm: *mut mm_struct,
        start: c_ulong,
        end: c_ulong,
        scan: *mut c_void,
        want: u8,
    ) -> c_int;
    /// `flush_tlb_range()`.
    pub(crate) fn pms_flush_tlb_range(vma: *mut Vma, start: c_ulong, end: c_ulong);
    /// Sets the uffd bit on entries `index..index + n` of a locked pte table
    /// (markers on empty ones), for addresses from `addr`; no TLB flush.
    pub(crate) fn pms_pte_make_wp(
        vma: *mut Vma,
        addr: c_ulong,
        table: *mut Pte,
        index: c_uint,
        n: c_uint,
    );
    /// Sets the uffd bit on a locked THP pmd; no TLB flush.
    pub(crate) fn pms_thp_make_wp(vma: *mut Vma, addr: c_ulong, pmd: *mut Pmd);
    /// Takes `i_mmap_lock_write` and the hugetlb pte lock of a hugetlb VMA.
    pub(crate) fn pms_hugetlb_lock(vma: *mut Vma, ptep: *mut Pte) -> *mut Spinlock;
    /// Releases [`pms_hugetlb_lock`].
    pub(crate) fn pms_hugetlb_unlock(vma: *mut Vma, ptl: *mut Spinlock);
    /// The huge page size of a hugetlb VMA.
    pub(crate) fn pms_hugetlb_page_size(vma: *mut Vma) -> c_ulong;
    /// Write-protects the locked hugetlb entry at `addr`; no TLB flush.
    /// Returns whether it was populated.
    pub(crate) fn pms_hugetlb_make_wp(vma: *mut Vma, addr: c_ulong, ptep: *mut Pte) -> bool;
    /// `huge_pte_alloc()` of the entry of `addr` of a hugetlb VMA: NULL
    /// when out of memory.
    pub(crate) fn pms_huge_pte_alloc(vma: *mut Vma, addr: c_ulong) -> *mut Pte;
    /// `uffd_wp_range(vma, start, len, true)`.
    pub(crate) fn pms_uffd_wp_range(vma: *mut Vma, start: c_ulong, len: c_ulong) -> c_long;
}

/// One non-exported kernel function the C side calls (`struct pms_ksym_slot`).
#[repr(C)]
pub(crate) struct KsymSlot {
    /// NUL-terminated symbol name.
    pub(crate) name: *const c_char,
    /// Points the C side's static call (or pointer) at the symbol's address.
    pub(crate) set: unsafe extern "C" fn(addr: c_ulong),
    /// A function (checked callable), else a variable (never called).
    pub(crate) is_function: bool,
}
