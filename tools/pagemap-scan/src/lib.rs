// SPDX-License-Identifier: GPL-2.0

//! A safe API for `PAGEMAP_SCAN`, the ioctl of `/proc/PID/pagemap` (Linux
//! 6.7+) that the `pagemap_scan` module also provides on `/dev/pagemap_scan`.
//!
//! - [`Scanner`]: an fd that takes `PAGEMAP_SCAN`: the device
//!   ([`Scanner::open`], or bound to another process by
//!   [`Scanner::attach_pidfd`], its support listed by [`Scanner::features`]),
//!   or the kernel's own `/proc/PID/pagemap` ([`Scanner::open_proc_self`]),
//!   so the two can be compared.
//! - [`Query`]: the masks, flags and limit of a scan, built by name, with
//!   typed [`Categories`].
//! - [`Regions`]: the matching regions of a range, from as many calls as a
//!   vector of the chosen size needs; the same regions one call with an
//!   unbounded vector returns.
//! - [`uffd`]: userfaultfd in write-protect async mode, which
//!   [`Query::write_protect`] needs, and in read-write-protect async mode
//!   (Linux 7.3), which [`Categories::ACCESSED`] reports on.
//!
//! ```no_run
//! use pagemap_scan::{Categories, Query, Scanner};
//!
//! # fn main() -> Result<(), pagemap_scan::Error> {
//! let buf = vec![1u8; 1 << 20];
//! let start = (buf.as_ptr() as u64) & !0xfff;
//! let scanner = Scanner::open()?; // bound to this process
//! let query = Query::new(start..start + (1 << 20))
//!     .require(Categories::PRESENT)
//!     .report(Categories::PRESENT | Categories::HUGE);
//! for region in scanner.regions(&query) {
//!     let region = region?;
//!     println!("{:#x}-{:#x} {} pages {}", region.start, region.end, region.pages(), region.categories);
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

mod categories;
mod query;
mod regions;
pub mod uffd;

pub use categories::{Categories, ParseCategoriesError};
pub use pagemap_scan_core::uapi;
pub use query::Query;
pub use regions::{RawScan, Region, Regions, DEFAULT_VEC_LEN};

use core::fmt;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use uapi::{
    PageRegion, PmScanArg, PmsFeatures, PAGEMAP_SCAN, PMS_FEATURES_SIZE_VER0,
    PMS_FEATURE_ATTACH_NEW_FD, PMS_FEATURE_ATTACH_PIDFD, PMS_FEATURE_GET_FEATURES,
    PMS_IOC_ATTACH_PIDFD, PMS_IOC_GET_FEATURES,
};

/// The module's device node.
pub const DEVICE: &str = "/dev/pagemap_scan";

/// The system's page size.
pub fn page_size() -> u64 {
    static SIZE: OnceLock<u64> = OnceLock::new();
    *SIZE.get_or_init(|| {
        // SAFETY: sysconf reads a system constant; no memory is involved.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(size).unwrap_or(4096)
    })
}

/// What was being done when an [`Error`] happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Opening a file (the device, a pagemap).
    Open(PathBuf),
    /// The `PAGEMAP_SCAN` ioctl.
    Scan,
    /// `PMS_IOC_GET_FEATURES`.
    GetFeatures,
    /// `PMS_IOC_ATTACH_PIDFD`.
    AttachPidfd,
    /// `pidfd_open` of this pid.
    PidfdOpen(i32),
    /// The `userfaultfd` syscall.
    Userfaultfd,
    /// `UFFDIO_API` requesting these features.
    UffdApi(u64),
    /// The kernel lacks `UFFD_FEATURE_WP_ASYNC`; it supports these features.
    UffdWpAsync(u64),
    /// `UFFDIO_REGISTER` of this range (start, length).
    UffdRegister(u64, u64),
    /// `UFFDIO_WRITEPROTECT` of this range (start, length).
    UffdWriteprotect(u64, u64),
    /// The kernel lacks `UFFD_FEATURE_RWP` or `UFFD_FEATURE_RWP_ASYNC`
    /// (Linux 7.3); it supports these features.
    UffdRwpAsync(u64),
    /// `UFFDIO_RWPROTECT` of this range (start, length).
    UffdRwprotect(u64, u64),
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Open(path) => write!(f, "open {}", path.display()),
            Op::Scan => f.write_str("PAGEMAP_SCAN"),
            Op::GetFeatures => f.write_str("PMS_IOC_GET_FEATURES"),
            Op::AttachPidfd => f.write_str("PMS_IOC_ATTACH_PIDFD"),
            Op::PidfdOpen(pid) => write!(f, "pidfd_open({pid})"),
            Op::Userfaultfd => f.write_str("userfaultfd"),
            Op::UffdApi(features) => write!(f, "UFFDIO_API({features:#x})"),
            Op::UffdWpAsync(supported) => write!(
                f,
                "userfaultfd: no UFFD_FEATURE_WP_ASYNC (supported {supported:#x})"
            ),
            Op::UffdRegister(start, len) => write!(f, "UFFDIO_REGISTER {start:#x}+{len:#x}"),
            Op::UffdWriteprotect(start, len) => {
                write!(f, "UFFDIO_WRITEPROTECT {start:#x}+{len:#x}")
            }
            Op::UffdRwpAsync(supported) => write!(
                f,
                "userfaultfd: no UFFD_FEATURE_RWP and RWP_ASYNC, Linux 7.3's (supported {supported:#x})"
            ),
            Op::UffdRwprotect(start, len) => write!(f, "UFFDIO_RWPROTECT {start:#x}+{len:#x}"),
        }
    }
}

