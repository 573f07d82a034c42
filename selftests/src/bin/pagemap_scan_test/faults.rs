// SPDX-License-Identifier: GPL-2.0

//! Faults around a scan: a fatal signal while it runs, its output vector
//! taken away under it, its fd passed to another process that outlives the
//! opener, the module unloaded while an fd is open. Where C meets the same
//! situation, the device must answer as C does.

use crate::lifecycle::read_all;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, pipe, read, write, ForkResult, Pid};
use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::mem::{Mapping, PAGE};
use pagemap_scan_selftests::rng::{self, Rng};
use pagemap_scan_selftests::scanner::{arg, try_unload_module, Reply, Scanner};
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::uffd::Uffd;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The two implementations, opened afresh in the process that uses them.
const OPENERS: [fn() -> std::io::Result<Scanner>; 2] = [Scanner::device, Scanner::proc];

/// `regions` one-page regions: every other page of an anonymous mapping
/// written. One scan of it with a large vector takes `regions / 512` chunks.
fn alternating(regions: usize) -> Result<Mapping, String> {
    let m = Mapping::anon(2 * regions)?;
    for i in 0..regions {
        m.touch(2 * i);
    }
    Ok(m)
}

/// Room for `len` regions, each entry set to `SENTINEL`.
fn vector(len: usize) -> Result<Mapping, String> {
    let bytes = (len * size_of::<PageRegion>()).next_multiple_of(PAGE);
    let v = Mapping::anon(bytes / PAGE)?;
    fill(&v, len);
    Ok(v)
}

const SENTINEL: PageRegion = PageRegion {
    start: 0x5e5e,
    end: 0x5e5e,
    categories: 0x5e5e,
};

fn fill(v: &Mapping, len: usize) {
    // SAFETY: `v` holds `len` writable regions (see `vector`).
    unsafe { std::slice::from_raw_parts_mut(v.start() as *mut PageRegion, len) }.fill(SENTINEL);
}

/// The first `len` regions of `v` (whose pages are all readable).
fn entries(v: &Mapping, len: usize) -> Vec<PageRegion> {
    // SAFETY: `v` holds `len` readable regions.
    unsafe { std::slice::from_raw_parts(v.start() as *const PageRegion, len) }.to_vec()
}

/// The bytes of `regions`.
fn bytes_of(regions: &[PageRegion]) -> Vec<u8> {
    regions
        .iter()
        .flat_map(|r| [r.start, r.end, r.categories])
        .flat_map(u64::to_ne_bytes)
        .collect()
}

/// A scan of all of `m` for written pages into `vec`.
fn scan_arg(m: &Mapping, vec: &Mapping, vec_len: usize) -> PmScanArg {
    let mut a = arg(m.start(), m.end(), PAGE_IS_PRESENT, PAGE_IS_PRESENT);
    a.vec = vec.start();
    a.vec_len = vec_len as u64;
    a
}

/// Whether `pid` is inside PAGEMAP_SCAN on its fd `fd`, from `/proc/PID/syscall`.
fn in_scan(pid: Pid, fd: i32) -> bool {
    let Ok(line) = std::fs::read_to_string(format!("/proc/{pid}/syscall")) else {
        return false;
    };
    let mut f = line.split_whitespace();
    let ioctl = libc::SYS_ioctl.to_string();
    f.next() == Some(&ioctl)
        && f.next() == Some(&format!("{fd:#x}"))
        && f.next() == Some(&format!("{PAGEMAP_SCAN:#x}"))
}

/// Polls `cond` every 10 ms for up to `limit`.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// What a scanning child does until it is killed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// One scan that cannot finish. It is killed once `/proc/PID/syscall`
    /// shows it sleeping inside PAGEMAP_SCAN, and still there 300 ms on.
    Blocked,
    /// Scans back to back, nothing else, so it is almost always inside one
    /// (a running task's `/proc/PID/syscall` cannot be read to make sure).
    /// It is killed after a random 0.2-0.5 s.
    Looping,
}

