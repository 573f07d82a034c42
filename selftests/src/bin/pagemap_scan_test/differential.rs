// SPDX-License-Identifier: GPL-2.0

//! Seeded randomized differential test. A seed builds a random layout of
//! every memory kind in one area (with reserved PROT_NONE stretches and
//! holes) and draws random `pm_scan_arg`s: ranges inside, across and around
//! the memory, unaligned starts (EINVAL) and ends, random category masks,
//! small vectors (or none), random `max_pages`. Each call goes to both fds,
//! and return, errno, the argument written back and the whole vector must
//! be equal. The layout is stirred between batches of calls.
//!
//! `PMS_SEED` picks the seed, `PMS_CALLS` the number of calls (default
//! 10,000); a mismatch prints both, so `PMS_SEED=S PMS_CALLS=i+1` replays it.

use nix::errno::Errno;
use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::layout::{clear_soft_dirty, Area, Kind, HUGE_PAGES};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::rng::{self, Rng};
use pagemap_scan_selftests::scanner::{arg, kernel_abi, Scanner};
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::uffd::Uffd;
use std::time::Instant;

/// `madvise` advice of Linux 6.13 on (not in this libc yet).
const MADV_GUARD_INSTALL: i32 = 102;
const MADV_GUARD_REMOVE: i32 = 103;

const DEFAULT_SEED: u64 = 0xd1ff;
const DEFAULT_CALLS: u64 = 10_000;
/// Calls between two stirs of the layout.
const BATCH: u64 = 500;
/// Mismatches after which the test stops.
const MAX_MISMATCHES: usize = 5;
/// 2 MiB slots; the first and the last stay reserved, so ranges that start
/// before the memory or end after it still scan nothing but the area (the
/// rest of the process changes between the two calls).
const SLOTS: usize = 16;
const SLOT: usize = HUGE_PAGES;
const P: u64 = PAGE as u64;
/// Fills a vector before a call: what the ioctl does not write must stay.
const UNTOUCHED: PageRegion = PageRegion {
    start: 0x5a5a_5a5a,
    end: 0xa5a5_a5a5,
    categories: !0,
};

/// The random memory.
struct Layout {
    area: Area,
    /// Registers some slots for wp-async write-protection (7.3 reports
    /// `PAGE_IS_WRITTEN` there only), as Wine does.
    uffd: Uffd,
    /// Registers some for read-write protection (`PAGE_IS_ACCESSED`), where
    /// the kernel has it (7.3).
    rwp: Option<Uffd>,
}

impl Layout {
    fn new(r: &mut Rng) -> Result<Layout, String> {
        let mut layout = Layout {
            area: Area::new(SLOTS * SLOT)?,
            uffd: Uffd::wp_async()?,
            rwp: Uffd::rwp_async().ok(),
        };
        for slot in 1..SLOTS - 1 {
            layout.fill(slot, r);
        }
        Ok(layout)
    }

    /// Maps a random kind over part or all of `slot`, then stirs it.
    /// Failures leave anonymous memory instead (no hugetlb page left), or
    /// the slot as it was (a hole in the way, a hugetlb page to cut).
    fn fill(&mut self, slot: usize, r: &mut Rng) {
        let first = slot * SLOT;
        let (kind, pages) = Kind::random_fill(r, SLOT, 2);
        if self.area.place(first, kind, pages).is_err() {
            let _ = self.area.place(first, Kind::Anon, pages);
        }
        // Registration fails on what it cannot protect; the slot stays as it is.
        let (start, len) = (self.area.page(first), (pages * PAGE) as u64);
        match (r.below(6), &self.rwp) {
            (0 | 1, _) => {
                let _ = self.uffd.register_wp(start, len);
            }
            (2, Some(rwp)) if rwp.register_rwp(start, len).is_ok() => {
                let _ = rwp.rwprotect(start, len, true);
            }
            _ => {}
        }
        self.stir(slot, r);
        if r.one_in(10) {
            let (first, pages) = run(slot, r);
            let _ = self.area.unmap(first, pages);
        }
    }

    /// Random changes of page state in `slot`: faults, zaps, page-outs,
    /// protection, guard regions (7.3). Failures (a PROT_NONE or hugetlb
    /// range, a kernel without guard regions, say) are fine.
    fn stir(&self, slot: usize, r: &mut Rng) {
        for _ in 0..2 + r.below(8) {
            let (first, pages) = run(slot, r);
            let a = &self.area;
            let _ = match r.below(11) {
                9 => a.advise(first, pages, MADV_GUARD_INSTALL),
                10 => a.advise(first, pages, MADV_GUARD_REMOVE),
                0..=2 => a.write(first, pages),
                3 => a.read(first, pages),
                4 => a.advise(first, pages, libc::MADV_DONTNEED),
                5 => a.advise(first, pages, libc::MADV_PAGEOUT),
                6 => a.protect(first, pages, r.pick(&[libc::PROT_NONE, libc::PROT_READ])),
                7 => a.protect(first, pages, libc::PROT_READ | libc::PROT_WRITE),
                _ => a.advise(
                    first,
                    pages,
                    r.pick(&[libc::MADV_HUGEPAGE, libc::MADV_NOHUGEPAGE]),
                ),
            };
        }
    }

