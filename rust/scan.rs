// SPDX-License-Identifier: GPL-2.0

//! The `PAGEMAP_SCAN` ioctl: copy the argument in, validate it, walk the
//! range in chunks (the mmap lock is dropped and the bounce buffer flushed to
//! the user between chunks), write `walk_end` back. The order of these steps
//! is the C ioctl's, so both give the same results and errors on the same input.

use crate::args::{self, ArgError, UserSpace};
use crate::bounce::{self, Bounce};
use crate::compat::{FromBytes, Mm, MmWithUser, MmapReadGuard, UserPtr};
use crate::output::Collector;
use crate::sys;
use crate::uapi::PmScanArg;
use crate::walk::{Scan, Stop, KERNEL_ABI};
use core::mem::{offset_of, size_of};
#[cfg(CONFIG_ADDRESS_MASKING)]
use kernel::ffi::c_ulong;
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

/// The user argument as read from user memory.
#[repr(transparent)]
struct UserArg(PmScanArg);

// SAFETY: `PmScanArg` is `repr(C)` with only `u64` fields: every bit pattern is valid.
unsafe impl FromBytes for UserArg {}

/// The current task's address space, as the kernel sees it.
struct CurrentTask;

impl UserSpace for CurrentTask {
    fn untag(&self, addr: u64) -> u64 {
        // Without address masking (LAM), x86's `untagged_addr()` is the
        // generic one, the identity: no call for it.
        #[cfg(not(CONFIG_ADDRESS_MASKING))]
        return addr;
        #[cfg(CONFIG_ADDRESS_MASKING)]
        // SAFETY: pure arithmetic on the current task's tag mask.
        return unsafe { sys::pms_untagged_addr(addr as c_ulong) as u64 };
    }

    /// x86-64's `__access_ok()` of a size not known at build time, the
    /// case of both of C's checks: inline, as in C, where a call to a C
    /// wrapper costs more than the check. A module reads `USER_PTR_MAX`
    /// (the kernel patches the value into its own code).
    fn access_ok(&self, addr: u64, size: u64) -> bool {
        // SAFETY: `USER_PTR_MAX` is set once, at boot, before any module loads.
        let max = unsafe { kernel::bindings::USER_PTR_MAX } as u64;
        let sum = addr.wrapping_add(size);
        sum <= max && sum >= addr
    }
}

/// An address space with its mmap lock held for reading.
///
/// # Invariants
///
/// `_guard` is the read lock of `mm`, held for the lifetime of this value.
pub(crate) struct LockedMm<'a> {
    mm: &'a MmWithUser,
    _guard: MmapReadGuard<'a>,
}

impl<'a> LockedMm<'a> {
    /// Takes the mmap read lock of `mm`. Not killable, as upstream's
    /// `mmap_read_lock()`: the chunk loop checks for a fatal signal instead.
    pub(crate) fn lock(mm: &'a MmWithUser) -> Self {
        // INVARIANT: the guard is the lock of this `mm`.
        LockedMm {
            mm,
            _guard: mm.mmap_read_lock(),
        }
    }

    /// The locked mm, for the C side.
    pub(crate) fn as_raw(&self) -> *mut kernel::bindings::mm_struct {
        self.mm.as_raw()
    }
}

/// Runs one `PAGEMAP_SCAN` on `mm` with the user argument at `uarg`.
///
/// Returns the number of regions written to the output vector.
pub(crate) fn pagemap_scan(mm: &Mm, uarg: usize) -> Result<isize> {
    // As in C, an mm that has exited fails before the argument is read.
    let mm = mm.mmget_not_zero().ok_or(ESRCH)?;

    let arg = UserSlice::new(UserPtr::from_addr(uarg), size_of::<PmScanArg>())
        .reader()
        .read::<UserArg>()?
        .0;
    let req = args::validate(&arg, &CurrentTask, &KERNEL_ABI).map_err(|e| match e {
        ArgError::Invalid => EINVAL,
        ArgError::Fault => EFAULT,
    })?;

    // Uninitialised, as C's: the collector writes an entry before reading it.
    let mut bounce = Bounce::new(Collector::buffer_len(req.vec_len))?;
    let out = Collector::new(
        bounce.as_mut_slice(),
        req.vec_len,
        req.return_mask,
        req.max_pages,
    );
    let mut scan = Scan::new(&req, out);
    let mut user_vec = req.vec as usize;
    let mut regions: isize = 0;
    let mut ret = Ok(());

    let mut walk_start = req.start;
    while walk_start < req.end {
        // SAFETY: reads the current task's signal state.
        if unsafe { sys::pms_fatal_signal_pending() } {
            ret = Err(EINTR);
            break;
        }
        let walked = scan.walk(&LockedMm::lock(&mm), walk_start, req.end);
        // The lock is dropped: copy this chunk's regions out.
        match flush(&mut scan.out, &mut user_vec) {
            Ok(n) => regions += n as isize,
            Err(e) => {
                ret = Err(e);
                break;
            }
        }
        let completed = match walked {
            Ok(()) => true,
            Err(Stop::Error(e)) => {
                ret = Err(e);
                break;
            }
            Err(Stop::Full) => false,
        };
        match scan.out.resume_at(completed, req.end) {
            Some(at) => walk_start = at,
            None => break,
        }
    }

    // Like C, an unset walk_end means the whole range was walked; an error
    // still writes walk_end back.
    let walk_end = scan.out.walk_end().unwrap_or(req.end);
    let walk_end_addr = UserPtr::from_addr(uarg + offset_of!(PmScanArg, walk_end));
    UserSlice::new(walk_end_addr, size_of::<u64>())
        .writer()
        .write(&walk_end)?;
    ret.map(|()| regions)
}

/// Copies the collected regions to the user's vector at `*user_vec` and
/// advances it; returns how many were copied.
fn flush(out: &mut Collector<'_>, user_vec: &mut usize) -> Result<usize> {
    let pending = out.pending();
    if pending.is_empty() {
        return Ok(0);
    }
    let n = pending.len();
    let bytes = bounce::copy_to_user(*user_vec, pending)?;
    *user_vec += bytes;
    out.flushed();
    Ok(n)
}
