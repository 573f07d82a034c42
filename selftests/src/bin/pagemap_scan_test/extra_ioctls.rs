// SPDX-License-Identifier: GPL-2.0

//! The device's own ioctls: `PMS_IOC_GET_FEATURES` and `PMS_IOC_ATTACH_PIDFD`.
//! Attach is allowed exactly when opening `/proc/PID/pagemap` is: the tests
//! drop to an unprivileged uid and compare the two answers. Like that open,
//! attach makes a new fd bound to the target; the fd it is called on, and
//! every copy of it (`dup`, `fork`), stays bound to its opener.

use crate::lifecycle::{in_child, read_all};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getpid, getppid, pipe, read, setgroups, setresgid, setresuid, write};
use nix::unistd::{ForkResult, Gid, Pid, Uid};
use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::mem::{Mapping, PAGE};
use pagemap_scan_selftests::scanner::{arg, both, kernel_abi, try_unload_module, Scanner};
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uapi::*;
use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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

/// `PMS_IOC_ATTACH_PIDFD` on `dev`: the new fd it returns, as a scanner.
fn attach(dev: &Scanner, pidfd: i64) -> Result<Scanner, Errno> {
    let fd = dev.raw_ioctl(u64::from(PMS_IOC_ATTACH_PIDFD), pidfd as u64)?;
    let fd = i32::try_from(fd).map_err(|_| Errno::ERANGE)?;
    // SAFETY: a successful attach returns a new fd, which nothing else owns.
    Ok(Scanner::from_fd("attached", unsafe {
        OwnedFd::from_raw_fd(fd)
    }))
}

/// An attach expected to fail: its errno (`Ok` closes the new fd).
fn attach_errno(dev: &Scanner, pidfd: i64) -> Result<(), Errno> {
    attach(dev, pidfd).map(drop)
}

/// The `/proc/PID/pagemap` of `pid` as a scanner.
fn proc_of(pid: Pid) -> Result<Scanner, String> {
    let f = open_proc_pagemap(pid).map_err(|e| format!("open /proc/{pid}/pagemap: {e}"))?;
    Ok(Scanner::from_fd("proc", f.into()))
}

/// The page indexes, from `start`, of the regions of `v`.
fn pages(v: &[PageRegion], start: u64) -> Vec<(u64, u64)> {
    let page = PAGE as u64;
    v.iter()
        .map(|r| ((r.start - start) / page, (r.end - start) / page))
        .collect()
}

/// The present pages of `[start, start + n pages)` through `s`, checked
/// against `proc` (the same mm's `/proc/PID/pagemap`).
fn present(s: &Scanner, proc: &Scanner, start: u64, n: usize) -> Result<Vec<(u64, u64)>, String> {
    let a = arg(
        start,
        start + (n * PAGE) as u64,
        PAGE_IS_PRESENT,
        PAGE_IS_PRESENT,
    );
    let (r, v) = both(s, proc, a, n)?;
    ensure!(r.ret.is_ok(), "{}: {r:?}", s.name);
    Ok(pages(&v, start))
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
    // Attach returns a new fd: PMS_FEATURE_ATTACH_NEW_FD with the other two.
    let ioctls = PMS_FEATURE_GET_FEATURES | PMS_FEATURE_ATTACH_PIDFD | PMS_FEATURE_ATTACH_NEW_FD;
    let categories = kernel_abi().categories;
    ensure!(
        f == [32, categories, PM_SCAN_FLAGS, ioctls] && ioctls == 7,
        "size 32: {f:x?}, want [32, {categories:#x}, 3, 7]"
    );
    // A newer caller: the fields the module does not know come back zeroed.
    let mut f = [48, !0, !0, !0, !0, !0, !0];
    ensure!(get(&mut f) == Ok(0), "size 48: {:?}", get(&mut f));
    ensure!(
        f == [32, categories, PM_SCAN_FLAGS, ioctls, 0, 0, !0],
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
        let mine = Mapping::anon(4)?;
        mine.touch(3);
        let mut target = Target::spawn(8, &[1, 2, 5])?;
        let pidfd = pidfd_open(target.pid)?;
        let dev = Scanner::device().map_err(|e| e.to_string())?;
        let proc = proc_of(target.pid)?;
        let attached = attach(&dev, pidfd.as_raw_fd().into())
            .map_err(|e| format!("attach to an own child refused: {e}"))?;
        let got = present(&attached, &proc, target.start, 8)?;
        ensure!(
            got == [(1, 3), (5, 6)],
            "attached: present pages {got:?}, want [(1, 3), (5, 6)]"
        );
        // The fd attach was called on still scans its opener.
        let own = Scanner::proc().map_err(|e| e.to_string())?;
        let got = present(&dev, &own, mine.start(), 4)?;
        ensure!(
            got == [(3, 4)],
            "the device fd after attach: {got:?}, want [(3, 4)]"
        );

        // Once the child is gone, both fail as C does, and attaching fails too.
        target.exit(true)?;
        let mut a = arg(
            target.start,
            target.start + 8 * PAGE as u64,
            0,
            PAGE_IS_PRESENT,
        );
        let (d, p) = (attached.scan(&mut a.clone()), proc.scan(&mut a));
        ensure!(
            d.ret == Err(Errno::ESRCH) && d == p,
            "after exit: attached {d:?}, proc {p:?}"
        );
        let r = attach_errno(&dev, pidfd.as_raw_fd().into());
        ensure!(r == Err(Errno::ESRCH), "dead pidfd: {r:?}, want ESRCH");
        Ok(())
    })
}

