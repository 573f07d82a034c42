// SPDX-License-Identifier: GPL-2.0

//! The kernel-crate API the module is written against: that of Linux 7.3.
//!
//! Where the kernel crate has the mm, VMA, file and misc-device abstractions
//! (`cfg(kernel_mm)`, set by `Kbuild` from the kernel tree), these are
//! re-exports of them. On 6.12, whose crate has none of them, `v6_12/` holds
//! adapters with the same names and shapes, so that the rest of the module
//! reads the same on both and dropping 6.12 deletes `v6_12/` and the `cfg`s
//! of this file, nothing else. Every difference between the two kernel
//! crates the module meets is in this directory.

use kernel::ffi::c_void;
use kernel::types::ForeignOwnable;

#[cfg(kernel_mm)]
pub(crate) use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    mm::{virt::VmaRef, Mm, MmWithUser, MmapReadGuard},
    sync::aref::ARef,
    transmute::FromBytes,
    uaccess::UserPtr,
};

#[cfg(kernel_mm)]
pub(crate) use kernel::bindings::PTRACE_MODE_READ_FSCREDS;

#[cfg(not(kernel_mm))]
mod v6_12;
#[cfg(not(kernel_mm))]
pub(crate) use {
    kernel::types::{ARef, FromBytes},
    v6_12::{
        fs::File,
        miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
        mm::{Mm, MmWithUser, MmapReadGuard},
        uaccess::UserPtr,
        virt::VmaRef,
        PTRACE_MODE_READ_FSCREDS,
    },
};

/// [`ForeignOwnable::into_foreign`], as the `*mut` it is from Linux 6.13 on
/// (6.12's is `*const`), for a `struct file`'s `private_data`.
pub(crate) fn into_foreign<P: ForeignOwnable>(owner: P) -> *mut c_void {
    #[cfg(kernel_mm)]
    return owner.into_foreign();
    #[cfg(not(kernel_mm))]
    return owner.into_foreign().cast_mut();
}

/// [`ForeignOwnable::from_foreign`] of a pointer from [`into_foreign`].
///
/// # Safety
///
/// `ptr` came from [`into_foreign`] of a `P`, and is reclaimed only once.
pub(crate) unsafe fn from_foreign<P: ForeignOwnable>(ptr: *mut c_void) -> P {
    #[cfg(not(kernel_mm))]
    let ptr = ptr.cast_const();
    // SAFETY: `ptr` is `into_foreign`'s and not reclaimed before (the caller's contract).
    unsafe { P::from_foreign(ptr) }
}

/// A new reference on the current task's mm, `None` for a kernel thread
/// (`current!().mm()` of Linux 6.16 on).
pub(crate) fn current_mm() -> Option<ARef<Mm>> {
    #[cfg(kernel_mm)]
    return kernel::current!().mm().map(|mm| ARef::from(&**mm));
    #[cfg(not(kernel_mm))]
    return v6_12::mm::current_mm();
}
