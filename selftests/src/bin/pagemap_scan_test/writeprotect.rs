// SPDX-License-Identifier: GPL-2.0

//! PM_SCAN_WP_MATCHING and PM_SCAN_CHECK_WPASYNC on userfaultfd wp-async
//! memory. Twin regions get the same layout and the same writes; one is
//! driven through the device, the other through /proc/self/pagemap, and the
//! results are compared relative to each region's base. The write-protection
//! each left behind is then compared by a plain GET on both.

use nix::errno::Errno;
use pagemap_scan_selftests::churn::Tally;
use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::layout::{self, Area, Kind};
use pagemap_scan_selftests::mem::{Mapping, PAGE};
use pagemap_scan_selftests::rng::Rng;
use pagemap_scan_selftests::scanner::{arg, kernel_abi, Reply, Scanner};
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::uffd::Uffd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const HUGE: u64 = layout::HUGE as u64;
const P: u64 = PAGE as u64;

/// Two regions of one kind, registered for uffd-wp async.
pub(crate) struct Twin {
    pub(crate) areas: [Area; 2],
    _uffd: Uffd,
    bases: [u64; 2],
    pub(crate) len: u64,
}

impl Twin {
    pub(crate) fn new(kind: Kind, len: u64) -> Result<Twin, String> {
        Twin::new_with(kind, len, false)
    }

    /// Like `new`, the twins written all over before they are registered:
    /// a fault in a registered VMA allocates no large folio.
    pub(crate) fn written(kind: Kind, len: u64) -> Result<Twin, String> {
        Twin::new_with(kind, len, true)
    }

    fn new_with(kind: Kind, len: u64, write: bool) -> Result<Twin, String> {
        let uffd = Uffd::wp_async()?;
        let pages = len as usize / PAGE;
        let areas = [Area::of(kind, pages)?, Area::of(kind, pages)?];
        for area in &areas {
            if write {
                area.write(0, pages)?;
            }
            uffd.register_wp(area.base(), len)?;
        }
        Ok(Twin {
            bases: areas.each_ref().map(Area::base),
            areas,
            _uffd: uffd,
            len,
        })
    }

    /// Writes byte offsets `offs` in both regions.
    pub(crate) fn write(&self, offs: &[u64]) {
        for &base in &self.bases {
            for &off in offs {
                // SAFETY: `off < len` by the callers; the region is writable.
                unsafe { ((base + off) as *mut u8).write_volatile(1) };
            }
        }
    }

    /// `madvise(advice)` of `[off, off + len)` in both regions.
    pub(crate) fn advise(&self, off: u64, len: u64, advice: i32) -> Outcome {
        for area in &self.areas {
            area.advise((off / P) as usize, (len / P) as usize, advice)?;
        }
        Ok(())
    }
}

/// A call's result with regions made relative to the region's base.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Relative {
    pub(crate) ret: Result<i64, Errno>,
    pub(crate) walk_end: u64,
    pub(crate) regions: Vec<(u64, u64, u64)>,
}

/// Issues `make(base)` through `s` and makes the reply relative to `base`.
fn relative(s: &Scanner, base: u64, mut a: PmScanArg, vec_len: usize) -> Relative {
    a.start += base;
    a.end += base;
    let (reply, regions): (Reply, _) = if vec_len == 0 {
        (s.scan(&mut a), Vec::new())
    } else {
        s.regions(a, vec_len)
    };
    Relative {
        ret: reply.ret,
        walk_end: reply.walk_end.wrapping_sub(base),
        regions: regions
            .iter()
            .map(|r| (r.start - base, r.end - base, r.categories))
            .collect(),
    }
}

/// The same call (addresses relative) on A through the device and on B through proc.
pub(crate) fn both(t: &Twin, a: PmScanArg, vec_len: usize, what: &str) -> Result<Relative, String> {
    let (dev, proc) = Scanner::pair()?;
    let d = relative(&dev, t.bases[0], a, vec_len);
    let p = relative(&proc, t.bases[1], a, vec_len);
    ensure!(d == p, "{what}: device {d:?}\n  != proc {p:?}");
    Ok(p)
}

/// The WP state of both regions read by the same (C) scanner: must be equal.
pub(crate) fn same_state(t: &Twin, what: &str) -> Result<Relative, String> {
    let proc = Scanner::proc().map_err(|e| e.to_string())?;
    let all = arg(0, t.len, 0, kernel_abi().categories);
    let a = relative(&proc, t.bases[0], all, 4096);
    let b = relative(&proc, t.bases[1], all, 4096);
    ensure!(
        a == b,
        "{what}: state left by the device {a:?}\n  != by proc {b:?}"
    );
    Ok(a)
}