pub fn attach_new_fd_scans_like_proc() -> Outcome {
    // The same calls on the attached fd and on the target's /proc/PID/pagemap:
    // masks, inversion, limits, partial ranges and small vectors.
    let target = Target::spawn(16, &[0, 1, 2, 5, 8, 9, 15])?;
    let pidfd = pidfd_open(target.pid)?;
    let dev = Scanner::device().map_err(|e| e.to_string())?;
    let attached = attach(&dev, pidfd.as_raw_fd().into()).map_err(|e| format!("attach: {e}"))?;
    drop(pidfd);
    let proc = proc_of(target.pid)?;
    let (start, end) = (target.start, target.start + 16 * PAGE as u64);
    let all = kernel_abi().categories;
    let mut args = vec![
        arg(start, end, 0, all),
        arg(start, end, PAGE_IS_PRESENT, PAGE_IS_PRESENT),
        arg(start + PAGE as u64, end - 3 * PAGE as u64, 0, all),
        PmScanArg {
            category_inverted: PAGE_IS_PRESENT,
            ..arg(start, end, PAGE_IS_PRESENT, all)
        },
        PmScanArg {
            category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
            ..arg(start, end, 0, PAGE_IS_PRESENT | PAGE_IS_SWAPPED)
        },
    ];
    args.extend(
        args.clone()
            .into_iter()
            .map(|a| PmScanArg { max_pages: 3, ..a }),
    );
    for a in args {
        for vec_len in [1, 2, 16] {
            both(&attached, &proc, a, vec_len)?;
        }
    }
    let got = present(&attached, &proc, start, 16)?;
    let want = [(0, 3), (5, 6), (8, 10), (15, 16)];
    ensure!(got == want, "present pages {got:?}, want {want:?}");
    Ok(())
}

