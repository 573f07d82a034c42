// SPDX-License-Identifier: GPL-2.0

//! Stress: scanner threads (GET and GET+WP through the device) against
//! mutator threads that keep changing the scanned address space: map and
//! unmap (anon, shmem, hugetlb), mremap, mprotect, madvise (DONTNEED,
//! PAGEOUT, HUGEPAGE, NOHUGEPAGE, COLLAPSE), fork + exit, userfaultfd
//! register/unregister. Bounded in time and seeded; any failed scan fails the
//! run, and the kernel's checkers (on the debug kernel) watch the rest.
//!
//! Usage: pagemap_scan_stress [SECONDS] (default 20); PMS_SEED sets the seed.

use pagemap_scan_selftests::rng::{self, Rng};
use pagemap_scan_selftests::scanner::{arg, Scanner};
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::uffd::Uffd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SLOT: u64 = 2 << 20;
const MADV_POPULATE_WRITE: i32 = 23;
const MADV_COLLAPSE: i32 = 25;
const SLOTS: u64 = 32;

/// The reserved area the threads fight over.
struct Area {
    base: u64,
}

impl Area {
    fn new() -> Result<Area, String> {
        let len = ((SLOTS + 1) * SLOT) as usize;
        // SAFETY: a fresh reservation at an address of the kernel's choosing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err("mmap of the area failed".into());
        }
        // The area stays mapped until exit; slots are 2 MiB aligned.
        Ok(Area {
            base: (p as u64 + SLOT - 1) & !(SLOT - 1),
        })
    }

    fn slot(&self, i: u64) -> *mut libc::c_void {
        (self.base + i * SLOT) as *mut libc::c_void
    }

    fn end(&self) -> u64 {
        self.base + SLOTS * SLOT
    }
}

/// One random change to the area. Failures are expected (races between
/// mutators, no hugetlb page left) and ignored: only the kernel must cope.
fn mutate(area: &Area, uffd: &Uffd, r: &mut Rng) {
    let slot = r.below(SLOTS);
    let addr = area.slot(slot);
    let len = (SLOT >> r.below(4)) as usize;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let fixed = libc::MAP_FIXED | libc::MAP_NORESERVE;
    // SAFETY: these calls only change mappings inside the area, which the
    // program never dereferences: pages are populated by the kernel
    // (MADV_POPULATE_WRITE), which fails cleanly if a racing thread unmapped them.
    unsafe {
        match r.below(12) {
            0 => {
                let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | fixed;
                if libc::mmap(addr, len, rw, flags, -1, 0) != libc::MAP_FAILED {
                    libc::madvise(addr, len / 2, MADV_POPULATE_WRITE);
                }
            }
            1 => {
                let flags = libc::MAP_SHARED | libc::MAP_ANONYMOUS | fixed;
                if libc::mmap(addr, len, rw, flags, -1, 0) != libc::MAP_FAILED {
                    libc::madvise(addr, len / 4, MADV_POPULATE_WRITE);
                }
            }
            2 => {
                let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB | fixed;
                if libc::mmap(addr, SLOT as usize, rw, flags, -1, 0) != libc::MAP_FAILED {
                    libc::madvise(addr, SLOT as usize, MADV_POPULATE_WRITE);
                }
            }
            3 => drop(libc::munmap(addr, len)),
            4 => {
                let to = area.slot(r.below(SLOTS));
                libc::mremap(
                    addr,
                    len,
                    len,
                    libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                    to,
                );
            }
            5 => drop(libc::mprotect(
                addr,
                len,
                r.pick(&[libc::PROT_NONE, libc::PROT_READ, rw]),
            )),
            6 => drop(libc::madvise(addr, len, libc::MADV_DONTNEED)),
            7 => drop(libc::madvise(addr, len, libc::MADV_PAGEOUT)),
            8 => drop(libc::madvise(
                addr,
                len,
                r.pick(&[libc::MADV_HUGEPAGE, libc::MADV_NOHUGEPAGE]),
            )),
            9 => drop(libc::madvise(addr, len, MADV_COLLAPSE)),
            10 => drop(uffd.register_wp(addr as u64, len as u64)),
            _ => {
                // A child: the mm is copied, then torn down, while scans run.
                let pid = libc::fork();
                if pid == 0 {
                    libc::_exit(0);
                } else if pid > 0 {
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
            }
        }
    }
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed = rng::seed(0x57_2e55);
    let area = Area::new().expect("area");
    let uffd = Uffd::wp_async().expect("userfaultfd");
    let dev = Scanner::device().expect("open /dev/pagemap_scan");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let stop = AtomicBool::new(false);
    let (scans, mutations, failures) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));

    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (area, uffd, stop, mutations) = (&area, &uffd, &stop, &mutations);
            s.spawn(move || {
                let mut r = Rng::new(seed ^ (t + 1));
                while !stop.load(Ordering::Relaxed) {
                    mutate(area, uffd, &mut r);
                    mutations.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for t in 0..2u64 {
            let (area, dev, stop, scans, failures) = (&area, &dev, &stop, &scans, &failures);
            s.spawn(move || {
                let mut r = Rng::new(seed ^ (t + 100));
                while !stop.load(Ordering::Relaxed) {
                    let mut a = arg(
                        area.base,
                        area.end(),
                        r.below(256) & r.below(256),
                        r.below(256),
                    );
                    a.flags = if r.one_in(2) { PM_SCAN_WP_MATCHING } else { 0 };
                    a.max_pages = r.pick(&[0, 1, 100]);
                    let (reply, _) = dev.regions(a, r.pick(&[0, 1, 16, 512]) as usize);
                    if reply.ret.is_err() {
                        eprintln!("# stress: scan {a:?} failed: {reply:?}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    scans.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
    });

    let (scans, mutations, failures) = (
        scans.into_inner(),
        mutations.into_inner(),
        failures.into_inner(),
    );
    println!("# stress: {secs} s, seed {seed}: {scans} scans, {mutations} mutations, {failures} failed scans");
    std::process::exit(i32::from(failures != 0 || scans == 0));
}
