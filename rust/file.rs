// SPDX-License-Identifier: GPL-2.0

//! An open `/dev/pagemap_scan`: the mm it is bound to, and its ioctls.
//!
//! `open` binds the fd to the opener's mm, as opening `/proc/self/pagemap`
//! does; `PMS_IOC_ATTACH_PIDFD` returns a new fd bound to another process's
//! mm under the rule that guards `/proc/PID/pagemap`, as opening that does.
//! The binding of an open file never changes: every copy of an fd (`dup`,
//! `fork`, `SCM_RIGHTS`) scans the mm it was created for.

use crate::compat::UserPtr;
use crate::compat::{self, ARef, File, MiscDevice, MiscDeviceRegistration, Mm, MmWithUser};
use crate::features;
use crate::scan;
use crate::sys;
use crate::uapi::{self, PmsFeatures};
use crate::walk::KERNEL_ABI;
use core::mem::size_of;
use core::ptr::NonNull;
use kernel::error::{from_err_ptr, to_result};
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

/// The state of one open file (`file->private_data`): of the device, or
/// made by `PMS_IOC_ATTACH_PIDFD`.
///
/// # Invariants
///
/// `mm` is the mm the file was bound to when it was made; it never changes.
pub(crate) struct PagemapScanFile {
    /// The mm that scans walk.
    mm: ARef<Mm>,
}

impl PagemapScanFile {
    /// A new state bound to `mm`.
    fn new(mm: ARef<Mm>) -> Result<KBox<Self>> {
        // INVARIANT: bound once, here.
        Ok(KBox::new(PagemapScanFile { mm }, GFP_KERNEL)?)
    }

    fn dispatch(&self, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            uapi::PAGEMAP_SCAN => scan::pagemap_scan(&self.mm, arg),
            uapi::PMS_IOC_GET_FEATURES => get_features(arg),
            uapi::PMS_IOC_ATTACH_PIDFD => attach_pidfd(file, arg),
            _ => Err(ENOTTY),
        }
    }
}

#[vtable]
impl MiscDevice for PagemapScanFile {
    type Ptr = KBox<Self>;

    /// Binds the new fd to the opener's mm.
    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr> {
        Self::new(compat::current_mm().ok_or(ESRCH)?)
    }

    fn ioctl(this: &Self, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        this.dispatch(file, cmd, arg)
    }

    /// The ABI has only `__u64` fields and by-value arguments: compat callers
    /// use it unchanged, as in C.
    #[cfg(CONFIG_COMPAT)]
    fn compat_ioctl(this: &Self, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        this.dispatch(file, cmd, arg)
    }
}

/// `PMS_IOC_GET_FEATURES`: fills the caller's `struct pms_features`. Out
/// of line, off the stack of `PAGEMAP_SCAN`'s walk (as `attach_pidfd`).
#[inline(never)]
fn get_features(uarg: usize) -> Result<isize> {
    let caller_size = UserSlice::new(UserPtr::from_addr(uarg), size_of::<u64>())
        .reader()
        .read::<u64>()?;
    let reply = features::reply(caller_size, &KERNEL_ABI).ok_or(EINVAL)?;
    let mut out = UserSlice::new(UserPtr::from_addr(uarg), reply.filled + reply.zeroed).writer();
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

/// `PMS_IOC_ATTACH_PIDFD`: a new fd, bound to the mm of the pidfd in `arg`,
/// on a new file of the device (`file` is one); `file` stays as it is.
#[inline(never)]
fn attach_pidfd(file: &File, arg: usize) -> Result<isize> {
    // An argument that is no int cannot be an fd.
    let pidfd = c_int::try_from(arg).map_err(|_| EBADF)?;
    let state = PagemapScanFile::new(mm_of_pidfd(pidfd)?)?;
    let private = compat::into_foreign(state);
    // SAFETY: `file` is an open file of the device (an ioctl of it runs), so
    // its file operations are `PagemapScanFile`'s, whose callbacks take the
    // private data as the `Ptr` that `private` is; the new file owns it.
    let fd = unsafe { sys::pms_new_fd(file.as_ptr(), private) };
    if let Err(e) = to_result(fd) {
        // SAFETY: on error no file took `private` (`pms_new_fd`); it is
        // reclaimed once, here, with the mm reference it holds.
        drop(unsafe { compat::from_foreign::<KBox<PagemapScanFile>>(private) });
        return Err(e);
    }
    // Nothing of the new file is touched from here on: another thread may
    // already have closed it.
    Ok(fd as isize)
}

/// The mm of the process `pidfd` refers to, if the caller may ptrace-read it
/// (`PTRACE_MODE_READ_FSCREDS`, the rule of `/proc/PID/pagemap`).
///
/// Errors: `-EBADF` (not a pidfd), `-ESRCH` (the process is gone or has no
/// mm), `-EACCES` (not allowed), `-EINTR`.
fn mm_of_pidfd(pidfd: c_int) -> Result<ARef<Mm>> {
    // SAFETY: any int is accepted; a non-pidfd gives an error pointer.
    let task = from_err_ptr(unsafe { sys::pms_pidfd_get_task(pidfd) })?;
    // The mode `/proc/PID/pagemap` is opened with (`proc_mem_open()`).
    let mode = compat::PTRACE_MODE_READ_FSCREDS;
    // SAFETY: `task` is referenced until the `pms_put_task` below.
    let mm = unsafe { sys::pms_mm_access(task, mode) };
    // SAFETY: drops the reference `pms_pidfd_get_task` took.
    unsafe { sys::pms_put_task(task) };
    // Before Linux 6.13 (and its stable backports), `mm_access()` returns
    // NULL, not `ERR_PTR(-ESRCH)`, for a task without an mm.
    let mm = NonNull::new(from_err_ptr(mm)?).ok_or(ESRCH)?;
    // SAFETY: `mm_access` returned an `mm_users` count, owned from here on.
    let user = unsafe { ARef::<MmWithUser>::from_raw(mm.cast()) };
    // The fd keeps only `mm_count`, as it does for its opener's mm; the
    // `mm_users` count is dropped when `user` goes.
    Ok(ARef::from(&**user))
}