/// Forks a child that opens a scanner with `open`, prepares with `prepare`
/// (which returns the argument and anything to keep alive) and scans as
/// `how` says, then kills it with SIGKILL. The child must die of the signal
/// (a scan that ignored it would run on or block forever); the kmemleak and
/// dmesg checks after the suite cover what it might leak or break on the way.
fn kill_mid_scan<K>(
    open: fn() -> std::io::Result<Scanner>,
    how: Scan,
    prepare: impl FnOnce() -> Result<(PmScanArg, K), String>,
) -> Outcome {
    let (rx, tx) = pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: the test is single-threaded, so the child may run arbitrary code.
    let child = match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(rx);
            let (s, mut a, _keep) = match open()
                .map_err(|e| e.to_string())
                .and_then(|s| prepare().map(|(a, k)| (s, a, k)))
            {
                Ok(v) => v,
                Err(e) => {
                    let _ = write(&tx, format!("error {e}").as_bytes());
                    // SAFETY: leave without running the parent's destructors.
                    unsafe { libc::_exit(2) };
                }
            };
            let _ = write(&tx, s.raw_fd().to_string().as_bytes());
            drop(tx);
            loop {
                let r = s.scan(&mut a);
                if how == Scan::Blocked || r.ret.is_err() {
                    // SAFETY: as above; the parent reads the status.
                    unsafe { libc::_exit(3) };
                }
            }
        }
        ForkResult::Parent { child } => child,
    };
    drop(tx);
    let msg = read_all(&rx);
    let outcome = (|| -> Result<(), String> {
        let fd: i32 = msg.parse().map_err(|_| format!("child: {msg}"))?;
        match how {
            Scan::Blocked => {
                ensure!(
                    wait_for(Duration::from_secs(60), || in_scan(child, fd)),
                    "the child never slept inside PAGEMAP_SCAN"
                );
                std::thread::sleep(Duration::from_millis(300));
                ensure!(
                    in_scan(child, fd),
                    "the scan returned although its vector cannot be written"
                );
            }
            Scan::Looping => {
                let mut rng = Rng::new(rng::seed(0x6b11));
                std::thread::sleep(Duration::from_millis(200 + rng.below(300)));
            }
        }
        Ok(())
    })();
    let _ = kill(child, Signal::SIGKILL);
    // A scan that ignores the signal would keep the child: give up after 60 s.
    let mut status = WaitStatus::StillAlive;
    let reaped = wait_for(Duration::from_secs(60), || {
        status = waitpid(child, Some(WaitPidFlag::WNOHANG)).unwrap_or(WaitStatus::StillAlive);
        status != WaitStatus::StillAlive
    });
    outcome?;
    ensure!(reaped, "the child was still alive 60 s after SIGKILL");
    ensure!(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGKILL, _)),
        "the child ended with {status:?}, want SIGKILL"
    );
    Ok(())
}

pub fn killed_while_blocked() -> Outcome {
    // 1024 regions: the first chunk's 512 fill the vector's first three pages,
    // the second chunk's copy faults on the fourth, which userfaultfd holds.
    // The copy happens with the mmap lock dropped, so it can wait; only the
    // signal ends it.
    for open in OPENERS {
        kill_mid_scan(open, Scan::Blocked, || {
            let m = alternating(1024)?;
            let vec = Mapping::anon(6)?;
            for page in 0..3 {
                vec.touch(page);
            }
            let uffd = Uffd::missing_only()?;
            uffd.register_missing(vec.page(3), 3 * PAGE as u64)?;
            Ok((scan_arg(&m, &vec, 1024), (m, vec, uffd)))
        })?;
    }
    Ok(())
}

pub fn killed_while_looping() -> Outcome {
    // 8192 regions: each scan is 16 chunks, each a chance to see the signal.
    for open in OPENERS {
        kill_mid_scan(open, Scan::Looping, || {
            let m = alternating(8192)?;
            let vec = vector(8192)?;
            Ok((scan_arg(&m, &vec, 8192), (m, vec)))
        })?;
    }
    Ok(())
}

/// The reply and the whole vector after one scan by each implementation.
fn scan_both(
    m: &Mapping,
    vec: &Mapping,
    len: usize,
    readable: usize,
) -> Result<[(Reply, Vec<PageRegion>); 2], String> {
    let (dev, proc) = Scanner::pair()?;
    Ok([&dev, &proc].map(|s| {
        fill(vec, readable);
        let mut a = scan_arg(m, vec, len);
        let reply = s.scan(&mut a);
        (reply, entries(vec, readable))
    }))
}

