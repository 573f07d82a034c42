// SPDX-License-Identifier: GPL-2.0

//! userfaultfd in write-protect async mode, the way PAGEMAP_SCAN users set it
//! up: probe the supported features on one fd, then ask for the supported
//! subset of `WP_ASYNC | WP_UNPOPULATED | WP_HUGETLBFS_SHMEM` on a fresh fd
//! (`UFFDIO_API` may be called once per fd).

use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const UFFD_API: u64 = 0xaa;
/// `_IOWR(0xAA, 0x3F, struct uffdio_api)`.
const UFFDIO_API: u64 = 0xc018_aa3f;
/// `_IOWR(0xAA, 0x00, struct uffdio_register)`.
const UFFDIO_REGISTER: u64 = 0xc020_aa00;
const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;

/// Write-protection of hugetlbfs and shmem.
pub const FEATURE_WP_HUGETLBFS_SHMEM: u64 = 1 << 12;
/// Unpopulated anonymous memory is write-protected too (markers).
pub const FEATURE_WP_UNPOPULATED: u64 = 1 << 13;
/// Writes resolve the protection themselves, no fault message.
pub const FEATURE_WP_ASYNC: u64 = 1 << 15;

#[repr(C)]
#[derive(Default)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
#[derive(Default)]
struct UffdioRegister {
    start: u64,
    len: u64,
    mode: u64,
    ioctls: u64,
}

/// A userfaultfd with the wp-async features this kernel supports.
pub struct Uffd {
    fd: OwnedFd,
    /// The features granted.
    pub features: u64,
}

fn open() -> Result<OwnedFd, String> {
    // SAFETY: a plain syscall returning a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | libc::O_NONBLOCK) };
    let fd = Errno::result(fd).map_err(|e| format!("userfaultfd: {e}"))?;
    // SAFETY: `fd` is a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn api(fd: &OwnedFd, features: u64) -> Result<u64, String> {
    let mut api = UffdioApi {
        api: UFFD_API,
        features,
        ..Default::default()
    };
    // SAFETY: `api` is a valid `struct uffdio_api` for the kernel to read and write.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), UFFDIO_API, &mut api) };
    Errno::result(ret).map_err(|e| format!("UFFDIO_API({features:#x}): {e}"))?;
    Ok(api.features)
}

impl Uffd {
    /// The two-step handshake; fails unless at least `WP_ASYNC` is supported.
    pub fn wp_async() -> Result<Uffd, String> {
        let supported = api(&open()?, 0)?;
        let wanted = FEATURE_WP_ASYNC | FEATURE_WP_UNPOPULATED | FEATURE_WP_HUGETLBFS_SHMEM;
        if supported & FEATURE_WP_ASYNC == 0 {
            return Err(format!(
                "no UFFD_FEATURE_WP_ASYNC (supported {supported:#x})"
            ));
        }
        let fd = open()?;
        let features = api(&fd, supported & wanted)?;
        Ok(Uffd { fd, features })
    }

    /// Registers `[start, start + len)` for write-protection.
    pub fn register_wp(&self, start: u64, len: u64) -> Result<(), String> {
        let mut reg = UffdioRegister {
            start,
            len,
            mode: UFFDIO_REGISTER_MODE_WP,
            ioctls: 0,
        };
        // SAFETY: `reg` is a valid `struct uffdio_register`.
        let ret = unsafe { libc::ioctl(self.fd.as_raw_fd(), UFFDIO_REGISTER, &mut reg) };
        Errno::result(ret)
            .map(drop)
            .map_err(|e| format!("UFFDIO_REGISTER {start:#x}+{len:#x}: {e}"))
    }
}