/// A failed system call: what was done ([`Op`]) and the errno.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    op: Op,
    errno: i32,
}

impl Error {
    /// An error of `op` with `errno`.
    pub fn new(op: Op, errno: i32) -> Error {
        Error { op, errno }
    }

    /// An error of `op` with the calling thread's `errno`.
    pub fn last(op: Op) -> Error {
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        Error { op, errno }
    }

    /// What was being done.
    pub fn op(&self) -> &Op {
        &self.op
    }

    /// The errno (`libc::E*`).
    pub fn errno(&self) -> i32 {
        self.errno
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.op,
            std::io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::from_raw_os_error(e.errno)
    }
}

/// For code whose errors are strings (the selftests): the message.
impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
}

/// `ret` of a syscall, or the [`Error`] of `op` with `errno` when it is -1.
fn check(ret: libc::c_long, op: Op) -> Result<libc::c_long, Error> {
    if ret < 0 {
        Err(Error::last(op))
    } else {
        Ok(ret)
    }
}

/// `pidfd_open(pid, 0)`: an fd that refers to process `pid`.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Error> {
    // SAFETY: a plain syscall with integer arguments, returning a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = check(fd, Op::PidfdOpen(pid))?;
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// What the module supports (`struct pms_features`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    raw: PmsFeatures,
}

impl Features {
    /// The structure as the module filled it.
    pub fn raw(&self) -> PmsFeatures {
        self.raw
    }

    /// The categories the module reports and matches.
    pub fn categories(&self) -> Categories {
        Categories::from_bits_truncate(self.raw.categories)
    }

    /// The `PM_SCAN_*` flags the module accepts.
    pub fn flags(&self) -> u64 {
        self.raw.flags
    }

    /// Whether `PMS_IOC_GET_FEATURES` is implemented (it is, if this was read).
    pub fn get_features(&self) -> bool {
        self.raw.ioctls & PMS_FEATURE_GET_FEATURES != 0
    }

    /// Whether `PMS_IOC_ATTACH_PIDFD` is implemented, in either form (see
    /// [`Features::attach_new_fd`]).
    pub fn attach_pidfd(&self) -> bool {
        self.raw.ioctls & PMS_FEATURE_ATTACH_PIDFD != 0
    }

    /// Whether `PMS_IOC_ATTACH_PIDFD` returns a new fd, leaving the fd it is
    /// called on as it was ([`Scanner::attach_pidfd`] needs it). Older
    /// modules rebind the fd it is called on, and every copy of it, instead.
    pub fn attach_new_fd(&self) -> bool {
        self.raw.ioctls & PMS_FEATURE_ATTACH_NEW_FD != 0
    }
}

/// What one `PAGEMAP_SCAN` call returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scanned {
    /// Regions written to the vector.
    pub regions: usize,
    /// `walk_end` as written back: where the walk stopped (see the
    /// documentation of the ioctl for its surprises).
    pub walk_end: u64,
}

/// An fd that takes `PAGEMAP_SCAN`: `/dev/pagemap_scan` or a
/// `/proc/PID/pagemap`, bound to the address space it scans.
#[derive(Debug)]
pub struct Scanner {
    fd: OwnedFd,
    /// [`Scanner::categories`], asked once.
    known: OnceLock<Categories>,
}

impl Scanner {
    /// Opens [`DEVICE`], bound to the calling process's address space.
    ///
    /// `ENOENT` means the module is not loaded (`insmod pagemap_scan.ko`).
    ///
    /// ```no_run
    /// let scanner = pagemap_scan::Scanner::open()?;
    /// # Ok::<(), pagemap_scan::Error>(())
    /// ```
    pub fn open() -> Result<Scanner, Error> {
        Scanner::open_path(DEVICE)
    }

