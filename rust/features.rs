// SPDX-License-Identifier: GPL-2.0

//! `PMS_IOC_GET_FEATURES`: what this module supports, versioned by size.
//!
//! The caller names the size of its `struct pms_features`; the module fills
//! the fields both know and zeroes the caller's fields it does not know, so a
//! newer caller on an older module reads "unsupported" rather than garbage,
//! and an older caller on a newer module gets the prefix it understands.

use crate::abi::KernelAbi;
use crate::uapi::{
    PmsFeatures, PMS_FEATURES_SIZE_VER0, PMS_FEATURE_ATTACH_NEW_FD, PMS_FEATURE_ATTACH_PIDFD,
    PMS_FEATURE_GET_FEATURES, PM_SCAN_FLAGS,
};

/// The largest caller struct accepted: a page, as `clone3` and `sched_setattr` bound theirs.
pub const MAX_CALLER_SIZE: u64 = 4096;

/// The answer to one `PMS_IOC_GET_FEATURES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The struct to copy out; its `size` is [`Reply::filled`].
    pub features: PmsFeatures,
    /// How many leading bytes of `features` to copy to the caller.
    pub filled: usize,
    /// How many bytes after those to zero in the caller's struct.
    pub zeroed: usize,
}

/// The reply of a module following `abi` for a caller whose struct is
/// `caller_size` bytes, or `None` (`-EINVAL`) when that is smaller than the
/// first version or above a page.
pub fn reply(caller_size: u64, abi: &KernelAbi) -> Option<Reply> {
    if !(PMS_FEATURES_SIZE_VER0..=MAX_CALLER_SIZE).contains(&caller_size) {
        return None;
    }
    let ours = core::mem::size_of::<PmsFeatures>() as u64;
    let filled = caller_size.min(ours);
    Some(Reply {
        features: PmsFeatures {
            size: filled,
            categories: abi.categories,
            flags: PM_SCAN_FLAGS,
            ioctls: PMS_FEATURE_GET_FEATURES | PMS_FEATURE_ATTACH_PIDFD | PMS_FEATURE_ATTACH_NEW_FD,
        },
        filled: filled as usize,
        zeroed: (caller_size - filled) as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{V6_12, V7_3};

    #[test]
    fn sizes_outside_the_versions_are_rejected() {
        for size in [
            0,
            8,
            PMS_FEATURES_SIZE_VER0 - 1,
            MAX_CALLER_SIZE + 1,
            u64::MAX,
        ] {
            assert_eq!(reply(size, &V7_3), None, "size {size}");
        }
    }

    #[test]
    fn the_first_version_is_filled_exactly() {
        let r = reply(PMS_FEATURES_SIZE_VER0, &V6_12).unwrap();
        assert_eq!((r.filled, r.zeroed), (32, 0));
        assert_eq!(r.features.size, 32);
        assert_eq!(r.features.categories, 0xff);
        assert_eq!(reply(32, &V7_3).unwrap().features.categories, 0x3ff);
        assert_eq!(r.features.flags, 3);
        assert_eq!(r.features.ioctls, 7);
    }

    #[test]
    fn attach_says_it_returns_a_new_fd() {
        // A caller tells the new attach (a new fd) from the old (rebinding
        // the fd it was called on) by this bit alone.
        let ioctls = reply(PMS_FEATURES_SIZE_VER0, &V7_3)
            .unwrap()
            .features
            .ioctls;
        assert_eq!(PMS_FEATURE_ATTACH_NEW_FD, 1 << 2);
        assert_ne!(ioctls & PMS_FEATURE_ATTACH_PIDFD, 0);
        assert_ne!(ioctls & PMS_FEATURE_ATTACH_NEW_FD, 0);
    }

    #[test]
    fn a_newer_caller_gets_its_unknown_tail_zeroed() {
        let r = reply(48, &V7_3).unwrap();
        assert_eq!((r.filled, r.zeroed, r.features.size), (32, 16, 32));
        let r = reply(MAX_CALLER_SIZE, &V7_3).unwrap();
        assert_eq!((r.filled, r.zeroed), (32, 4096 - 32));
    }
}
