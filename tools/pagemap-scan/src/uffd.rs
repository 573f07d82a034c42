// SPDX-License-Identifier: GPL-2.0

//! userfaultfd in write-protect async mode, the way `PAGEMAP_SCAN` users set
//! it up: probe the supported features on one fd, then ask for the supported
//! subset of `WP_ASYNC | WP_UNPOPULATED | WP_HUGETLBFS_SHMEM` on a fresh fd
//! (`UFFDIO_API` may be called once per fd), and register ranges with
//! `UFFDIO_REGISTER_MODE_WP`. Writes to a registered range then clear the
//! protection themselves (no fault message to handle), and `PAGEMAP_SCAN`
//! reports `PAGE_IS_WRITTEN` for the pages written since they were last
//! write-protected ([`crate::Query::write_protect`]).
//!
//! Linux 7.3 adds read-write protection (RWP) in async mode
//! ([`Uffd::rwp_async`], [`Uffd::register_rwp`], [`Uffd::rwprotect`]): any
//! access, read or write, to a protected page clears its protection, and
//! `PAGEMAP_SCAN` reports [`crate::Categories::ACCESSED`] for the pages
//! touched since the last `UFFDIO_RWPROTECT`. A VMA has one of the two
//! modes, never both; `PAGEMAP_SCAN` never protects for RWP
//! (`PM_SCAN_WP_MATCHING` skips RWP VMAs): protecting again is
//! [`Uffd::rwprotect`]'s.
//!
//! ```no_run
//! use pagemap_scan::uffd::{Uffd, FEATURE_WP_UNPOPULATED};
//!
//! let uffd = Uffd::wp_async()?;
//! if uffd.features() & FEATURE_WP_UNPOPULATED == 0 {
//!     println!("untouched memory is not write-protected on this kernel");
//! }
//! uffd.register_wp(0x7f00_0000_0000, 1 << 20)?;
//! # Ok::<(), pagemap_scan::Error>(())
//! ```
//!
//! The working set of a range, round after round:
//!
//! ```no_run
//! use pagemap_scan::{uffd::Uffd, Categories, Query, Scanner};
//!
//! let (start, len) = (0x7f00_0000_0000u64, 1 << 20); // mapped, populated
//! let uffd = Uffd::rwp_async()?; // EOPNOTSUPP before Linux 7.3
//! uffd.register_rwp(start, len)?;
//! let scanner = Scanner::open()?;
//! let hot = Query::new(start..start + len)
//!     .require(Categories::ACCESSED)
//!     .report(Categories::ACCESSED);
//! loop {
//!     uffd.rwprotect(start, len, true)?;
//!     std::thread::sleep(std::time::Duration::from_secs(1));
//!     for region in scanner.regions(&hot) {
//!         let region = region?;
//!         println!("hot: {:#x}-{:#x}", region.start, region.end);
//!     }
//! }
//! # Ok::<(), pagemap_scan::Error>(())
//! ```

use crate::{check, Error, Op};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const UFFD_API: u64 = 0xaa;
/// `_IOWR(0xAA, 0x3F, struct uffdio_api)`.
const UFFDIO_API: u32 = 0xc018_aa3f;
/// `_IOWR(0xAA, 0x00, struct uffdio_register)`.
const UFFDIO_REGISTER: u32 = 0xc020_aa00;
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1 << 0;
const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
/// `_IOWR(0xAA, 0x06, struct uffdio_writeprotect)`.
const UFFDIO_WRITEPROTECT: u32 = 0xc018_aa06;
const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;
const UFFDIO_REGISTER_MODE_RWP: u64 = 1 << 3;
/// `_IOWR(0xAA, 0x09, struct uffdio_rwprotect)`.
const UFFDIO_RWPROTECT: u32 = 0xc018_aa09;
const UFFDIO_RWPROTECT_MODE_RWP: u64 = 1 << 0;

