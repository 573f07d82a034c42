// SPDX-License-Identifier: GPL-2.0

//! The raw FFI of the module: the C functions of `helpers.c`.
//!
//! Nothing above this file declares an `extern` function. Each function is a
//! wrapper of a static inline function or macro, or a trampoline target; their
//! contracts are the ones of the kernel functions they wrap.

use kernel::bindings::mm_struct;
use kernel::ffi::{c_char, c_int, c_ulong, c_void};

// Only pointers to `mm_struct` cross; its bindgen layout has zero-sized
// lockdep members that this lint flags.
#[allow(improper_ctypes)]
extern "C" {
    /// `misc_register()` of `/dev/pagemap_scan`.
    pub(crate) fn pms_misc_register() -> c_int;
    /// `misc_deregister()` of `/dev/pagemap_scan`.
    pub(crate) fn pms_misc_deregister();
    /// `current->mm` (no reference taken; NULL for a kernel thread).
    pub(crate) fn pms_current_mm() -> *mut mm_struct;
    /// `mmgrab()`.
    pub(crate) fn pms_mmgrab(mm: *mut mm_struct);
    /// `mmdrop()`.
    pub(crate) fn pms_mmdrop(mm: *mut mm_struct);
    /// `mmget()`.
    pub(crate) fn pms_mmget(mm: *mut mm_struct);
    /// `mmget_not_zero()`.
    pub(crate) fn pms_mmget_not_zero(mm: *mut mm_struct) -> bool;
    /// `untagged_addr()` for the current task.
    pub(crate) fn pms_untagged_addr(addr: c_ulong) -> c_ulong;
    /// `access_ok()` for the current task.
    pub(crate) fn pms_access_ok(addr: c_ulong, size: c_ulong) -> bool;
    /// Whether the CPU enforces IBT on kernel code.
    pub(crate) fn pms_ibt_enforced() -> bool;
    /// Whether the kernel was built with kCFI.
    pub(crate) fn pms_kcfi_enabled() -> bool;
    /// Where a kprobe on `name` lands, 0 if none can be placed.
    pub(crate) fn pms_kprobe_address(name: *const c_char) -> c_ulong;
    /// The table of non-exported functions to resolve; sets `*len`.
    pub(crate) fn pms_ksym_slots(len: *mut usize) -> *const KsymSlot;
}

/// One non-exported kernel function the C side calls (`struct pms_ksym_slot`).
#[repr(C)]
pub(crate) struct KsymSlot {
    /// NUL-terminated symbol name.
    pub(crate) name: *const c_char,
    /// Where the C side keeps the function's address.
    pub(crate) addr: *mut *mut c_void,
}
