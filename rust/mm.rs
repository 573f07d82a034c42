// SPDX-License-Identifier: GPL-2.0

//! Typed references on an address space, after `rust/kernel/mm.rs` (Linux 6.16),
//! which 6.12 does not have.
//!
//! An fd holds an [`ARef<Mm>`] (`mmgrab`: the struct stays, the address space
//! may be torn down at exit); each ioctl upgrades it to an [`ARef<MmWithUser>`]
//! (`mmget`: the page tables stay) for its duration, or fails with `-ESRCH`.

use crate::sys;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::from_err_ptr;
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::types::{ARef, AlwaysRefCounted, Opaque};

/// An `mm_struct` kept alive by `mm_count`.
///
/// # Invariants
///
/// Values of this type are only reached through a reference or an [`ARef`] on
/// a live `mm_struct`, with `mm_count` elevated for the reference's lifetime.
#[repr(transparent)]
pub(crate) struct Mm {
    mm: Opaque<bindings::mm_struct>,
}

// SAFETY: `mmgrab`/`mmdrop` keep the struct alive; dropping the last count frees it.
unsafe impl AlwaysRefCounted for Mm {
    fn inc_ref(&self) {
        // SAFETY: `self` is a live mm_struct (type invariant).
        unsafe { sys::pms_mmgrab(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller passes a count it owns on a live mm_struct.
        unsafe { sys::pms_mmdrop(obj.cast::<bindings::mm_struct>().as_ptr()) };
    }
}

// SAFETY: `mmgrab` and `mmdrop` may be called from any thread.
unsafe impl Send for Mm {}
// SAFETY: a shared `&Mm` only takes counts and locks, which are thread-safe.
unsafe impl Sync for Mm {}

impl Mm {
    /// A new reference on the current task's mm, `None` for a kernel thread.
    pub(crate) fn current() -> Option<ARef<Mm>> {
        // SAFETY: reading `current->mm` is always allowed; the task's own mm
        // stays alive while the task runs, long enough to take a count below.
        let mm = NonNull::new(unsafe { sys::pms_current_mm() })?.cast::<Mm>();
        // SAFETY: `mm` is live (above); `ARef::from` takes its own count.
        Some(ARef::from(unsafe { mm.as_ref() }))
    }

    /// The mm of the process `pidfd` refers to, if the caller may
    /// ptrace-read it (`PTRACE_MODE_READ_FSCREDS`, as `/proc/PID/pagemap`).
    ///
    /// Errors: `-EBADF` (not a pidfd), `-ESRCH` (the process is gone or has
    /// no mm), `-EACCES` (not allowed), `-EINTR`.
    pub(crate) fn of_pidfd(pidfd: c_int) -> Result<ARef<Mm>> {
        // SAFETY: any int is accepted; a non-pidfd gives an error pointer.
        let task = from_err_ptr(unsafe { sys::pms_pidfd_get_task(pidfd) })?;
        // SAFETY: `task` is referenced until the `pms_put_task` below.
        let mm = unsafe { sys::pms_mm_access_read(task) };
        // SAFETY: drops the reference `pms_pidfd_get_task` took.
        unsafe { sys::pms_put_task(task) };
        let mm = from_err_ptr(mm)?;
        // SAFETY: `mm_access` returned an `mm_users` count, owned from here on.
        let user = unsafe { ARef::from_raw(NonNull::new_unchecked(mm.cast::<MmWithUser>())) };
        // The fd keeps only `mm_count`, as it does for its opener's mm; the
        // `mm_users` count is dropped when `user` goes.
        Ok(ARef::from(&**user))
    }

    /// The raw pointer, for the C side.
    pub(crate) fn as_raw(&self) -> *mut bindings::mm_struct {
        self.mm.get()
    }

    /// Pins the address space for the caller's use, `None` once it exited.
    pub(crate) fn get_user(&self) -> Option<ARef<MmWithUser>> {
        // SAFETY: `self` is a live mm_struct (type invariant).
        if !unsafe { sys::pms_mmget_not_zero(self.as_raw()) } {
            return None;
        }
        // INVARIANT: `mmget_not_zero` succeeded, the new `mm_users` count is
        // owned by the returned `ARef`.
        // SAFETY: `MmWithUser` is a transparent wrapper of `Mm`.
        Some(unsafe { ARef::from_raw(NonNull::from(self).cast::<MmWithUser>()) })
    }
}

/// An `mm_struct` whose address space is kept alive by `mm_users`.
///
/// # Invariants
///
/// `mm_users` is elevated for the lifetime of every reference to this type.
#[repr(transparent)]
pub(crate) struct MmWithUser {
    mm: Mm,
}

// SAFETY: `mmget`/`mmput` keep the address space alive, `mmput` of the last user tears it down.
unsafe impl AlwaysRefCounted for MmWithUser {
    fn inc_ref(&self) {
        // SAFETY: `mm_users` is elevated (type invariant), so `mmget` is allowed.
        unsafe { sys::pms_mmget(self.mm.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller passes an `mm_users` count it owns.
        unsafe { bindings::mmput(obj.cast::<bindings::mm_struct>().as_ptr()) };
    }
}

impl core::ops::Deref for MmWithUser {
    type Target = Mm;

    fn deref(&self) -> &Mm {
        &self.mm
    }
}

impl MmWithUser {
    /// Takes the mmap lock for reading; fails with `-EINTR` on a fatal signal.
    pub(crate) fn mmap_read_lock_killable(&self) -> Result<MmapReadGuard<'_>> {
        // SAFETY: `mm_users` is elevated (type invariant), so the mm is usable.
        let ret = unsafe { sys::pms_mmap_read_lock_killable(self.as_raw()) };
        kernel::error::to_result(ret)?;
        // INVARIANT: the lock was just taken; the guard releases it.
        Ok(MmapReadGuard { mm: self })
    }
}

/// The mmap lock of an address space, held for reading.
///
/// # Invariants
///
/// The read lock of `mm` is held for the lifetime of this value.
pub(crate) struct MmapReadGuard<'a> {
    mm: &'a MmWithUser,
}

impl MmapReadGuard<'_> {
    /// The locked mm, for the C side.
    pub(crate) fn as_raw(&self) -> *mut bindings::mm_struct {
        self.mm.as_raw()
    }
}

impl Drop for MmapReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the read lock is held (type invariant) and released once, here.
        unsafe { sys::pms_mmap_read_unlock(self.mm.as_raw()) };
    }
}
