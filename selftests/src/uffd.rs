// SPDX-License-Identifier: GPL-2.0

//! userfaultfd for the tests: the API crate's [`pagemap_scan::uffd::Uffd`]
//! (the two-step wp-async and rwp-async handshakes, registration,
//! `UFFDIO_WRITEPROTECT`, `UFFDIO_RWPROTECT`), with the `String` errors of
//! the tests. The logic lives there only.

use crate::tap::Failure;
use pagemap_scan::{uffd, Op};

pub use pagemap_scan::uffd::{
    FEATURE_WP_ASYNC, FEATURE_WP_HUGETLBFS_SHMEM, FEATURE_WP_UNPOPULATED,
};

/// A userfaultfd; registrations last as long as it does.
pub struct Uffd {
    inner: uffd::Uffd,
    /// The features granted.
    pub features: u64,
}

impl Uffd {
    fn new(inner: uffd::Uffd) -> Uffd {
        Uffd {
            features: inner.features(),
            inner,
        }
    }

    /// The two-step handshake; fails unless at least `WP_ASYNC` is supported.
    pub fn wp_async() -> Result<Uffd, String> {
        Ok(Uffd::new(uffd::Uffd::wp_async()?))
    }

    /// The two-step handshake for read-write protection async (Linux 7.3);
    /// a kernel without it skips the test.
    pub fn rwp_async() -> Result<Uffd, Failure> {
        match uffd::Uffd::rwp_async() {
            Ok(inner) => Ok(Uffd::new(inner)),
            Err(e) if matches!(e.op(), Op::UffdRwpAsync(_)) => Err(Failure::Skip(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// A userfaultfd without features: a missing-page fault in a registered
    /// range waits until it is resolved, or until the faulting task is killed.
    pub fn missing_only() -> Result<Uffd, String> {
        Ok(Uffd::new(uffd::Uffd::with_features(0)?))
    }

    /// Registers `[start, start + len)` for write-protection.
    pub fn register_wp(&self, start: u64, len: u64) -> Result<(), String> {
        Ok(self.inner.register_wp(start, len)?)
    }

    /// Registers `[start, start + len)` for read-write protection.
    pub fn register_rwp(&self, start: u64, len: u64) -> Result<(), String> {
        Ok(self.inner.register_rwp(start, len)?)
    }

    /// Registers `[start, start + len)` for missing-page faults.
    pub fn register_missing(&self, start: u64, len: u64) -> Result<(), String> {
        Ok(self.inner.register_missing(start, len)?)
    }

    /// `UFFDIO_WRITEPROTECT` of `[start, start + len)`: protects it (`wp`) or
    /// lifts the protection.
    pub fn writeprotect(&self, start: u64, len: u64, wp: bool) -> Result<(), String> {
        Ok(self.inner.writeprotect(start, len, wp)?)
    }

    /// `UFFDIO_RWPROTECT` of `[start, start + len)`: protects it (`rwp`) or
    /// lifts the protection.
    pub fn rwprotect(&self, start: u64, len: u64, rwp: bool) -> Result<(), String> {
        Ok(self.inner.rwprotect(start, len, rwp)?)
    }
}