    /// Between batches: new memory in two slots, new states in three, and
    /// now and then all soft-dirty bits cleared.
    fn mutate(&mut self, r: &mut Rng) -> Result<(), String> {
        for _ in 0..2 {
            self.fill(1 + r.below(SLOTS as u64 - 2) as usize, r);
        }
        for _ in 0..3 {
            self.stir(1 + r.below(SLOTS as u64 - 2) as usize, r);
        }
        if r.one_in(3) {
            clear_soft_dirty()?;
        }
        Ok(())
    }

    /// A page of the area, most often near a slot boundary.
    fn page(&self, r: &mut Rng) -> u64 {
        let page = if r.one_in(3) {
            r.below(self.area.pages() as u64 + 1)
        } else {
            let boundary = (1 + r.below(SLOTS as u64 - 1)) * SLOT as u64;
            (boundary + r.below(96)).saturating_sub(32)
        };
        self.area.page(page as usize)
    }

    /// A random call.
    fn call(&self, r: &mut Rng) -> Call {
        let (mut start, mut end) = match r.below(100) {
            // Unmapped low memory, outside the area.
            0 => (0x1_0000, 0x1_0000 + r.below(64) * P),
            // End below start: EFAULT.
            1 => {
                let end = self.page(r);
                (end + (1 + r.below(8)) * P, end)
            }
            2..=59 => {
                let start = self.page(r);
                (start, start + r.below(64) * P)
            }
            60..=89 => {
                let start = self.page(r);
                (start, start + r.below(3 * SLOT as u64) * P)
            }
            _ => {
                let (a, b) = (self.page(r), self.page(r));
                (a.min(b), a.max(b))
            }
        };
        end = end.min(self.area.end());
        if r.one_in(8) && end > start {
            end -= 1 + r.below(P - 1);
        }
        if r.one_in(40) {
            start += 1 + r.below(P - 1);
        }
        let [category_inverted, category_mask, category_anyof_mask, return_mask] = masks(r);
        let a = PmScanArg {
            walk_end: r.next_u64(),
            category_inverted,
            category_mask,
            category_anyof_mask,
            return_mask,
            max_pages: match r.below(4) {
                0 | 1 => 0,
                2 => 1 + r.below(16),
                _ => r.below(3 * SLOT as u64),
            },
            ..arg(start, end, 0, 0)
        };
        let vec_len = match r.below(40) {
            0 => 64,
            1 => 1024,
            _ => r.below(9) as usize,
        };
        Call {
            arg: PmScanArg {
                vec_len: vec_len as u64,
                ..a
            },
            null_vec: vec_len == 0 && r.one_in(2),
        }
    }
}

/// Category masks `[inverted, mask, anyof, return]` of the running kernel's
/// categories: half of the time what real callers ask, else random bits (one
/// or two required bits at most, or little would match).
fn masks(r: &mut Rng) -> [u64; 4] {
    let all = kernel_abi().categories;
    // The number of category bits: 8 (6.12) or 10 (7.3).
    let bits = u64::from(64 - all.leading_zeros());
    const P: u64 = PAGE_IS_PRESENT;
    const S: u64 = PAGE_IS_SWAPPED;
    const ZF: u64 = PAGE_IS_PFNZERO | PAGE_IS_FILE;
    if r.one_in(2) {
        let mut m = r.pick(&[
            // Wine's GetWriteWatch: the PAGE_IS_WRITTEN fast path.
            [0, PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN],
            // CRIU's pre-dump.
            [ZF, ZF, P | S, P | S | PAGE_IS_SOFT_DIRTY],
            [0, 0, 0, all],
            [0, P, 0, all],
            [P, P, 0, all],
            [0, S, 0, all],
            [0, PAGE_IS_SOFT_DIRTY, 0, all],
            [0, PAGE_IS_HUGE, 0, all],
            [0, PAGE_IS_FILE, 0, all],
            [0, PAGE_IS_PFNZERO, 0, all],
            [0, PAGE_IS_WPALLOWED, 0, all],
            [0, PAGE_IS_GUARD & all, 0, all],
        ]);
        if r.one_in(3) {
            m[3] = r.below(1 << bits);
        }
        return m;
    }
    let any = |r: &mut Rng| if r.one_in(2) { 0 } else { r.below(1 << bits) };
    let required = match r.below(3) {
        0 => 0,
        1 => 1 << r.below(bits),
        _ => 1 << r.below(bits) | 1 << r.below(bits),
    };
    let ret = if r.one_in(4) { all } else { any(r) };
    [any(r), required, any(r), ret]
}

