// SPDX-License-Identifier: GPL-2.0

//! An open `/dev/pagemap_scan`: the mm it is bound to, and its ioctls.
//!
//! `open` binds the fd to the opener's mm, as opening `/proc/self/pagemap`
//! does; `PMS_IOC_ATTACH_PIDFD` rebinds it to another process's mm under the
//! rule that guards `/proc/PID/pagemap`. A scan works on the mm the fd is
//! bound to when the scan starts; a concurrent rebind affects later scans.

use crate::features;
use crate::mm::Mm;
use crate::scan;
use crate::uapi::{self, PmsFeatures};
use core::mem::size_of;
use core::pin::Pin;
use kernel::alloc::flags::GFP_KERNEL;
use kernel::ffi::{c_int, c_long, c_uint, c_ulong, c_void};
use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::types::{ARef, ForeignOwnable};
use kernel::uaccess::UserSlice;

/// The state of one open fd (`file->private_data`).
#[pin_data]
struct Binding {
    /// The mm that scans walk.
    #[pin]
    mm: Mutex<ARef<Mm>>,
}

impl Binding {
    fn new(mm: ARef<Mm>) -> impl PinInit<Self> {
        pin_init!(Binding {
            mm <- kernel::new_mutex!(mm, "pagemap_scan::Binding::mm"),
        })
    }

    /// A reference on the bound mm, for one call.
    fn mm(&self) -> ARef<Mm> {
        self.mm.lock().clone()
    }

    /// Binds the fd to `mm`; the previous mm is released after the lock.
    fn rebind(&self, mm: ARef<Mm>) {
        let _previous = core::mem::replace(&mut *self.mm.lock(), mm);
    }
}

/// `open`: binds the new fd to the opener's mm. Returns the fd's state or an `ERR_PTR`.
#[no_mangle]
extern "C" fn pms_open() -> *mut c_void {
    let Some(mm) = Mm::current() else {
        return ESRCH.to_ptr();
    };
    match KBox::pin_init(Binding::new(mm), GFP_KERNEL) {
        Ok(binding) => binding.into_foreign().cast_mut(),
        Err(e) => e.to_ptr(),
    }
}

/// `release`: frees the fd's state, dropping its mm reference.
///
/// # Safety
///
/// `state` was returned by [`pms_open`] and is not used again.
#[no_mangle]
unsafe extern "C" fn pms_release(state: *mut c_void) {
    // SAFETY: `state` came from `into_foreign` in `pms_open` and is given back once.
    drop(unsafe { Pin::<KBox<Binding>>::from_foreign(state) });
}

/// `unlocked_ioctl` and `compat_ioctl` (every argument is `__u64` or by value).
///
/// # Safety
///
/// `state` was returned by [`pms_open`] and not yet released.
#[no_mangle]
unsafe extern "C" fn pms_ioctl(state: *mut c_void, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: the state lives until release, which cannot run during an ioctl.
    let binding = unsafe { Pin::<KBox<Binding>>::borrow(state) };
    let ret = match cmd {
        uapi::PAGEMAP_SCAN => scan::pagemap_scan(&binding.mm(), arg),
        uapi::PMS_IOC_GET_FEATURES => get_features(arg),
        uapi::PMS_IOC_ATTACH_PIDFD => attach_pidfd(&binding, arg),
        _ => Err(ENOTTY),
    };
    match ret {
        Ok(n) => n as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// `PMS_IOC_GET_FEATURES`: fills the caller's `struct pms_features`.
fn get_features(uarg: usize) -> Result<isize> {
    let caller_size = UserSlice::new(uarg, size_of::<u64>())
        .reader()
        .read::<u64>()?;
    let reply = features::reply(caller_size).ok_or(EINVAL)?;
    let mut out = UserSlice::new(uarg, reply.filled + reply.zeroed).writer();
    // SAFETY: `PmsFeatures` is `repr(C)` with four `u64`: no padding, every
    // byte initialised; `filled` is at most its size (`features::reply`).
    let bytes = unsafe {
        core::slice::from_raw_parts(
            core::ptr::from_ref(&reply.features).cast::<u8>(),
            reply.filled.min(size_of::<PmsFeatures>()),
        )
    };
    out.write_slice(bytes)?;
    let zeros = [0u8; 64];
    let mut left = reply.zeroed;
    while left > 0 {
        let n = left.min(zeros.len());
        out.write_slice(&zeros[..n])?;
        left -= n;
    }
    Ok(0)
}

/// `PMS_IOC_ATTACH_PIDFD`: rebinds the fd to the mm of the pidfd in `arg`.
fn attach_pidfd(binding: &Binding, arg: c_ulong) -> Result<isize> {
    // An argument that is no int cannot be an fd.
    let pidfd = c_int::try_from(arg).map_err(|_| EBADF)?;
    binding.rebind(Mm::of_pidfd(pidfd)?);
    Ok(0)
}
