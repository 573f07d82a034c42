// SPDX-License-Identifier: GPL-2.0

//! Randomized differential test: a seeded random layout of every memory kind
//! and seeded random `pm_scan_arg`s (ranges inside, around and across
//! mappings, unaligned ends, random masks, small vectors, `max_pages`), each
//! issued to the device and to the C ioctl; return, errno, `walk_end` and
//! every region must be equal. `PMS_SEED` replays a seed, `PMS_CALLS` runs
//! longer (default 10,000).

use nix::errno::Errno;
use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::rng::{self, Rng};
use pagemap_scan_selftests::scanner::{arg, Scanner};
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uapi::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const P: u64 = PAGE as u64;
const SLOT: u64 = 2 << 20;
const SLOTS: u64 = 8;
/// Pages of a non-huge slot that get touched (the rest stays empty).
const ACTIVE: u64 = 64;

/// A 2 MiB-aligned reservation whose slots are remapped at random.
struct Layout {
    /// The reservation; scans stay inside it, so they see nothing else of
    /// the process (whose heap changes between the two calls).
    reserved: u64,
    len: usize,
    /// The first slot.
    base: u64,
    file: OwnedFd,
}

impl Drop for Layout {
    fn drop(&mut self) {
        // SAFETY: the reservation is ours and nothing refers into it any more.
        unsafe { libc::munmap(self.reserved as *mut libc::c_void, self.len) };
    }
}

impl Layout {
    fn new() -> Result<Layout, String> {
        let len = ((SLOTS + 1) * SLOT) as usize;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        // SAFETY: a fresh reservation at an address of the kernel's choosing.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_NONE, flags, -1, 0) };
        ensure!(p != libc::MAP_FAILED, "reservation: {}", Errno::last());
        // SAFETY: a plain syscall with a NUL-terminated name.
        let fd = Errno::result(unsafe { libc::memfd_create(c"random".as_ptr(), 0) })
            .map_err(|e| format!("memfd_create: {e}"))?;
        // SAFETY: a new fd we own.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sizes our own file.
        unsafe { libc::ftruncate(file.as_raw_fd(), SLOT as i64) };
        // The base is rounded up to 2 MiB inside the reservation; `len` covers it.
        let reserved = p as u64;
        Ok(Layout {
            reserved,
            len,
            base: (reserved + SLOT - 1) & !(SLOT - 1),
            file,
        })
    }

    fn slot(&self, i: u64) -> u64 {
        self.base + i * SLOT
    }

    /// Replaces slot `i` with a random kind of memory in a random state.
    fn remap(&self, i: u64, r: &mut Rng) {
        let addr = self.slot(i) as *mut libc::c_void;
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let fixed = libc::MAP_FIXED | libc::MAP_NORESERVE;
        let (anon, shared) = (libc::MAP_ANONYMOUS | fixed, libc::MAP_SHARED | fixed);
        let huge = r.below(9);
        let (flags, fd) = match huge {
            0 => (libc::MAP_PRIVATE | anon | libc::MAP_HUGETLB, -1),
            1 => (libc::MAP_SHARED | anon, -1),
            2 => (shared, self.file.as_raw_fd()),
            3 => (libc::MAP_PRIVATE | fixed, self.file.as_raw_fd()),
            _ => (libc::MAP_PRIVATE | anon, -1),
        };
        // SAFETY: replaces a slot of our reservation, which nothing refers into.
        let p = unsafe { libc::mmap(addr, SLOT as usize, rw, flags, fd, 0) };
        if p == libc::MAP_FAILED {
            // No hugetlb page left, say: leave the slot as it was.
            return;
        }
        let page = |n: u64| (self.slot(i) + n * P) as *mut u8;
        match huge {
            // A hugetlb page, populated or not.
            0 => {
                if r.one_in(2) {
                    // SAFETY: inside the slot just mapped writable.
                    unsafe { page(0).write_volatile(1) };
                }
            }
            // A THP candidate, touched once.
            4 => {
                // SAFETY: advice and a write inside the slot just mapped.
                unsafe {
                    libc::madvise(addr, SLOT as usize, libc::MADV_HUGEPAGE);
                    page(r.below(512)).write_volatile(1);
                }
            }
            _ => {
                for n in 0..ACTIVE {
                    // SAFETY: inside the slot just mapped readable and writable.
                    unsafe {
                        match r.below(6) {
                            0 | 1 => page(n).write_volatile(1),
                            2 => drop(page(n).read_volatile()),
                            _ => {}
                        }
                    }
                }
                let (n, len) = (r.below(ACTIVE), (1 + r.below(8)) * P);
                let advice = r.pick(&[libc::MADV_DONTNEED, libc::MADV_PAGEOUT, 0]);
                // SAFETY: advice on a range of the slot.
                unsafe { libc::madvise(page(n).cast(), len as usize, advice) };
                if r.one_in(4) {
                    // SAFETY: as above.
                    unsafe { libc::mprotect(page(n).cast(), len as usize, libc::PROT_READ) };
                }
            }
        }
        if r.one_in(10) {
            // SAFETY: unmaps part of the slot; nothing refers into it.
            unsafe { libc::munmap(page(r.below(ACTIVE)).cast(), (r.below(16) * P) as usize) };
        }
    }