pub fn vector_read_only_or_unmapped() -> Outcome {
    // The second chunk's copy runs into page 4 of the vector: C copies up to
    // the fault, fails with EFAULT and still writes walk_end back.
    let m = alternating(1024)?;
    let full = (1024 * size_of::<PageRegion>()) / PAGE;
    let readable = 4 * PAGE / size_of::<PageRegion>();
    for prot in [libc::PROT_READ, libc::PROT_NONE] {
        let vec = vector(1024)?;
        protect_range(&vec, 4, full - 4, prot)?;
        let [dev, proc] = scan_both(&m, &vec, 1024, readable)?;
        ensure!(
            proc.0.ret == Err(Errno::EFAULT),
            "C ioctl: {:?}, want EFAULT",
            proc.0
        );
        ensure!(
            dev == proc,
            "prot {prot}: device {:x?} != proc {:x?}",
            dev.0,
            proc.0
        );
    }
    // The same with the tail unmapped.
    let mut parts = vector(1024)?
        .punch(4 * PAGE, (full - 4) * PAGE)
        .map_err(|(_, e)| e)?;
    let vec = parts.remove(0);
    let [dev, proc] = scan_both(&m, &vec, 1024, readable)?;
    ensure!(
        proc.0.ret == Err(Errno::EFAULT) && dev == proc,
        "unmapped tail: device {:x?} != proc {:x?}",
        dev.0,
        proc.0
    );
    Ok(())
}

/// `mprotect` of pages `[first, first + pages)` of `m`.
fn protect_range(m: &Mapping, first: usize, pages: usize, prot: i32) -> Result<(), String> {
    mprotect(m.page(first), pages * PAGE, prot)
}

/// `mprotect` of `[addr, addr + len)`, inside a mapping of the caller's.
fn mprotect(addr: u64, len: usize, prot: i32) -> Result<(), String> {
    // SAFETY: changes the protection of memory the caller owns and does not
    // reference through Rust while it is protected.
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot) };
    Errno::result(r)
        .map(drop)
        .map_err(|e| format!("mprotect: {e}"))
}

pub fn vector_revoked_by_another_thread() -> Outcome {
    // One thread scans into a vector whose second half another thread makes
    // read-only at a random moment. Either the scan finished first, or it
    // fails with EFAULT; what it wrote is a prefix of the full answer and the
    // rest is untouched: nothing wrong, nothing lost.
    let seed = rng::seed(0x5ca1_ab1e);
    let mut rng = Rng::new(seed);
    let m = alternating(4096)?;
    let (dev, proc) = Scanner::pair()?;
    let half = 2048 * size_of::<PageRegion>() / PAGE;
    for s in [&dev, &proc] {
        let vec = vector(4096)?;
        let mut a = scan_arg(&m, &vec, 4096);
        let t = Instant::now();
        let full = s.scan(&mut a);
        // The revocation lands anywhere from before the scan to after it.
        let span = 2 * t.elapsed().as_micros().max(1) as u64;
        ensure!(full.ret == Ok(4096), "{}: full scan {full:?}", s.name);
        let want = entries(&vec, 4096);
        let (mut finished, mut faulted) = (0, 0);
        for round in 0..40 {
            fill(&vec, 4096);
            let delay = Duration::from_micros(rng.below(span));
            let go = AtomicBool::new(false);
            let (reply, revoked) = std::thread::scope(|sc| {
                let tail = vec.page(half);
                let go = &go;
                // Spins rather than sleeps: a wakeup is coarser than a scan.
                let revoker = sc.spawn(move || {
                    while !go.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    let t = Instant::now();
                    while t.elapsed() < delay {
                        std::hint::spin_loop();
                    }
                    mprotect(tail, half * PAGE, libc::PROT_READ)
                });
                let mut a = scan_arg(&m, &vec, 4096);
                go.store(true, Ordering::Release);
                (s.scan(&mut a), revoker.join().expect("revoker panicked"))
            });
            revoked?;
            let got = entries(&vec, 4096);
            protect_range(&vec, half, half, libc::PROT_READ | libc::PROT_WRITE)?;
            let ctx = format!("{} seed {seed:#x} round {round}: {reply:?}", s.name);
            match reply.ret {
                Ok(4096) => finished += 1,
                Err(Errno::EFAULT) => faulted += 1,
                _ => return Err(format!("{ctx}: want 4096 regions or EFAULT").into()),
            }
            // Compared by bytes: the copy stops at a page boundary, which may
            // cut an entry in two.
            let (got, want) = (bytes_of(&got), bytes_of(&want));
            let sentinel = bytes_of(&[SENTINEL; 4096]);
            let written = got.iter().zip(&want).take_while(|(g, w)| g == w).count();
            ensure!(
                got[written..] == sentinel[written..],
                "{ctx}: bytes after the first {written} are neither the answer nor untouched"
            );
            ensure!(
                reply.ret.is_err() || written == want.len(),
                "{ctx}: success with only {written} bytes written"
            );
        }
        println!(
            "# {}: 40 rounds (seed {seed:#x}): {finished} finished, {faulted} EFAULT",
            s.name
        );
    }
    Ok(())
}

