// SPDX-License-Identifier: GPL-2.0

//! The device's own ioctls: `PMS_IOC_GET_FEATURES` and `PMS_IOC_ATTACH_PIDFD`.
//! Attach is allowed exactly when opening `/proc/PID/pagemap` is: the tests
//! drop to an unprivileged uid and compare the two answers.

use crate::lifecycle::in_child;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getppid, pipe, read, setgroups, setresgid, setresuid, write};
use nix::unistd::{ForkResult, Gid, Pid, Uid};
use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::mem::{Mapping, PAGE};
use pagemap_scan_selftests::scanner::{arg, Scanner};
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uapi::*;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A uid and gid nothing in the test VM belongs to.
const UNPRIVILEGED: u32 = 4242;

/// Becomes uid/gid [`UNPRIVILEGED`] without supplementary groups, and stays
/// dumpable (changing uid clears it) so that processes of the same uid may
/// ptrace-read this one and its children, as for any user's processes.
fn drop_privileges() -> Result<(), String> {
    let (uid, gid) = (Uid::from_raw(UNPRIVILEGED), Gid::from_raw(UNPRIVILEGED));
    setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
    setresgid(gid, gid, gid).map_err(|e| format!("setresgid: {e}"))?;
    setresuid(uid, uid, uid).map_err(|e| format!("setresuid: {e}"))?;
    // SAFETY: a plain prctl on this process.
    let r = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1) };
    Errno::result(r)
        .map(drop)
        .map_err(|e| format!("PR_SET_DUMPABLE: {e}"))
}

fn pidfd_open(pid: Pid) -> Result<OwnedFd, String> {
    // SAFETY: a plain syscall returning a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(fd).map_err(|e| format!("pidfd_open({pid}): {e}"))?;
    // SAFETY: `fd` is a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn attach(dev: &Scanner, pidfd: i64) -> Result<i64, Errno> {
    dev.raw_ioctl(u64::from(PMS_IOC_ATTACH_PIDFD), pidfd as u64)
}

/// The errno of opening `/proc/PID/pagemap`, `Ok` if it opens.
fn open_proc_pagemap(pid: Pid) -> Result<File, Errno> {
    File::open(format!("/proc/{pid}/pagemap"))
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
}

/// A child process with `written` pages written at the start of a fresh
/// mapping; it tells where, then waits for the go (or EOF) to exit.
struct Target {
    pid: Pid,
    start: u64,
    go: Option<OwnedFd>,
}

impl Target {
    fn spawn(pages: usize, written: &[usize]) -> Result<Target, String> {
        let (addr_rx, addr_tx) = pipe().map_err(|e| format!("pipe: {e}"))?;
        let (go_rx, go_tx) = pipe().map_err(|e| format!("pipe: {e}"))?;
        // SAFETY: the caller is single-threaded, so the child may run arbitrary code.
        match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
            ForkResult::Child => {
                drop((addr_rx, go_tx));
                if let Ok(m) = Mapping::anon(pages) {
                    written.iter().for_each(|&i| m.touch(i));
                    let _ = write(&addr_tx, &m.start().to_ne_bytes());
                    let mut b = [0u8; 1];
                    let _ = read(go_rx.as_raw_fd(), &mut b);
                }
                // SAFETY: leave without running the parent's destructors.
                unsafe { libc::_exit(0) };
            }
            ForkResult::Parent { child } => {
                drop((addr_tx, go_rx));
                let mut b = [0u8; 8];
                let n = read(addr_rx.as_raw_fd(), &mut b).map_err(|e| format!("read: {e}"))?;
                ensure!(n == 8, "the target did not say where its pages are");
                Ok(Target {
                    pid: child,
                    start: u64::from_ne_bytes(b),
                    go: Some(go_tx),
                })
            }
        }
    }

    /// Lets it exit; reaps it if `reap`, else leaves a zombie.
    fn exit(&mut self, reap: bool) -> Result<(), String> {
        drop(self.go.take());
        if reap {
            let status = waitpid(self.pid, None).map_err(|e| format!("waitpid: {e}"))?;
            ensure!(
                matches!(status, WaitStatus::Exited(_, 0)),
                "target ended with {status:?}"
            );
        } else {
            // Exited but not reaped: a zombie, without an mm.
            let stat = format!("/proc/{}/stat", self.pid);
            let zombie = (0..500).any(|_| {
                std::thread::sleep(std::time::Duration::from_millis(10));
                std::fs::read_to_string(&stat).is_ok_and(|s| s.contains(") Z "))
            });
            ensure!(zombie, "the target did not become a zombie");
        }
        Ok(())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        drop(self.go.take());
        let _ = waitpid(self.pid, None);
    }
}

