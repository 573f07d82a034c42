// SPDX-License-Identifier: GPL-2.0

//! The C side of the 6.12 adapters (`helpers.c` next to this file): static
//! inline functions 6.12's kernel crate has no helper for, and the one
//! `struct miscdevice` (absent from 6.12's bindings).

use kernel::bindings::{file_operations, mm_struct};
use kernel::ffi::{c_char, c_int, c_void};

// Only pointers to `mm_struct` cross; its bindgen layout has zero-sized
// lockdep members that this lint flags.
#[allow(improper_ctypes)]
extern "C" {
    /// Registers the misc device `name` with `fops` (plus owner and
    /// `noop_llseek`); `cookie` is returned by [`pms_misc_cookie`].
    pub(super) fn pms_misc_register(
        fops: *const file_operations,
        name: *const c_char,
        cookie: *mut c_void,
    ) -> c_int;
    /// `misc_deregister()` of the device [`pms_misc_register`] registered.
    pub(super) fn pms_misc_deregister();
    /// The `cookie` of [`pms_misc_register`].
    pub(super) fn pms_misc_cookie() -> *mut c_void;
    /// `current->mm` (no reference taken; NULL for a kernel thread).
    pub(super) fn pms_current_mm() -> *mut mm_struct;
    /// `mmgrab()`.
    pub(super) fn pms_mmgrab(mm: *mut mm_struct);
    /// `mmdrop()`.
    pub(super) fn pms_mmdrop(mm: *mut mm_struct);
    /// `mmget()`.
    pub(super) fn pms_mmget(mm: *mut mm_struct);
    /// `mmget_not_zero()`.
    pub(super) fn pms_mmget_not_zero(mm: *mut mm_struct) -> bool;
    /// `mmap_read_lock()`.
    pub(super) fn pms_mmap_read_lock(mm: *mut mm_struct);
    /// `mmap_read_unlock()`.
    pub(super) fn pms_mmap_read_unlock(mm: *mut mm_struct);
}