/// Sends `fds` and `data` over a unix socket.
fn send_fds(sock: &OwnedFd, fds: &[i32], data: &[u8]) -> Result<(), String> {
    let cmsg = [ControlMessage::ScmRights(fds)];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(data)],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .map(drop)
    .map_err(|e| format!("sendmsg: {e}"))
}

/// Receives what [`send_fds`] sent: the fds and the data.
fn recv_fds(sock: &OwnedFd) -> Result<(Vec<OwnedFd>, Vec<u8>), String> {
    let mut buf = [0u8; 64];
    let mut space = nix::cmsg_space!([i32; 2]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .map_err(|e| format!("recvmsg: {e}"))?;
    let mut fds = Vec::new();
    for c in msg.cmsgs().map_err(|e| format!("cmsgs: {e}"))? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            // SAFETY: SCM_RIGHTS installed these fds in this process for us.
            fds.extend(
                raw.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    let n = msg.bytes;
    Ok((fds, buf[..n].to_vec()))
}

pub fn fd_passed_by_scm_rights() -> Outcome {
    // The opener sends both fds to this process (not inherited: passed), with
    // the address of one page it wrote. While the opener lives, the fds scan
    // its mm, not ours; once it has exited, both give ESRCH.
    let (here, there) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| format!("socketpair: {e}"))?;
    // SAFETY: single-threaded test, see `kill_mid_scan`.
    let opener = match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(here);
            let sent = Scanner::pair().and_then(|(dev, proc)| {
                let m = Mapping::anon(4)?;
                m.touch(1);
                let addr = m.start().to_ne_bytes();
                send_fds(&there, &[dev.raw_fd(), proc.raw_fd()], &addr)?;
                // Wait for the go to exit, keeping the page mapped.
                let mut b = [0u8; 1];
                let _ = read(there.as_raw_fd(), &mut b);
                Ok(())
            });
            // SAFETY: leave without running the parent's destructors.
            unsafe { libc::_exit(i32::from(sent.is_err())) };
        }
        ForkResult::Parent { child } => child,
    };
    drop(there);
    let outcome = (|| {
        let (fds, data) = recv_fds(&here)?;
        ensure!(
            fds.len() == 2 && data.len() == 8,
            "received {} fds and {} bytes",
            fds.len(),
            data.len()
        );
        let start = u64::from_ne_bytes(data.try_into().expect("8 bytes"));
        let scanners: Vec<Scanner> = fds
            .into_iter()
            .zip(["device", "proc"])
            .map(|(fd, name)| Scanner::from_fd(name, fd))
            .collect();
        let a = arg(
            start,
            start + 4 * PAGE as u64,
            PAGE_IS_PRESENT,
            PAGE_IS_PRESENT,
        );
        for s in &scanners {
            let (r, v) = s.regions(a, 4);
            let page = start + PAGE as u64;
            let want = [PageRegion {
                start: page,
                end: page + PAGE as u64,
                categories: PAGE_IS_PRESENT,
            }];
            ensure!(
                r.ret == Ok(1) && v == want,
                "{} while the opener lives: {r:?} {v:x?}",
                s.name
            );
        }
        write(&here, b"x").map_err(|e| format!("write: {e}"))?;
        let status = waitpid(opener, None).map_err(|e| format!("waitpid: {e}"))?;
        ensure!(
            matches!(status, WaitStatus::Exited(_, 0)),
            "opener ended with {status:?}"
        );
        for s in &scanners {
            let mut a = a;
            let r = s.scan(&mut a);
            ensure!(
                r.ret == Err(Errno::ESRCH),
                "{} after the opener exited: {r:?}, want ESRCH",
                s.name
            );
        }
        Ok(())
    })();
    if outcome.is_err() {
        let _ = kill(opener, Signal::SIGKILL);
        let _ = waitpid(opener, None);
    }
    outcome
}

pub fn rmmod_refused_while_open() -> Outcome {
    let dev = Scanner::device().map_err(|e| e.to_string())?;
    let r = try_unload_module();
    ensure!(
        r == Err(Errno::EWOULDBLOCK),
        "delete_module with an fd open: {r:?}, want EWOULDBLOCK"
    );
    // The module is still there and the fd still works.
    let m = alternating(2)?;
    let (r, v) = dev.regions(arg(m.start(), m.end(), PAGE_IS_PRESENT, 0), 4);
    ensure!(
        r.ret == Ok(2) && v.len() == 2,
        "scan after the refused unload: {r:?}"
    );
    Ok(())
}