pub fn features() -> Outcome {
    let dev = Scanner::device().map_err(|e| e.to_string())?;
    let get =
        |buf: &mut [u64]| dev.raw_ioctl(u64::from(PMS_IOC_GET_FEATURES), buf.as_mut_ptr() as u64);
    let mut f = [PMS_FEATURES_SIZE_VER0, 0, 0, 0];
    ensure!(get(&mut f) == Ok(0), "size 32: {:?}", get(&mut f));
    ensure!(
        f == [32, PM_SCAN_CATEGORIES, PM_SCAN_FLAGS, 3],
        "size 32: {f:x?}, want [32, 0xff, 3, 3]"
    );
    // A newer caller: the fields the module does not know come back zeroed.
    let mut f = [48, !0, !0, !0, !0, !0, !0];
    ensure!(get(&mut f) == Ok(0), "size 48: {:?}", get(&mut f));
    ensure!(
        f == [32, PM_SCAN_CATEGORIES, PM_SCAN_FLAGS, 3, 0, 0, !0],
        "size 48: {f:x?}"
    );
    for size in [0, 8, 31, 4097, u64::MAX] {
        let mut f = [size, 0, 0, 0];
        let r = get(&mut f);
        ensure!(r == Err(Errno::EINVAL), "size {size}: {r:?}, want EINVAL");
    }
    // Bad pointers, and a struct the module may read but not write.
    let ro = Mapping::anon(1)?;
    // SAFETY: the page is ours and writable until the `protect` below.
    unsafe { (ro.start() as *mut u64).write(PMS_FEATURES_SIZE_VER0) };
    ro.protect(libc::PROT_READ)?;
    for p in [0, 8, ro.start(), u64::MAX - 7] {
        let r = dev.raw_ioctl(u64::from(PMS_IOC_GET_FEATURES), p);
        ensure!(r == Err(Errno::EFAULT), "at {p:#x}: {r:?}, want EFAULT");
    }
    Ok(())
}

pub fn attach_own_child() -> Outcome {
    in_child(|| {
        drop_privileges()?;
        let mut target = Target::spawn(8, &[1, 2, 5])?;
        let pidfd = pidfd_open(target.pid)?;
        let dev = Scanner::device().map_err(|e| e.to_string())?;
        let proc = open_proc_pagemap(target.pid)
            .map_err(|e| format!("open /proc/{}/pagemap: {e}", target.pid))?;
        let proc = Scanner::from_fd("proc", proc.into());
        ensure!(
            attach(&dev, pidfd.as_raw_fd().into()) == Ok(0),
            "attach to an own child refused: {:?}",
            attach(&dev, pidfd.as_raw_fd().into())
        );
        let start = target.start;
        let a = arg(
            start,
            start + 8 * PAGE as u64,
            PAGE_IS_PRESENT,
            PAGE_IS_PRESENT,
        );
        let (d, dv) = dev.regions(a, 8);
        let (p, pv) = proc.regions(a, 8);
        let page = |i: u64| start + i * PAGE as u64;
        let want = [(page(1), page(3)), (page(5), page(6))];
        ensure!(
            d == p && dv == pv,
            "device {d:?} {dv:x?} != /proc/PID/pagemap {p:?} {pv:x?}"
        );
        let got: Vec<(u64, u64)> = dv.iter().map(|r| (r.start, r.end)).collect();
        ensure!(got == want, "regions {got:x?}, want {want:x?}");

        // Once the child is gone, both fail as C does, and attaching fails too.
        target.exit(true)?;
        let mut a = a;
        let (d, p) = (dev.scan(&mut a.clone()), proc.scan(&mut a));
        ensure!(
            d.ret == Err(Errno::ESRCH) && d == p,
            "after exit: device {d:?}, proc {p:?}"
        );
        let r = attach(&dev, pidfd.as_raw_fd().into());
        ensure!(r == Err(Errno::ESRCH), "dead pidfd: {r:?}, want ESRCH");
        Ok(())
    })
}