/// [`both`], then [`same_state`], counted in `tally` as a compared scan.
pub(crate) fn counted(
    tally: &mut Tally,
    t: &Twin,
    a: PmScanArg,
    what: &str,
) -> Result<Relative, String> {
    tally.scans += 1;
    tally.compared += 1;
    let r = both(t, a, 1024, what).inspect_err(|_| tally.mismatches += 1)?;
    same_state(t, what)?;
    Ok(r)
}

pub(crate) fn wp(start: u64, end: u64, mask: u64, ret: u64) -> PmScanArg {
    PmScanArg {
        flags: PM_SCAN_WP_MATCHING,
        ..arg(start, end, mask, ret)
    }
}

/// Pages reported written by a relative reply, as byte offsets.
fn pages(r: &Relative) -> Vec<u64> {
    r.regions
        .iter()
        .flat_map(|&(s, e, _)| (s..e).step_by(PAGE))
        .collect()
}

/// The whole protocol on one kind: reset, write, GET+WP, zap, generic masks.
pub fn twin_kind(kind: Kind) -> Outcome {
    let len = 2 * HUGE;
    let t = Twin::new(kind, len)?;
    let unit = if matches!(kind, Kind::Hugetlb) {
        HUGE
    } else {
        P
    };
    // Some memory is populated before the reset.
    t.write(&(0..len).step_by(3 * unit as usize).collect::<Vec<_>>());

    // Reset: protect everything, no output vector.
    let r = both(&t, wp(0, len, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN), 0, "reset")?;
    ensure!(r.ret == Ok(0) && r.walk_end == len, "{kind:?} reset: {r:?}");
    let written = arg(0, len, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN);
    let r = both(&t, written, 64, "GET after reset")?;
    ensure!(r.regions.is_empty(), "{kind:?}: written after reset: {r:?}");

    // Writes, then GET+WP with the Wine masks (the PAGE_IS_WRITTEN fast path).
    let offs: Vec<u64> = [1, 2, 3, 9, 20, 21]
        .iter()
        .map(|i| i * unit % len)
        .collect();
    t.write(&offs);
    let r = both(
        &t,
        wp(0, len, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN),
        64,
        "GET+WP",
    )?;
    let got = pages(&r);
    for off in &offs {
        let page = off & !(P - 1);
        ensure!(
            got.contains(&page),
            "{kind:?}: write at {off:#x} not reported: {r:?}"
        );
    }
    if matches!(kind, Kind::Anon | Kind::Shmem) {
        ensure!(
            got.len() == offs.len(),
            "{kind:?}: reported {got:x?}, wrote {offs:x?}"
        );
    }
    same_state(&t, "after GET+WP")?;
    let r = both(&t, written, 64, "GET after GET+WP")?;
    ensure!(
        r.regions.is_empty(),
        "{kind:?}: still written after GET+WP: {r:?}"
    );

    // Zapped protected pages keep their protection (markers), written ones
    // are reported; then GET+WP through the generic path.
    t.write(&[5 * unit % len]);
    t.advise(8 * unit % len, unit, libc::MADV_DONTNEED)?;
    let state = same_state(&t, "after zap")?;
    if matches!(kind, Kind::Shmem) {
        let zapped = state.regions.iter().find(|r| r.0 <= 8 * P && 8 * P < r.1);
        ensure!(
            zapped.is_none_or(|r| r.2 & PAGE_IS_WRITTEN == 0),
            "shmem: a zapped protected page reads as written: {zapped:?}"
        );
    }
    let generic = PmScanArg {
        category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_WRITTEN,
        ..wp(0, len, PAGE_IS_WRITTEN, kernel_abi().categories)
    };
    both(&t, generic, 64, "generic GET+WP")?;
    same_state(&t, "after generic GET+WP")?;

    // Part of a huge page: THP is split, hugetlb backs out and stops there.
    t.write(&offs);
    let r = both(
        &t,
        wp(0, HUGE + HUGE / 2, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN),
        64,
        "partial GET+WP",
    )?;
    if matches!(kind, Kind::Hugetlb) {
        ensure!(
            r.walk_end == HUGE,
            "hugetlb partial: walk_end {:#x}, want {HUGE:#x}",
            r.walk_end
        );
    }
    same_state(&t, "after partial GET+WP")?;

    // Only PM_SCAN_CHECK_WPASYNC: these VMAs pass.
    let check = PmScanArg {
        flags: PM_SCAN_CHECK_WPASYNC,
        ..written
    };
    let r = both(&t, check, 64, "CHECK_WPASYNC")?;
    ensure!(
        r.ret.is_ok(),
        "{kind:?}: CHECK_WPASYNC on wp-async memory: {r:?}"
    );
    Ok(())
}