/// `pages` pages starting in `slot`: short runs, sometimes the whole slot.
fn run(slot: usize, r: &mut Rng) -> (usize, usize) {
    if r.one_in(6) {
        return (slot * SLOT, SLOT);
    }
    let first = slot * SLOT + r.below(SLOT as u64) as usize;
    let pages = 1 + r.below(128) as usize;
    (first, pages.min((slot + 1) * SLOT - first))
}

/// One call to issue: the argument, but for where its vector is.
#[derive(Debug)]
struct Call {
    arg: PmScanArg,
    /// With `vec_len` 0: pass NULL rather than a (valid) pointer.
    null_vec: bool,
}

/// What a call did: its result, the argument as it was left (its `vec`
/// cleared: the two vectors are at different addresses) and the vector.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    ret: Result<i64, Errno>,
    arg: PmScanArg,
    vec: Vec<PageRegion>,
}

impl Call {
    fn issue(&self, s: &Scanner) -> Answer {
        // One region more than the call may write, to see it is not written.
        let mut vec = vec![UNTOUCHED; self.arg.vec_len as usize + 1];
        let mut a = self.arg;
        a.vec = if self.null_vec {
            0
        } else {
            vec.as_mut_ptr() as u64
        };
        // SAFETY: `a` is ours and writable; `vec` has room for `vec_len` regions.
        let ret = unsafe { s.scan_at(&mut a) };
        a.vec = 0;
        Answer { ret, arg: a, vec }
    }
}

/// An answer to `call` for a report: the regions written, not the untouched
/// rest, and the argument if more than `walk_end` was written back.
fn show(a: &Answer, call: &Call) -> String {
    let written: Vec<_> = a.vec.iter().take_while(|r| **r != UNTOUCHED).collect();
    let rewritten = PmScanArg {
        walk_end: call.arg.walk_end,
        ..a.arg
    } != call.arg;
    format!(
        "ret {:?}, walk_end {:#x}, {} regions written {written:x?}{}",
        a.ret,
        a.arg.walk_end,
        written.len(),
        if rewritten {
            format!(", argument written back {:x?}", a.arg)
        } else {
            String::new()
        }
    )
}

/// The device's answer, or why it is not the C one. The C ioctl answers
/// before and after the device: if its two answers differ, the memory
/// changed under the calls (reclaim, khugepaged) and the call is redone.
fn compare(
    dev: &Scanner,
    proc: &Scanner,
    call: &Call,
    unstable: &mut u64,
) -> Result<Answer, String> {
    for _ in 0..3 {
        let before = call.issue(proc);
        let d = call.issue(dev);
        if d == before {
            return Ok(d);
        }
        let after = call.issue(proc);
        if after == before {
            return Err(format!(
                "device {}\n  proc   {}",
                show(&d, call),
                show(&before, call)
            ));
        }
        *unstable += 1;
    }
    Err("the memory kept changing under the calls".into())
}

pub fn random_calls() -> Outcome {
    let seed = rng::seed(DEFAULT_SEED);
    let calls: u64 = std::env::var("PMS_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CALLS);
    let started = Instant::now();
    let mut r = Rng::new(seed);
    let mut layout = Layout::new(&mut r)?;
    let (dev, proc) = Scanner::pair()?;
    let (mut done, mut found, mut errors, mut unstable) = (0, 0, 0, 0);
    let (mut regions, mut seen) = (0, 0);
    let mut mismatches = Vec::new();
    for i in 0..calls {
        if i > 0 && i % BATCH == 0 {
            layout.mutate(&mut r)?;
        }
        let call = layout.call(&mut r);
        done += 1;
        match compare(&dev, &proc, &call, &mut unstable) {
            Ok(answer) => match answer.ret {
                Ok(n) => {
                    found += u64::from(n > 0);
                    regions += n;
                    let written = answer.vec.iter().take(n as usize);
                    seen |= written.fold(0, |seen, r| seen | r.categories);
                }
                Err(_) => errors += 1,
            },
            Err(why) => {
                mismatches.push(format!(
                    "seed {seed}, call {i} (replay: PMS_SEED={seed} PMS_CALLS={}):\n  {:#x?}, vec {}\n  {why}",
                    i + 1,
                    call.arg,
                    if call.null_vec { "NULL" } else { "ours" },
                ));
                if mismatches.len() == MAX_MISMATCHES {
                    break;
                }
            }
        }
    }
    println!(
        "# differential: {done} calls, {} mismatches, seed {seed}",
        mismatches.len()
    );
    println!(
        "# differential: {:.1} s; {found} calls found {regions} regions, {errors} failed alike; categories seen {seen:#x}; {unstable} redone (memory changed)",
        started.elapsed().as_secs_f64()
    );
    if !mismatches.is_empty() {
        return Err(mismatches.join("\n").into());
    }
    // The test has teeth: many calls found something, and every state the
    // layout is meant to produce was met.
    let want = kernel_abi().categories;
    ensure!(
        calls < BATCH || (found * 5 >= done && seen == want),
        "{found} of {done} calls found regions; categories seen {seen:#x}, want {want:#x}"
    );
    Ok(())
}