pub fn attach_zombie() -> Outcome {
    // A zombie has no mm. As root, opening its /proc/PID/pagemap fails as
    // attaching does; unprivileged, the open fails earlier (a zombie's proc
    // files belong to root: EACCES) while attaching still says ESRCH.
    let zombie_attach = || -> Result<(Errno, Result<(), Errno>), String> {
        let mut target = Target::spawn(1, &[0])?;
        let pidfd = pidfd_open(target.pid)?;
        target.exit(false)?;
        let dev = Scanner::device().map_err(|e| e.to_string())?;
        let r = attach(&dev, pidfd.as_raw_fd().into());
        let proc = open_proc_pagemap(target.pid).map(drop);
        Ok((r.err().unwrap_or(Errno::UnknownErrno), proc))
    };
    let (r, proc) = zombie_attach()?;
    ensure!(
        r == Errno::ESRCH && proc == Err(Errno::ESRCH),
        "root: attach {r:?}, open /proc/PID/pagemap {proc:?}; want ESRCH for both"
    );
    in_child(|| {
        drop_privileges()?;
        let (r, _) = zombie_attach()?;
        ensure!(r == Errno::ESRCH, "unprivileged: attach {r:?}, want ESRCH");
        Ok(())
    })
}

pub fn attach_refused_for_another_user() -> Outcome {
    // The parent (this test, root) and init are another user's processes.
    in_child(|| {
        drop_privileges()?;
        let dev = Scanner::device().map_err(|e| e.to_string())?;
        let mine = Mapping::anon(2)?;
        mine.touch(0);
        for pid in [getppid(), Pid::from_raw(1)] {
            let pidfd = pidfd_open(pid)?;
            let r = attach(&dev, pidfd.as_raw_fd().into());
            let proc = open_proc_pagemap(pid).map(drop);
            ensure!(
                r == Err(Errno::EACCES) && proc == Err(Errno::EACCES),
                "pid {pid}: attach {r:?}, open /proc/PID/pagemap {proc:?}; want EACCES for both"
            );
        }
        // A refused attach leaves the fd bound to its opener.
        let (r, v) = dev.regions(arg(mine.start(), mine.end(), PAGE_IS_PRESENT, 0), 2);
        ensure!(
            r.ret == Ok(1) && v[0].start == mine.start(),
            "own scan after refusals: {r:?} {v:x?}"
        );
        Ok(())
    })
}

pub fn attach_needs_a_pidfd() -> Outcome {
    let dev = Scanner::device().map_err(|e| e.to_string())?;
    let null = File::open("/dev/null").map_err(|e| e.to_string())?;
    let closed = {
        let f = File::open("/dev/null").map_err(|e| e.to_string())?;
        f.as_raw_fd()
    };
    for fd in [
        -1,
        i64::from(null.as_raw_fd()),
        i64::from(dev.raw_fd()),
        i64::from(closed),
        1 << 32,
    ] {
        let r = attach(&dev, fd);
        ensure!(r == Err(Errno::EBADF), "fd {fd}: {r:?}, want EBADF");
    }
    Ok(())
}