/// Memory without wp-async: skipped by WP_MATCHING, refused by CHECK_WPASYNC.
pub fn without_wp_async() -> Outcome {
    let m = Mapping::anon(8)?;
    m.touch(1);
    not_wp_allowed(m.start(), m.end(), &[0], PAGE_IS_WRITTEN)
}

/// `[start, end)` is memory WP cannot protect: with each category mask of
/// `masks`, WP_MATCHING skips it (no region), CHECK_WPASYNC refuses it
/// (`EPERM`), on both fds alike.
pub fn not_wp_allowed(start: u64, end: u64, masks: &[u64], shown: u64) -> Outcome {
    let (dev, proc) = Scanner::pair()?;
    for (flags, want) in [
        (PM_SCAN_WP_MATCHING, Ok(0)),
        (PM_SCAN_CHECK_WPASYNC, Err(Errno::EPERM)),
        (
            PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
            Err(Errno::EPERM),
        ),
    ] {
        for &mask in masks {
            let a = PmScanArg {
                flags,
                ..arg(start, end, mask, shown)
            };
            let (reply, got) = pagemap_scan_selftests::scanner::both(&dev, &proc, a, 16)?;
            ensure!(
                reply.ret == want && got.is_empty(),
                "flags {flags}, mask {mask:#x}: {reply:?} {got:x?}, want {want:?} and no region"
            );
        }
    }
    Ok(())
}

/// Wine's GetWriteWatch loop: GET+WP with a small vector and `max_pages` =
/// what is left of the caller's buffer, continued from `walk_end`.
pub fn wine_loop() -> Outcome {
    let len = 256 * P;
    let t = Twin::new(Kind::Anon, len)?;
    both(&t, wp(0, len, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN), 0, "reset")?;
    let offs: Vec<u64> = (0..256)
        .filter(|i| i % 7 == 1 || i % 11 == 0)
        .map(|i| i * P)
        .collect();
    t.write(&offs);
    let buffer = 40; // the caller's buffer of addresses
    let mut start = 0;
    let mut found = Vec::new();
    let mut calls = 0;
    while start < len && found.len() < buffer {
        let mut a = wp(start, len, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN);
        a.max_pages = (buffer - found.len()) as u64;
        let r = both(&t, a, 4, "Wine loop")?;
        calls += 1;
        found.extend(pages(&r));
        start = r.walk_end;
    }
    ensure!(calls > 1, "the loop took {calls} call(s)");
    ensure!(
        found[..] == offs[..buffer],
        "found {found:x?}, want {:x?}",
        &offs[..buffer]
    );
    same_state(&t, "after the Wine loop")?;
    Ok(())
}

/// Writers keep writing random pages while GET+WP rounds run: every write
/// must be reported by a round that ended after the write began.
pub fn concurrent_writers() -> Outcome {
    race(
        Race {
            writers: 2,
            rounds: 1000,
            zap_one_in: 0,
            with_c: false,
        },
        "concurrency",
    )
    .map(drop)
    .map_err(Into::into)
}

/// What [`race`] runs.
pub(crate) struct Race {
    /// Writer threads; each owns the pages whose number is its own modulo this.
    pub(crate) writers: u64,
    /// GET+WP rounds while they write.
    pub(crate) rounds: u64,
    /// A writer zaps a page (`MADV_DONTNEED`) before one write in this many,
    /// so the write faults a fresh page in; 0: never.
    pub(crate) zap_one_in: u64,
    /// Every other GET+WP round goes through C, and every fourth round is
    /// preceded by a GET of every category, C/device/C, compared where C
    /// held still.
    pub(crate) with_c: bool,
}