/// `UFFD_FEATURE_WP_HUGETLBFS_SHMEM`: write-protection of hugetlbfs and shmem.
pub const FEATURE_WP_HUGETLBFS_SHMEM: u64 = 1 << 12;
/// `UFFD_FEATURE_WP_UNPOPULATED`: unpopulated anonymous memory is
/// write-protected too (markers).
pub const FEATURE_WP_UNPOPULATED: u64 = 1 << 13;
/// `UFFD_FEATURE_WP_ASYNC`: writes resolve the protection themselves, with
/// no fault message.
pub const FEATURE_WP_ASYNC: u64 = 1 << 15;
/// `UFFD_FEATURE_RWP` (Linux 7.3): read-write protection.
pub const FEATURE_RWP: u64 = 1 << 17;
/// `UFFD_FEATURE_RWP_ASYNC` (Linux 7.3): accesses resolve the read-write
/// protection themselves, with no fault message.
pub const FEATURE_RWP_ASYNC: u64 = 1 << 18;

#[repr(C)]
#[derive(Default)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

/// `struct uffdio_writeprotect`, and `struct uffdio_rwprotect` of the same shape.
#[repr(C)]
struct UffdioWriteprotect {
    start: u64,
    len: u64,
    mode: u64,
}

#[repr(C)]
#[derive(Default)]
struct UffdioRegister {
    start: u64,
    len: u64,
    mode: u64,
    ioctls: u64,
}

/// A userfaultfd with the wp-async (or rwp-async) features this kernel supports.
///
/// Registrations last as long as the fd: keep it while the ranges are
/// tracked.
#[derive(Debug)]
pub struct Uffd {
    fd: OwnedFd,
    features: u64,
}

