// SPDX-License-Identifier: GPL-2.0

//! `kernel::mm` (Linux 6.16 on): [`Mm`] (a reference on `mm_count`),
//! [`MmWithUser`] (on `mm_users`), [`MmapReadGuard`]; the subset the module
//! uses, with upstream's names, invariants and lock semantics.

use super::sys;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::types::{ARef, AlwaysRefCounted, Opaque};

/// An `mm_struct` kept alive by `mm_count`: the struct stays, the address
/// space may be torn down at exit.
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
// SAFETY: a shared `&Mm` only takes counts, which is thread-safe.
unsafe impl Sync for Mm {}

impl Mm {
    /// The raw pointer.
    #[inline]
    pub(crate) fn as_raw(&self) -> *mut bindings::mm_struct {
        self.mm.get()
    }

    /// Pins the address space for the caller's use, `None` once it exited.
    #[inline]
    pub(crate) fn mmget_not_zero(&self) -> Option<ARef<MmWithUser>> {
        // SAFETY: `self` is a live mm_struct (type invariant).
        if !unsafe { sys::pms_mmget_not_zero(self.as_raw()) } {
            return None;
        }
        // SAFETY: `mmget_not_zero` took an `mm_users` count, owned by the `ARef`.
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
        unsafe { sys::pms_mmget(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller passes an `mm_users` count it owns.
        unsafe { bindings::mmput(obj.cast::<bindings::mm_struct>().as_ptr()) };
    }
}

// SAFETY: `mmget` and `mmput` may be called from any thread.
unsafe impl Send for MmWithUser {}
// SAFETY: a shared `&MmWithUser` only takes counts and locks, which are thread-safe.
unsafe impl Sync for MmWithUser {}

impl core::ops::Deref for MmWithUser {
    type Target = Mm;

    #[inline]
    fn deref(&self) -> &Mm {
        &self.mm
    }
}

impl MmWithUser {
    /// Takes the mmap lock for reading.
    #[inline]
    pub(crate) fn mmap_read_lock(&self) -> MmapReadGuard<'_> {
        // SAFETY: `mm_users` is elevated (type invariant), so the mm is usable.
        unsafe { sys::pms_mmap_read_lock(self.as_raw()) };
        // INVARIANT: the lock was just taken; the guard releases it.
        MmapReadGuard {
            mm: self,
            _nts: PhantomData,
        }
    }
}

/// The mmap lock of an address space, held for reading.
///
/// # Invariants
///
/// The read lock of `mm` is held for the lifetime of this value.
pub(crate) struct MmapReadGuard<'a> {
    mm: &'a MmWithUser,
    /// Unlocked on the thread that locked it (upstream's `NotThreadSafe`).
    _nts: PhantomData<*mut ()>,
}

impl Drop for MmapReadGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the read lock is held (type invariant) and released once, here.
        unsafe { sys::pms_mmap_read_unlock(self.mm.as_raw()) };
    }
}

/// A new reference on the current task's mm, `None` for a kernel thread
/// (`current!().mm()` upstream, which 6.12's `Task` lacks).
pub(crate) fn current_mm() -> Option<ARef<Mm>> {
    // SAFETY: reading `current->mm` is always allowed; the task's own mm
    // stays alive while the task runs, long enough to take a count below.
    let mm = NonNull::new(unsafe { sys::pms_current_mm() })?.cast::<Mm>();
    // SAFETY: `mm` is live (above); `ARef::from` takes its own count.
    Some(ARef::from(unsafe { mm.as_ref() }))
}