    /// An address in the reservation: mostly page-aligned, sometimes not.
    fn address(&self, r: &mut Rng) -> u64 {
        let a = self.reserved + r.below(self.len as u64 / P) * P;
        let a = if r.one_in(3) {
            self.slot(r.below(SLOTS)) + r.below(ACTIVE + 8) * P
        } else {
            a
        };
        if r.one_in(50) {
            a + 1 + r.below(P - 1)
        } else {
            a
        }
    }

    fn arg(&self, r: &mut Rng) -> (PmScanArg, usize) {
        let start = self.address(r);
        let end = if r.one_in(4) {
            self.address(r).max(start)
        } else {
            start + r.below(128) * P + r.pick(&[0, 0, 0, 1])
        };
        let mask = |r: &mut Rng| {
            if r.one_in(2) {
                0
            } else {
                r.below(256) & r.below(256)
            }
        };
        let a = PmScanArg {
            category_inverted: mask(r),
            category_mask: mask(r),
            category_anyof_mask: mask(r),
            max_pages: if r.one_in(3) { 1 + r.below(64) } else { 0 },
            ..arg(
                start,
                end,
                0,
                if r.one_in(8) {
                    0
                } else {
                    r.below(256) | 1 << r.below(8)
                },
            )
        };
        (a, r.pick(&[0, 1, 2, 3, 8, 64]))
    }
}

pub fn random_calls() -> Outcome {
    let seed = rng::seed(0xd1ff);
    let calls: u64 = std::env::var("PMS_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let mut r = Rng::new(seed);
    let layout = Layout::new()?;
    (0..SLOTS).for_each(|i| layout.remap(i, &mut r));
    let (dev, proc) = Scanner::pair()?;
    let mut found = 0;
    for i in 0..calls {
        if i % 1000 == 999 {
            (0..3).for_each(|_| layout.remap(r.below(SLOTS), &mut r));
            if r.one_in(2) {
                std::fs::write("/proc/self/clear_refs", "4")
                    .map_err(|e| format!("clear_refs: {e}"))?;
            }
        }
        let (a, vec_len) = layout.arg(&mut r);
        let (d, dv) = dev.regions(a, vec_len);
        let (p, pv) = proc.regions(a, vec_len);
        ensure!(
            d == p && dv == pv,
            "seed {seed} call {i} (replay: PMS_SEED={seed}): {a:?} vec_len {vec_len}\n  device {d:?} {dv:x?}\n  proc   {p:?} {pv:x?}"
        );
        found += pv.len();
    }
    println!("# differential: {calls} calls, 0 mismatches, {found} regions compared, seed {seed}");
    Ok(())
}