pub fn attach_leaves_the_shared_fd() -> Outcome {
    // The opener's fd is shared with a forked child (the same open file, as
    // with dup or SCM_RIGHTS). After the opener attaches, the child's copy
    // still scans the opener's mm, as /proc/PPID/pagemap shows it.
    let mine = Mapping::anon(4)?;
    mine.touch(0);
    mine.touch(2);
    let target = Target::spawn(4, &[1, 3])?;
    let pidfd = pidfd_open(target.pid)?;
    let dev = Scanner::device().map_err(|e| e.to_string())?;
    let (go_rx, go_tx) = pipe().map_err(|e| format!("pipe: {e}"))?;
    let (res_rx, res_tx) = pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: the test is single-threaded, so the child may run arbitrary code.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop((go_tx, res_rx));
            // EOF: the parent has attached.
            let _ = read_all(&go_rx);
            let msg = (|| -> Result<(), String> {
                let parent = proc_of(getppid())?;
                let got = present(&dev, &parent, mine.start(), 4)?;
                ensure!(
                    got == [(0, 1), (2, 3)],
                    "present pages {got:?}, want [(0, 1), (2, 3)]"
                );
                Ok(())
            })()
            .err()
            .unwrap_or_default();
            let _ = write(&res_tx, msg.as_bytes());
            // SAFETY: leave without running the parent's destructors.
            unsafe { libc::_exit(0) };
        }
        ForkResult::Parent { child } => {
            drop((go_rx, res_tx));
            let attached = attach(&dev, pidfd.as_raw_fd().into());
            drop(go_tx);
            let msg = read_all(&res_rx);
            let status = waitpid(child, None).map_err(|e| format!("waitpid: {e}"))?;
            let attached = attached.map_err(|e| format!("attach: {e}"))?;
            ensure!(
                msg.is_empty() && matches!(status, WaitStatus::Exited(_, 0)),
                "the forked child's copy of the fd after the parent attached: {msg} ({status:?})"
            );
            // The opener's own fd and a dup of it: the opener's mm too.
            let own = Scanner::proc().map_err(|e| e.to_string())?;
            // SAFETY: `dev` is open for the duration of this borrow.
            let dup = unsafe { BorrowedFd::borrow_raw(dev.raw_fd()) }
                .try_clone_to_owned()
                .map_err(|e| format!("dup: {e}"))?;
            for s in [&dev, &Scanner::from_fd("dup", dup)] {
                let got = present(s, &own, mine.start(), 4)?;
                ensure!(got == [(0, 1), (2, 3)], "{}: present pages {got:?}", s.name);
            }
            // Only the new fd scans the target.
            let got = present(&attached, &proc_of(target.pid)?, target.start, 4)?;
            ensure!(got == [(1, 2), (3, 4)], "attached: present pages {got:?}");
            Ok(())
        }
    }
}

pub fn attach_fds_are_independent() -> Outcome {
    let mine = Mapping::anon(4)?;
    mine.touch(1);
    let target = Target::spawn(4, &[0, 3])?;
    let pidfd = pidfd_open(target.pid)?;
    let own = Scanner::proc().map_err(|e| e.to_string())?;
    let theirs = proc_of(target.pid)?;
    // Closing the device fd leaves the attached one working...
    let dev = Scanner::device().map_err(|e| e.to_string())?;
    let first = attach(&dev, pidfd.as_raw_fd().into()).map_err(|e| format!("attach: {e}"))?;
    drop(dev);
    let got = present(&first, &theirs, target.start, 4)?;
    ensure!(
        got == [(0, 1), (3, 4)],
        "attached, device fd closed: {got:?}"
    );
    // ...and closing an attached fd leaves the device fd and other attached
    // fds (on the same target) working.
    let dev = Scanner::device().map_err(|e| e.to_string())?;
    let second = attach(&dev, pidfd.as_raw_fd().into()).map_err(|e| format!("attach: {e}"))?;
    ensure!(
        second.raw_fd() != first.raw_fd() && second.raw_fd() != dev.raw_fd(),
        "attach returned fd {} (first {}, device {})",
        second.raw_fd(),
        first.raw_fd(),
        dev.raw_fd()
    );
    drop(second);
    let got = present(&dev, &own, mine.start(), 4)?;
    ensure!(got == [(1, 2)], "device fd, attached fd closed: {got:?}");
    let got = present(&first, &theirs, target.start, 4)?;
    ensure!(
        got == [(0, 1), (3, 4)],
        "first attached fd, second closed: {got:?}"
    );
    // An attached fd takes the device's ioctls, attach included.
    let third = attach(&first, pidfd.as_raw_fd().into())
        .map_err(|e| format!("attach through an attached fd: {e}"))?;
    let got = present(&third, &theirs, target.start, 4)?;
    ensure!(
        got == [(0, 1), (3, 4)],
        "attached through an attached fd: {got:?}"
    );
    Ok(())
}