    /// Opens `/proc/self/pagemap`: the kernel's own C implementation.
    ///
    /// ```no_run
    /// let c = pagemap_scan::Scanner::open_proc_self()?;
    /// # Ok::<(), pagemap_scan::Error>(())
    /// ```
    pub fn open_proc_self() -> Result<Scanner, Error> {
        Scanner::open_path("/proc/self/pagemap")
    }

    /// Opens `/proc/PID/pagemap` (needs ptrace-read access to `pid`).
    pub fn open_proc(pid: i32) -> Result<Scanner, Error> {
        Scanner::open_path(format!("/proc/{pid}/pagemap"))
    }

    /// Opens `path` read-only, a file that takes `PAGEMAP_SCAN`.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Scanner, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| {
            Error::new(
                Op::Open(path.to_path_buf()),
                e.raw_os_error().unwrap_or(libc::EIO),
            )
        })?;
        Ok(Scanner::from_fd(file.into()))
    }

    /// A scanner on `fd`, which must take `PAGEMAP_SCAN` (calls fail otherwise).
    pub fn from_fd(fd: OwnedFd) -> Scanner {
        Scanner {
            fd,
            known: OnceLock::new(),
        }
    }

    /// The categories this fd's `PAGEMAP_SCAN` knows: the module's
    /// ([`Scanner::features`]), or, for a `/proc/PID/pagemap`, those of the
    /// running kernel's C ioctl: the eight of 6.12, and each later one its
    /// validation accepts (`PAGE_IS_GUARD` came with 6.15 or so,
    /// `PAGE_IS_ACCESSED` with 7.3). Asked once per scanner.
    pub fn categories(&self) -> Result<Categories, Error> {
        if let Some(known) = self.known.get() {
            return Ok(*known);
        }
        let known = match self.features() {
            Ok(f) => f.categories(),
            Err(e) if e.errno() == libc::ENOTTY || e.errno() == libc::EINVAL => {
                let mut known = Categories::V6_12;
                for later in [Categories::GUARD, Categories::ACCESSED] {
                    // An empty range: the kernel only validates the masks.
                    let mut probe = Query::new(0..0).require(later).arg_for(Categories::EMPTY);
                    match self.scan_into(&mut probe, &mut []) {
                        Ok(_) => known |= later,
                        Err(e) if e.errno() == libc::EINVAL => {}
                        Err(e) => return Err(e),
                    }
                }
                known
            }
            Err(e) => return Err(e),
        };
        Ok(*self.known.get_or_init(|| known))
    }

    /// A new scanner of the address space of the process `pidfd` refers to
    /// (`PMS_IOC_ATTACH_PIDFD` on this device fd), as [`Scanner::open_proc`]
    /// of its pid would be; needs ptrace-read access to it. This scanner
    /// stays bound as it was. The new fd is close-on-exec.
    ///
    /// Errors: `EBADF` (not a pidfd), `ESRCH` (the process is gone or has no
    /// address space), `EACCES` (not allowed), `EMFILE`, `ENFILE`, `ENOMEM`,
    /// `ENOTTY` (a module without the ioctls), `EOPNOTSUPP` (a module whose
    /// attach rebinds this fd instead: never called), `EINVAL` (not the device).
    ///
    /// ```no_run
    /// use pagemap_scan::{pidfd_open, Scanner};
    /// use std::os::fd::AsFd;
    ///
    /// let pidfd = pidfd_open(1234)?;
    /// let theirs = Scanner::open()?.attach_pidfd(pidfd.as_fd())?;
    /// # Ok::<(), pagemap_scan::Error>(())
    /// ```
    pub fn attach_pidfd(&self, pidfd: BorrowedFd<'_>) -> Result<Scanner, Error> {
        // An older module's attach would rebind this fd, shared by its copies.
        let features = self
            .features()
            .map_err(|e| Error::new(Op::AttachPidfd, e.errno()))?;
        if !features.attach_new_fd() {
            return Err(Error::new(Op::AttachPidfd, libc::EOPNOTSUPP));
        }
        // SAFETY: the ioctl takes the pidfd by value and reads no memory of ours.
        let ret = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                PMS_IOC_ATTACH_PIDFD as libc::Ioctl,
                libc::c_long::from(pidfd.as_raw_fd()),
            )
        };
        let fd = check(ret.into(), Op::AttachPidfd)?;
        // SAFETY: a successful attach returns a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(Scanner::from_fd(fd))
    }

    /// What the module supports (`PMS_IOC_GET_FEATURES`, version 0).
    ///
    /// ```no_run
    /// let f = pagemap_scan::Scanner::open()?.features()?;
    /// println!("categories {} flags {:#x} attach {}", f.categories(), f.flags(), f.attach_pidfd());
    /// # Ok::<(), pagemap_scan::Error>(())
    /// ```
    pub fn features(&self) -> Result<Features, Error> {
        let mut raw = PmsFeatures {
            size: PMS_FEATURES_SIZE_VER0,
            ..Default::default()
        };
        // SAFETY: `raw` is a valid `struct pms_features` of the size it
        // announces, for the kernel to read and write.
        let ret = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                PMS_IOC_GET_FEATURES as libc::Ioctl,
                &mut raw as *mut PmsFeatures,
            )
        };
        check(ret.into(), Op::GetFeatures)?;
        Ok(Features { raw })
    }

    /// One `PAGEMAP_SCAN` call of `query` into `vec` (no vector when `vec`
    /// is empty): the regions written and `walk_end`.
    ///
    /// ```no_run
    /// use pagemap_scan::{Query, Scanner, uapi::PageRegion};
    ///
    /// let mut vec = [PageRegion::default(); 16];
    /// let done = Scanner::open()?.scan(&Query::new(0x10000..0x20000), &mut vec)?;
    /// for r in &vec[..done.regions] {
    ///     println!("{:#x}-{:#x} {:#x}", r.start, r.end, r.categories);
    /// }
    /// # Ok::<(), pagemap_scan::Error>(())
    /// ```
    pub fn scan(&self, query: &Query, vec: &mut [PageRegion]) -> Result<Scanned, Error> {
        let mut arg = query.arg_for(self.categories()?);
        let regions = self.scan_into(&mut arg, vec)?;
        Ok(Scanned {
            regions,
            walk_end: arg.walk_end,
        })
    }

    /// Write-protects every page of `range` (userfaultfd wp-async VMAs only):
    /// the "reset" call, `PM_SCAN_WP_MATCHING` without a vector.
    ///
    /// ```no_run
    /// use pagemap_scan::{uffd::Uffd, Scanner};
    ///
    /// let (start, len) = (0x7f00_0000_0000u64, 1 << 20);
    /// let uffd = Uffd::wp_async()?;
    /// uffd.register_wp(start, len)?;
    /// Scanner::open()?.write_protect(start..start + len)?;
    /// # Ok::<(), pagemap_scan::Error>(())
    /// ```
    pub fn write_protect(&self, range: core::ops::Range<u64>) -> Result<(), Error> {
        let query = Query::new(range)
            .require(Categories::WRITTEN)
            .report(Categories::WRITTEN)
            .write_protect();
        self.scan(&query, &mut []).map(drop)
    }

    /// The regions of `query`, read with a vector of [`DEFAULT_VEC_LEN`].
    ///
    /// ```no_run
    /// use pagemap_scan::{Categories, Query, Scanner};
    ///
    /// let scanner = Scanner::open()?;
    /// let q = Query::new(0x10000..0x20000).require(Categories::PRESENT);
    /// let pages: u64 = scanner.regions(&q).map(|r| r.map(|r| r.pages())).sum::<Result<_, _>>()?;
    /// # Ok::<(), pagemap_scan::Error>(())
    /// ```
    pub fn regions(&self, query: &Query) -> Regions<&Scanner> {
        Regions::new(self, query, DEFAULT_VEC_LEN)
    }

    /// The regions of `query`, read with a vector of `vec_len` regions
    /// (at least 1) per call.
    pub fn regions_with_vec(&self, query: &Query, vec_len: usize) -> Regions<&Scanner> {
        Regions::new(self, query, vec_len)
    }
}

impl AsFd for Scanner {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The fd itself, for code that issues its own ioctls on it (the
/// selftests' raw, even malformed, `pm_scan_arg`s).
impl From<Scanner> for OwnedFd {
    fn from(scanner: Scanner) -> OwnedFd {
        scanner.fd
    }
}

impl RawScan for Scanner {
    fn categories(&self) -> Result<Categories, Error> {
        Scanner::categories(self)
    }

    fn scan_into(&self, arg: &mut PmScanArg, vec: &mut [PageRegion]) -> Result<usize, Error> {
        arg.size = core::mem::size_of::<PmScanArg>() as u64;
        arg.vec = if vec.is_empty() {
            0
        } else {
            vec.as_mut_ptr() as u64
        };
        arg.vec_len = vec.len() as u64;
        // SAFETY: `arg` is a valid, writable `pm_scan_arg`, and its `vec`
        // points to `vec_len` writable regions of `vec` (or is 0 with 0):
        // the kernel writes nothing else of ours.
        let ret = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                PAGEMAP_SCAN as libc::Ioctl,
                arg as *mut PmScanArg,
            )
        };
        let n = check(ret.into(), Op::Scan)?;
        Ok((n as usize).min(vec.len()))
    }
}
