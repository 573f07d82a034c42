// SPDX-License-Identifier: GPL-2.0

//! `kernel::uaccess::UserPtr` (Linux 6.13 on): a user address. 6.12's
//! `UserSlice::new` takes the address as a `usize`, so on 6.12 the
//! constructor gives one, and `UserSlice::new(UserPtr::from_addr(a), n)`
//! reads the same on both kernels.

/// A user-space address (`void __user *`).
pub(crate) struct UserPtr;

impl UserPtr {
    /// The user pointer of the address `addr`, in 6.12's representation.
    pub(crate) fn from_addr(addr: usize) -> usize {
        addr
    }
}
