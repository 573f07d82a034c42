// SPDX-License-Identifier: GPL-2.0

//! The bounce buffer of one `PAGEMAP_SCAN`, allocated and copied out as C's
//! (`pagemap_scan_init_bounce_buffer()` and `pagemap_scan_flush_buffer()`
//! in `fs/proc/task_mmu.c`): `kmalloc_array()`, `copy_to_user()`, `kfree()`.
//! The kernel crate's `KVec` goes through `krealloc()`, which costs a call
//! its size (and a `kfree(NULL)`) in every ioctl, and `UserSliceWriter`
//! wraps `copy_to_user()` in one more call.

use crate::sys;
use crate::uapi::PageRegion;
use core::mem::{size_of, size_of_val, MaybeUninit};
use core::ptr::NonNull;
use kernel::ffi::{c_ulong, c_void};
use kernel::prelude::*;

/// Uninitialised regions; none for a request without a vector.
///
/// # Invariants
///
/// `ptr` is `kmalloc_array()`'s allocation of `len` regions, owned, when
/// `len != 0`; dangling (and not freed) when `len == 0`.
pub(crate) struct Bounce {
    ptr: NonNull<MaybeUninit<PageRegion>>,
    len: usize,
}

impl Bounce {
    /// A buffer of `len` regions.
    pub(crate) fn new(len: usize) -> Result<Self> {
        if len == 0 {
            // INVARIANT: empty, dangling.
            return Ok(Bounce {
                ptr: NonNull::dangling(),
                len,
            });
        }
        // SAFETY: any sizes are accepted; NULL on failure or overflow.
        let ptr = unsafe { sys::pms_kmalloc_array(len, size_of::<PageRegion>()) };
        // INVARIANT: `len` regions, owned from here on.
        Ok(Bounce {
            ptr: NonNull::new(ptr.cast()).ok_or(ENOMEM)?,
            len,
        })
    }

    /// The regions, for the collector to fill.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [MaybeUninit<PageRegion>] {
        // SAFETY: `len` regions owned by `self` (or none); `MaybeUninit`
        // needs no initialisation.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Bounce {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: `kmalloc_array()`'s allocation, owned (type invariant).
            unsafe { kernel::bindings::kfree(self.ptr.as_ptr().cast()) };
        }
    }
}

/// Copies `regions` to the user's memory at `to`, as C's flush does; the
/// bytes copied, or `EFAULT`.
pub(crate) fn copy_to_user(to: usize, regions: &[PageRegion]) -> Result<usize> {
    let bytes = size_of_val(regions);
    // `copy_to_user()` checks the object size of a copy of a variable
    // length (hardened usercopy), as in C. `PageRegion` is three `u64`: no
    // padding bytes go out.
    // SAFETY: `regions` is `bytes` bytes of kernel memory, readable;
    // `copy_to_user()` checks the user range and handles faults.
    let left = unsafe {
        kernel::bindings::copy_to_user(
            to as *mut c_void,
            regions.as_ptr().cast::<c_void>(),
            bytes as c_ulong,
        )
    };
    if left != 0 {
        return Err(EFAULT);
    }
    Ok(bytes)
}