/// `race.writers` threads write random pages of a uffd-wp async area while
/// this thread runs GET+WP rounds: every write must be reported by a round
/// that ended after the write began. Returns the tally of the compared GETs.
pub(crate) fn race(race: Race, name: &str) -> Result<Tally, String> {
    const PAGES: u64 = 4096;
    let m = Mapping::anon(PAGES as usize)?;
    let uffd = Uffd::wp_async()?;
    uffd.register_wp(m.start(), PAGES * P)?;
    let (dev, proc) = Scanner::pair()?;
    let mut reset = wp(m.start(), m.end(), PAGE_IS_WRITTEN, PAGE_IS_WRITTEN);
    dev.scan(&mut reset)
        .ret
        .map_err(|e| format!("reset: {e}"))?;

    // `clock` advances at each round's start and end; a write notes it first.
    // A write is lost unless a round that ended after the write began reported
    // its page, so per page only the latest write's tick matters.
    let clock = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let last_write: Vec<AtomicU64> = (0..PAGES).map(|_| AtomicU64::new(0)).collect();
    let written: Vec<AtomicBool> = (0..PAGES).map(|_| AtomicBool::new(false)).collect();
    let base = m.start();
    let mut last_report = vec![0u64; PAGES as usize]; // end tick of the latest round reporting the page
    let mut reported = vec![false; PAGES as usize];
    let mut tally = Tally::default();
    let all = arg(m.start(), m.end(), 0, kernel_abi().categories);
    let (writes, zaps) = std::thread::scope(|s| -> Result<(u64, u64), String> {
        let writers: Vec<_> = (0..race.writers)
            .map(|w| {
                let (clock, stop, last_write, written) = (&clock, &stop, &last_write, &written);
                let (n, zap_one_in) = (race.writers, race.zap_one_in);
                s.spawn(move || {
                    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15 ^ (w + 1));
                    let (mut writes, mut zaps) = (0u64, 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        let page = rng.below(PAGES / n) * n + w;
                        let addr = base + page * P;
                        if zap_one_in != 0 && rng.one_in(zap_one_in) {
                            // SAFETY: a page of the mapping, which outlives
                            // the scope; only this thread writes it.
                            unsafe {
                                libc::madvise(addr as *mut libc::c_void, PAGE, libc::MADV_DONTNEED)
                            };
                            zaps += 1;
                        }
                        let tick = clock.load(Ordering::SeqCst);
                        // SAFETY: a page of the mapping, which outlives the scope.
                        unsafe { (addr as *mut u64).write_volatile(tick) };
                        last_write[page as usize].fetch_max(tick, Ordering::SeqCst);
                        written[page as usize].store(true, Ordering::Relaxed);
                        writes += 1;
                    }
                    (writes, zaps)
                })
            })
            .collect();
        let mut round = |i: u64, last: bool| -> Result<(), String> {
            let c = race.with_c && i % 2 == 1;
            if race.with_c && i.is_multiple_of(4) {
                let saw = |r: &[PageRegion]| r.iter().any(|r| r.categories & PAGE_IS_WRITTEN != 0);
                tally.round(&dev, &proc, all, 4096, saw)?;
            }
            clock.fetch_add(1, Ordering::SeqCst);
            let (r, v) = (if c { &proc } else { &dev }).regions(
                wp(m.start(), m.end(), PAGE_IS_WRITTEN, PAGE_IS_WRITTEN),
                4096,
            );
            let end = clock.fetch_add(1, Ordering::SeqCst) + 1;
            // walk_end is not checked: past 512 regions C leaves it at the
            // first chunk's stop even when the walk completes.
            ensure!(r.ret.is_ok(), "round {i} (C: {c}): {r:?} (last: {last})");
            for reg in v {
                for page in (reg.start - base) / P..(reg.end - base) / P {
                    last_report[page as usize] = end;
                    reported[page as usize] = true;
                }
            }
            Ok(())
        };
        let rounds = (0..race.rounds).try_for_each(|i| round(i, false));
        // Stop the writers whatever happened, or the scope would wait forever.
        stop.store(true, Ordering::Relaxed);
        let counts = writers
            .into_iter()
            .map(|w| w.join().unwrap())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        rounds?;
        round(race.rounds, true)?;
        Ok(counts)
    })?;
    // Settled: a GET of every category through both must agree.
    tally.settled(&dev, &proc, all, 4096, |_| true)?;

    let written: Vec<bool> = written.iter().map(|w| w.load(Ordering::Relaxed)).collect();
    let lost: Vec<_> = (0..PAGES as usize)
        .filter(|&p| written[p] && last_report[p] <= last_write[p].load(Ordering::Relaxed))
        .collect();
    let spurious = (0..PAGES as usize)
        .filter(|&p| reported[p] && !written[p])
        .count();
    println!(
        "# {name}: {} GET+WP rounds, {writes} writes ({zaps} after a zap) to {} pages, {} pages with a lost write, {spurious} spurious",
        race.rounds + 1,
        written.iter().filter(|&&w| w).count(),
        lost.len()
    );
    ensure!(writes > 1000, "only {writes} writes happened");
    ensure!(
        lost.is_empty(),
        "{} pages lost a write, first {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    ensure!(spurious <= 8, "{spurious} pages reported but never written");
    Ok(tally)
}