fn open() -> Result<OwnedFd, Error> {
    // SAFETY: a plain syscall with integer arguments, returning a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | libc::O_NONBLOCK) };
    let fd = check(fd, Op::Userfaultfd)?;
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `UFFDIO_API` asking for `features`: the features granted (all supported
/// ones when `features` is 0).
fn api(fd: &OwnedFd, features: u64) -> Result<u64, Error> {
    let mut api = UffdioApi {
        api: UFFD_API,
        features,
        ..Default::default()
    };
    // SAFETY: `api` is a valid `struct uffdio_api` for the kernel to read and write.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), UFFDIO_API as libc::Ioctl, &mut api) };
    check(ret.into(), Op::UffdApi(features))?;
    Ok(api.features)
}

impl Uffd {
    /// The two-step handshake: probes the supported features on one fd,
    /// then requests the supported subset of `WP_ASYNC | WP_UNPOPULATED |
    /// WP_HUGETLBFS_SHMEM` on a new one. Fails (`EOPNOTSUPP`) unless at
    /// least `WP_ASYNC` is supported; `EPERM` without the privilege to use
    /// userfaultfd (`vm.unprivileged_userfaultfd`).
    pub fn wp_async() -> Result<Uffd, Error> {
        let supported = api(&open()?, 0)?;
        if supported & FEATURE_WP_ASYNC == 0 {
            return Err(Error::new(Op::UffdWpAsync(supported), libc::EOPNOTSUPP));
        }
        let wanted = FEATURE_WP_ASYNC | FEATURE_WP_UNPOPULATED | FEATURE_WP_HUGETLBFS_SHMEM;
        let fd = open()?;
        let features = api(&fd, supported & wanted)?;
        Ok(Uffd { fd, features })
    }

    /// The same handshake for read-write protection (Linux 7.3): probes the
    /// supported features, then requests `RWP | RWP_ASYNC` on a new fd.
    /// Fails (`EOPNOTSUPP`, [`Op::UffdRwpAsync`]) unless both are supported.
    ///
    /// ```no_run
    /// use pagemap_scan::{uffd::Uffd, Op};
    ///
    /// match Uffd::rwp_async() {
    ///     Ok(uffd) => println!("features {:#x}", uffd.features()),
    ///     Err(e) if matches!(e.op(), Op::UffdRwpAsync(_)) => println!("no RWP here: {e}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), pagemap_scan::Error>(())
    /// ```
    pub fn rwp_async() -> Result<Uffd, Error> {
        let supported = api(&open()?, 0)?;
        let wanted = FEATURE_RWP | FEATURE_RWP_ASYNC;
        if supported & wanted != wanted {
            return Err(Error::new(Op::UffdRwpAsync(supported), libc::EOPNOTSUPP));
        }
        let fd = open()?;
        let features = api(&fd, wanted)?;
        Ok(Uffd { fd, features })
    }

    /// A userfaultfd with exactly `features` (one `UFFDIO_API`; 0 for none:
    /// a missing-page fault in a registered range then waits until it is
    /// resolved, or until the faulting task is killed).
    pub fn with_features(features: u64) -> Result<Uffd, Error> {
        let fd = open()?;
        let features = api(&fd, features)?;
        Ok(Uffd { fd, features })
    }

    /// The `UFFD_FEATURE_*` bits granted.
    pub fn features(&self) -> u64 {
        self.features
    }

    /// Registers `[start, start + len)` (page aligned, mapped) for
    /// write-protection.
    pub fn register_wp(&self, start: u64, len: u64) -> Result<(), Error> {
        self.register(start, len, UFFDIO_REGISTER_MODE_WP)
    }

    /// Registers `[start, start + len)` (page aligned, mapped) for
    /// missing-page faults.
    pub fn register_missing(&self, start: u64, len: u64) -> Result<(), Error> {
        self.register(start, len, UFFDIO_REGISTER_MODE_MISSING)
    }

    /// Registers `[start, start + len)` (page aligned, mapped, accessible:
    /// not `PROT_NONE`; anonymous, shmem or hugetlb) for read-write
    /// protection, on an fd from [`Uffd::rwp_async`]. A VMA registered for
    /// write-protection cannot be registered for both (`EINVAL`).
    pub fn register_rwp(&self, start: u64, len: u64) -> Result<(), Error> {
        self.register(start, len, UFFDIO_REGISTER_MODE_RWP)
    }

    fn register(&self, start: u64, len: u64, mode: u64) -> Result<(), Error> {
        let mut reg = UffdioRegister {
            start,
            len,
            mode,
            ioctls: 0,
        };
        // SAFETY: `reg` is a valid `struct uffdio_register` for the kernel to
        // read and write; the range is only looked up, not accessed.
        let ret = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                UFFDIO_REGISTER as libc::Ioctl,
                &mut reg,
            )
        };
        check(ret.into(), Op::UffdRegister(start, len)).map(drop)
    }

    /// `UFFDIO_WRITEPROTECT` of `[start, start + len)` (registered for
    /// write-protection): protects it (`wp`) or lifts the protection.
    pub fn writeprotect(&self, start: u64, len: u64, wp: bool) -> Result<(), Error> {
        let mut arg = UffdioWriteprotect {
            start,
            len,
            mode: if wp { UFFDIO_WRITEPROTECT_MODE_WP } else { 0 },
        };
        // SAFETY: `arg` is a valid `struct uffdio_writeprotect` for the kernel
        // to read; the range's page tables change, no memory of ours is written.
        let ret = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                UFFDIO_WRITEPROTECT as libc::Ioctl,
                &mut arg,
            )
        };
        check(ret.into(), Op::UffdWriteprotect(start, len)).map(drop)
    }

    /// `UFFDIO_RWPROTECT` of `[start, start + len)` (registered with
    /// [`Uffd::register_rwp`]; hugetlb: in whole huge pages): protects it
    /// (`rwp`), so that no page of it is [`crate::Categories::ACCESSED`]
    /// until touched again, or lifts the protection. Unpopulated pages get
    /// none: populated later, they are reported accessed. `ENOENT` if part
    /// of the range is not registered for it.
    pub fn rwprotect(&self, start: u64, len: u64, rwp: bool) -> Result<(), Error> {
        let mut arg = UffdioWriteprotect {
            start,
            len,
            mode: if rwp { UFFDIO_RWPROTECT_MODE_RWP } else { 0 },
        };
        // SAFETY: `arg` is a valid `struct uffdio_rwprotect` for the kernel
        // to read; the range's page tables change, no memory of ours is written.
        let ret = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                UFFDIO_RWPROTECT as libc::Ioctl,
                &mut arg,
            )
        };
        check(ret.into(), Op::UffdRwprotect(start, len)).map(drop)
    }
}

impl AsFd for Uffd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
