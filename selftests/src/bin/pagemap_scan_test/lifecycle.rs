// SPDX-License-Identifier: GPL-2.0

//! The fd's life: which ioctls it takes, which mm it is bound to across
//! `fork`, and what it does once that mm is gone.

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe, read, write, ForkResult};
use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::mem::Mapping;
use pagemap_scan_selftests::scanner::{arg, Reply, Scanner};
use pagemap_scan_selftests::tap::{Failure, Outcome};
use pagemap_scan_selftests::uapi::*;
use std::os::fd::{AsRawFd, OwnedFd};

pub fn unknown_ioctl() -> Outcome {
    let dev = Scanner::device().map_err(|e| e.to_string())?;
    let io = |nr: u64| (u64::from(b'f') << 8) | nr;
    // _IOWR('f', 16) with another size is another ioctl.
    let wrong_size = (u64::from(PAGEMAP_SCAN) & !(0x3fff << 16)) | (88 << 16);
    for cmd in [0, io(17), io(16), wrong_size, 0x5401 /* TCGETS */] {
        let r = dev.raw_ioctl(cmd, 0);
        ensure!(
            r == Err(Errno::ENOTTY),
            "cmd {cmd:#x}: got {r:?}, want ENOTTY"
        );
    }
    Ok(())
}

/// Runs `body` in a child process and returns its outcome.
pub fn in_child(body: impl FnOnce() -> Outcome) -> Outcome {
    let (rx, tx) = pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: the test is single-threaded, so the child may run arbitrary code.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(rx);
            let msg = match body() {
                Ok(()) => String::new(),
                Err(Failure::Fail(e) | Failure::Skip(e)) => e,
            };
            let _ = write(&tx, msg.as_bytes());
            // SAFETY: leave without running the parent's atexit handlers or destructors.
            unsafe { libc::_exit(0) };
        }
        ForkResult::Parent { child } => {
            drop(tx);
            let msg = read_all(&rx);
            let status = waitpid(child, None).map_err(|e| format!("waitpid: {e}"))?;
            ensure!(
                matches!(status, WaitStatus::Exited(_, 0)),
                "child ended with {status:?}"
            );
            ensure!(msg.is_empty(), "in child: {msg}");
            Ok(())
        }
    }
}

/// Reads `fd` to EOF as text.
pub fn read_all(fd: &OwnedFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = read(fd.as_raw_fd(), &mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Scans all of `m` for present pages through both fds and compares.
fn present_regions(dev: &Scanner, proc: &Scanner, m: &Mapping) -> Result<i64, String> {
    let a = arg(m.start(), m.end(), PAGE_IS_PRESENT, PAGE_IS_PRESENT);
    let (d, dv) = dev.regions(a, 8);
    let (p, pv) = proc.regions(a, 8);
    ensure!(
        d == p && dv == pv,
        "device {d:?} {dv:?} != proc {p:?} {pv:?}"
    );
    p.ret.map_err(|e| format!("scan failed: {e}"))
}

pub fn fork_keeps_binding() -> Outcome {
    let (dev, proc) = Scanner::pair()?;
    let m = Mapping::anon(4)?;
    in_child(|| {
        // The child populates its own copy of the (unpopulated) mapping.
        m.touch(0);
        // The inherited fds still see the parent's mm, where nothing is present...
        let n = present_regions(&dev, &proc, &m)?;
        ensure!(
            n == 0,
            "inherited fds: {n} present regions, want 0 (the parent's)"
        );
        // ...while fds opened in the child see the child's.
        let (dev2, proc2) = Scanner::pair()?;
        let n = present_regions(&dev2, &proc2, &m)?;
        ensure!(
            n == 1,
            "fresh fds: {n} present regions, want 1 (the child's)"
        );
        Ok(())
    })
}

pub fn dead_mm_is_esrch() -> Outcome {
    // The opener opens both fds, forks a holder, and exits; the holder then
    // calls both once the opener's mm is gone, and reports through a pipe.
    let (go_rx, go_tx) = pipe().map_err(|e| format!("pipe: {e}"))?;
    let (res_rx, res_tx) = pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: single-threaded test, see `in_child`.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop((go_tx, res_rx));
            let Ok((dev, proc)) = Scanner::pair() else {
                // SAFETY: leave the opener without unwinding into the parent's code.
                unsafe { libc::_exit(2) }
            };
            // SAFETY: the opener is single-threaded too.
            if let Ok(ForkResult::Child) = unsafe { fork() } {
                // The holder: wait for the parent's go, then scan through both fds.
                let _ = read_all(&go_rx);
                let scan = |s: &Scanner| {
                    let mut a = arg(0x10000, 0x20000, 0, PAGE_IS_PRESENT);
                    s.scan(&mut a)
                };
                let msg = format!("{:?}|{:?}", scan(&dev), scan(&proc));
                let _ = write(&res_tx, msg.as_bytes());
                // SAFETY: as above.
                unsafe { libc::_exit(0) };
            }
            // SAFETY: the opener exits now, taking its mm with it.
            unsafe { libc::_exit(0) };
        }
        ForkResult::Parent { child } => {
            drop((go_rx, res_tx));
            let status = waitpid(child, None).map_err(|e| format!("waitpid: {e}"))?;
            ensure!(
                matches!(status, WaitStatus::Exited(_, 0)),
                "opener ended with {status:?}"
            );
            drop(go_tx); // EOF: the holder goes.
            let got = read_all(&res_rx);
            let esrch = Reply {
                ret: Err(Errno::ESRCH),
                walk_end: 0,
            };
            let want = format!("{esrch:?}|{esrch:?}");
            ensure!(got == want, "device|proc replies: {got}, want {want}");
            Ok(())
        }
    }
}
