// SPDX-License-Identifier: GPL-2.0

//! The `PAGEMAP_SCAN` ioctl: copy the argument in, validate it, scan, write
//! `walk_end` back. The order of these steps is the C ioctl's, so both fail
//! the same way on the same input.

use crate::args::{self, ArgError, UserSpace};
use crate::mm::Mm;
use crate::sys;
use crate::uapi::PmScanArg;
use core::mem::{offset_of, size_of};
use kernel::ffi::c_ulong;
use kernel::prelude::*;
use kernel::types::FromBytes;
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
        // SAFETY: pure arithmetic on the current task's tag mask.
        unsafe { sys::pms_untagged_addr(addr as c_ulong) as u64 }
    }

    fn access_ok(&self, addr: u64, size: u64) -> bool {
        // SAFETY: pure range check against the current task's limit.
        unsafe { sys::pms_access_ok(addr as c_ulong, size as c_ulong) }
    }
}

/// Runs one `PAGEMAP_SCAN` on `mm` with the user argument at `uarg`.
///
/// Returns the number of regions written to the output vector.
pub(crate) fn pagemap_scan(mm: &Mm, uarg: usize) -> Result<isize> {
    // As in C, an mm that has exited fails before the argument is read.
    let _user = mm.get_user().ok_or(ESRCH)?;

    let arg = UserSlice::new(uarg, size_of::<PmScanArg>())
        .reader()
        .read::<UserArg>()?
        .0;
    let req = args::validate(&arg, &CurrentTask).map_err(|e| match e {
        ArgError::Invalid => EINVAL,
        ArgError::Fault => EFAULT,
    })?;

    // The walk is not there yet: a valid call reports no region and the whole
    // range as walked.
    let walk_end = req.end;

    UserSlice::new(uarg + offset_of!(PmScanArg, walk_end), size_of::<u64>())
        .writer()
        .write(&walk_end)?;
    Ok(0)
}