pub fn attach_new_fd_is_cloexec_and_read_only() -> Outcome {
    let dev = Scanner::device().map_err(|e| e.to_string())?;
    let me = pidfd_open(getpid())?;
    let attached = attach(&dev, me.as_raw_fd().into()).map_err(|e| format!("attach: {e}"))?;
    let fd_flags =
        fcntl(attached.raw_fd(), FcntlArg::F_GETFD).map_err(|e| format!("F_GETFD: {e}"))?;
    ensure!(
        FdFlag::from_bits_truncate(fd_flags).contains(FdFlag::FD_CLOEXEC),
        "F_GETFD of the attached fd: {fd_flags:#x}, want FD_CLOEXEC"
    );
    let fl = fcntl(attached.raw_fd(), FcntlArg::F_GETFL).map_err(|e| format!("F_GETFL: {e}"))?;
    ensure!(
        OFlag::from_bits_truncate(fl) & OFlag::O_ACCMODE == OFlag::O_RDONLY,
        "F_GETFL of the attached fd: {fl:#o}, want O_RDONLY"
    );
    let link = std::fs::read_link(format!("/proc/self/fd/{}", attached.raw_fd()))
        .map_err(|e| format!("readlink: {e}"))?;
    ensure!(
        link.as_os_str() == "anon_inode:[pagemap_scan]",
        "the attached fd is {link:?}"
    );
    // Its own process attached: the same answers as /proc/self/pagemap.
    let m = Mapping::anon(4)?;
    m.touch(2);
    let got = present(
        &attached,
        &Scanner::proc().map_err(|e| e.to_string())?,
        m.start(),
        4,
    )?;
    ensure!(got == [(2, 3)], "attached to itself: {got:?}");
    Ok(())
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
        let r = attach_errno(&dev, pidfd.as_raw_fd().into());
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
            let r = attach_errno(&dev, pidfd.as_raw_fd().into());
            let proc = open_proc_pagemap(pid).map(drop);
            ensure!(
                r == Err(Errno::EACCES) && proc == Err(Errno::EACCES),
                "pid {pid}: attach {r:?}, open /proc/PID/pagemap {proc:?}; want EACCES for both"
            );
        }
        // A refused attach leaves the fd bound to its opener, and no new fd.
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
        let r = attach_errno(&dev, fd);
        ensure!(r == Err(Errno::EBADF), "fd {fd}: {r:?}, want EBADF");
    }
    Ok(())
}

/// The module's reference count (`/sys/module/pagemap_scan/refcnt`).
fn module_refcnt() -> Result<i64, String> {
    pagemap_scan_selftests::knob::number("/sys/module/pagemap_scan/refcnt").map(|n| n as i64)
}

pub fn attach_fd_holds_the_module() -> Outcome {
    // An attached fd holds the module as a device fd does (fops->owner): each
    // takes one reference, and with only the attached fd open rmmod is refused.
    let dev = Scanner::device().map_err(|e| e.to_string())?;
    let before = module_refcnt()?;
    let me = pidfd_open(getpid())?;
    let attached = attach(&dev, me.as_raw_fd().into()).map_err(|e| format!("attach: {e}"))?;
    let with_both = module_refcnt()?;
    drop(dev);
    let with_attached = module_refcnt()?;
    ensure!(
        with_both == before + 1 && with_attached == before,
        "module refcnt: {before} with the device fd, {with_both} after attach, \
         {with_attached} with the attached fd alone; want +1 then -1"
    );
    let r = try_unload_module();
    ensure!(
        r == Err(Errno::EWOULDBLOCK),
        "delete_module with only an attached fd open: {r:?}, want EWOULDBLOCK"
    );
    // The module is still there and the attached fd still works.
    let m = Mapping::anon(2)?;
    m.touch(0);
    let got = present(
        &attached,
        &Scanner::proc().map_err(|e| e.to_string())?,
        m.start(),
        2,
    )?;
    ensure!(got == [(0, 1)], "scan after the refused unload: {got:?}");
    drop(attached);
    let after = module_refcnt()?;
    ensure!(
        after == before - 1,
        "module refcnt after closing the attached fd: {after}, want {}",
        before - 1
    );
    Ok(())
}
