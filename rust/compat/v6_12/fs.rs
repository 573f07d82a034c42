// SPDX-License-Identifier: GPL-2.0

//! `kernel::fs::File` (Linux 6.12 has no file abstraction): the subset the
//! misc device passes to its callbacks.

use kernel::bindings;
use kernel::types::Opaque;

/// An open file, borrowed for the duration of a file operation.
///
/// # Invariants
///
/// Only reached through a reference to a `struct file` that lives (and has a
/// reference held by the caller) for that reference's lifetime.
#[repr(transparent)]
pub(crate) struct File {
    inner: Opaque<bindings::file>,
}

impl File {
    /// Wraps a file for the duration of a file operation.
    ///
    /// # Safety
    ///
    /// `ptr` is a valid file for `'a`.
    pub(crate) unsafe fn from_raw_file<'a>(ptr: *const bindings::file) -> &'a File {
        // SAFETY: `File` is a transparent wrapper of `struct file`, valid for 'a
        // (the caller's contract).
        unsafe { &*ptr.cast() }
    }

    /// The raw `struct file`.
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.inner.get()
    }
}
