// SPDX-License-Identifier: GPL-2.0

//! The two PAGEMAP_SCAN implementations under comparison: the module's device
//! and the kernel's C ioctl on `/proc/self/pagemap`, opened by the API
//! crate's [`pagemap_scan::Scanner`]; the calls here are raw, so a test can
//! pass any `pm_scan_arg`, malformed ones included.

use crate::uapi::{PageRegion, PmScanArg, PAGEMAP_SCAN};
use nix::errno::Errno;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};

/// The module's device node (the API crate's).
pub use pagemap_scan::DEVICE;

/// An fd that takes PAGEMAP_SCAN.
pub struct Scanner {
    /// What it is, for messages.
    pub name: &'static str,
    file: File,
}

/// What one call returned: the ioctl's result or errno, and `walk_end` after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Number of regions, or the errno.
    pub ret: Result<i64, Errno>,
    /// `walk_end` as written back (or left) in the argument.
    pub walk_end: u64,
}

impl Scanner {
    /// Opens the module's device.
    pub fn device() -> std::io::Result<Scanner> {
        let fd = OwnedFd::from(pagemap_scan::Scanner::open()?);
        Ok(Scanner::from_fd("device", fd))
    }

    /// Opens the kernel's `/proc/self/pagemap`.
    pub fn proc() -> std::io::Result<Scanner> {
        let fd = OwnedFd::from(pagemap_scan::Scanner::open_proc_self()?);
        Ok(Scanner::from_fd("proc", fd))
    }

    /// An fd received from elsewhere (`SCM_RIGHTS`, say).
    pub fn from_fd(name: &'static str, fd: std::os::fd::OwnedFd) -> Scanner {
        Scanner {
            name,
            file: File::from(fd),
        }
    }

    /// Both, the device first.
    pub fn pair() -> Result<(Scanner, Scanner), String> {
        let dev = Scanner::device().map_err(|e| format!("open {DEVICE}: {e}"))?;
        let proc = Scanner::proc().map_err(|e| format!("open /proc/self/pagemap: {e}"))?;
        Ok((dev, proc))
    }

    /// The fd's number.
    pub fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }

    /// Issues `cmd` with a raw argument.
    pub fn raw_ioctl(&self, cmd: u64, arg: u64) -> Result<i64, Errno> {
        // SAFETY: the kernel validates `arg`; a bad pointer gives EFAULT, not UB here.
        let ret = unsafe { libc::ioctl(self.file.as_raw_fd(), cmd, arg) };
        Errno::result(ret).map(i64::from)
    }

    /// PAGEMAP_SCAN with the argument at `arg` (may point anywhere: errors are the point).
    ///
    /// # Safety
    ///
    /// If `arg` points to memory of this process, that memory must be writable
    /// by the kernel or the call's outcome is only an error, as with any ioctl.
    pub unsafe fn scan_at(&self, arg: *mut PmScanArg) -> Result<i64, Errno> {
        self.raw_ioctl(u64::from(PAGEMAP_SCAN), arg as u64)
    }

    /// PAGEMAP_SCAN on `arg`, returning the reply.
    pub fn scan(&self, arg: &mut PmScanArg) -> Reply {
        // SAFETY: `arg` is a valid, writable `PmScanArg`.
        let ret = unsafe { self.scan_at(arg) };
        Reply {
            ret,
            walk_end: arg.walk_end,
        }
    }

    /// PAGEMAP_SCAN of `[start, end)` into a fresh vector of `vec_len` regions.
    pub fn regions(&self, mut arg: PmScanArg, vec_len: usize) -> (Reply, Vec<PageRegion>) {
        let mut vec = vec![PageRegion::default(); vec_len];
        arg.vec = vec.as_mut_ptr() as u64;
        arg.vec_len = vec_len as u64;
        let reply = self.scan(&mut arg);
        vec.truncate(reply.ret.unwrap_or(0).max(0) as usize);
        (reply, vec)
    }
}

/// A `PmScanArg` for `[start, end)` with the right size and the given masks.
pub fn arg(start: u64, end: u64, category_mask: u64, return_mask: u64) -> PmScanArg {
    PmScanArg {
        size: std::mem::size_of::<PmScanArg>() as u64,
        start,
        end,
        category_mask,
        return_mask,
        ..Default::default()
    }
}

/// The same call through `dev` and `proc`, with room for `vec_len` regions:
/// the reply and regions when the two agree, else both of them.
pub fn both(
    dev: &Scanner,
    proc: &Scanner,
    a: PmScanArg,
    vec_len: usize,
) -> Result<(Reply, Vec<PageRegion>), String> {
    let (d, dv) = dev.regions(a, vec_len);
    let (p, pv) = proc.regions(a, vec_len);
    if d != p || dv != pv {
        return Err(format!(
            "{a:x?}, vec_len {vec_len}:\n  device {d:x?} {dv:x?}\n  proc   {p:x?} {pv:x?}"
        ));
    }
    Ok((p, pv))
}

/// The rules of the running kernel's C ioctl (the oracle), told apart by
/// what it answers: 7.3's validation accepts `PAGE_IS_ACCESSED`, which came
/// with the rules that differ (WRITTEN only in uffd-wp VMAs); 6.12's does not.
pub fn kernel_abi() -> pagemap_scan_core::abi::KernelAbi {
    use pagemap_scan_core::abi::{V6_12, V7_3};
    static ABI: std::sync::OnceLock<pagemap_scan_core::abi::KernelAbi> = std::sync::OnceLock::new();
    *ABI.get_or_init(|| {
        let proc = Scanner::proc().expect("open /proc/self/pagemap");
        let mut probe = arg(0, 0, crate::uapi::PAGE_IS_ACCESSED, 0);
        match proc.scan(&mut probe).ret {
            Ok(_) => V7_3,
            Err(_) => V6_12,
        }
    })
}

/// `PAGE_IS_WRITTEN` where the running kernel reports it for a page without
/// the uffd bit in a VMA not registered with userfaultfd (6.12), else 0 (7.3).
pub fn written_in_plain_vma() -> u64 {
    kernel_abi().unprotected(false, false)
}

/// `delete_module("pagemap_scan", O_NONBLOCK)`: what `rmmod` asks, without waiting.
pub fn try_unload_module() -> Result<(), Errno> {
    // SAFETY: a plain syscall on a NUL-terminated name.
    let r = unsafe {
        libc::syscall(
            libc::SYS_delete_module,
            c"pagemap_scan".as_ptr(),
            libc::O_NONBLOCK,
        )
    };
    Errno::result(r).map(drop)
}
