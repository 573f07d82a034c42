// SPDX-License-Identifier: GPL-2.0

//! Poisoned pages, as a distribution kernel (CONFIG_MEMORY_FAILURE) makes
//! them: `MADV_HWPOISON` leaves a hwpoison entry where the page was mapped
//! (a whole hugetlb page for hugetlb; a THP is split first), which C reports
//! SWAPPED; `MADV_SOFT_OFFLINE` migrates the page away and leaves it present
//! at a new pfn. On anon, shmem, THP and hugetlb memory, every region is
//! compared (device and C), then GET+WP on uffd-wp twins. A poisoned page is
//! never touched again: that would be SIGBUS.

use crate::writeprotect::{counted, wp, Twin};
use pagemap_scan_selftests::churn::Tally;
use pagemap_scan_selftests::layout::{require_hugetlb, Area, Kind, HUGE_PAGES};
use pagemap_scan_selftests::mem::{pfn, PAGE};
use pagemap_scan_selftests::scanner::{arg, kernel_abi, Scanner};
use pagemap_scan_selftests::tap::{Failure, Outcome};
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::{ensure, skip};
use std::sync::atomic::{AtomicU64, Ordering};

const MADV_SOFT_OFFLINE: i32 = 101;
const P: u64 = PAGE as u64;

/// SIGBUSes received: `MADV_HWPOISON` of a mapped page signals the caller
/// (`BUS_MCEERR_AR`) on the way out of the syscall.
static SIGBUS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_sigbus(_: libc::c_int) {
    SIGBUS.fetch_add(1, Ordering::Relaxed);
}

/// Counts the SIGBUSes the poisoning sends instead of dying of them. Only
/// signals sent on return from `madvise` are survivable this way; the tests
/// never touch a poisoned page.
fn catch_sigbus() -> Result<(), String> {
    // SAFETY: a zeroed sigaction is valid; the handler only does an atomic add.
    let r = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigbus as extern "C" fn(libc::c_int) as usize;
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut())
    };
    nix::errno::Errno::result(r)
        .map(drop)
        .map_err(|e| format!("sigaction(SIGBUS): {e}"))
}

/// Pages poisoned in an area of `kind`: a whole hugetlb page; else two
/// pages, one inside the second 2 MiB (a THP there is split, the first THP
/// stays whole).
fn targets(kind: Kind) -> Vec<(usize, usize)> {
    if kind.is_hugetlb() {
        vec![(HUGE_PAGES, HUGE_PAGES)]
    } else if kind == Kind::Thp {
        vec![(HUGE_PAGES + 5, 1)]
    } else {
        vec![(3, 1), (HUGE_PAGES + 5, 1)]
    }
}

/// `madvise(advice)` of `[first, first + pages)` of `area`: `Ok(false)`
/// where the kernel has no memory-failure handling (EINVAL).
fn poison(area: &Area, first: usize, pages: usize, advice: i32) -> Result<bool, String> {
    match area.madvise(first, pages, advice)? {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::EINVAL) => Ok(false),
        Err(e) => Err(format!("madvise({advice}) of page {first}+{pages}: {e}")),
    }
}

/// The categories C gives page `i` of `area` (every category asked for).
fn categories_at(area: &Area, i: usize) -> Result<u64, String> {
    let proc = Scanner::proc().map_err(|e| e.to_string())?;
    let a = arg(area.page(i), area.page(i + 1), 0, kernel_abi().categories);
    Ok(proc.regions(a, 1).1.first().map_or(0, |r| r.categories))
}

/// Every region of `area`, C/device/C, with every category and with only
/// the swapped ones (FILE asked about too).
fn compare(tally: &mut Tally, area: &Area, saw: impl Fn(&[PageRegion]) -> bool) -> Outcome {
    let (dev, proc) = Scanner::pair()?;
    let all = kernel_abi().categories;
    let only_swapped = PAGE_IS_SWAPPED | PAGE_IS_FILE | PAGE_IS_HUGE;
    for a in [
        arg(area.base(), area.end(), 0, all),
        arg(area.base(), area.end(), PAGE_IS_SWAPPED, only_swapped),
    ] {
        tally.settled(&dev, &proc, a, 1024, &saw)?;
    }
    Ok(())
}

/// One kind, one advice: a plain area and uffd-wp twins are populated,
/// poisoned at the same pages, and compared.
fn kind(kind: Kind, advice: i32, hard: bool) -> Outcome {
    let pages = 2 * HUGE_PAGES;
    let plain = Area::of(kind, pages)?;
    plain.write(0, pages)?;
    let twin = Twin::written(kind, (pages * PAGE) as u64)?;
    let areas = [&plain, &twin.areas[0], &twin.areas[1]];

    let mut before = Vec::new();
    for &(first, n) in &targets(kind) {
        before.push(pfn(plain.page(first))?);
        for area in areas {
            if !poison(area, first, n, advice)? {
                skip!("madvise({advice}): EINVAL (no CONFIG_MEMORY_FAILURE)");
            }
        }
    }
    // What C reports for each poisoned page, checked page by page: hard
    // poison is a swap-type entry, SWAPPED (HUGE for hugetlb) and not
    // present; a soft-offlined page is present at a new pfn.
    let mut reached = 0;
    let mut seen = Vec::new();
    for (&(first, n), &old) in targets(kind).iter().zip(&before) {
        let mut ends = vec![first, first + n - 1];
        ends.dedup();
        for i in ends {
            let c = categories_at(&plain, i)?;
            seen.push(c);
            let new = pfn(plain.page(i))?;
            if hard {
                ensure!(
                    c & PAGE_IS_SWAPPED != 0 && c & PAGE_IS_PRESENT == 0,
                    "{kind:?}: poisoned page {i} reads {c:#x} in C"
                );
                let huge = if kind.is_hugetlb() { PAGE_IS_HUGE } else { 0 };
                ensure!(
                    c & PAGE_IS_HUGE == huge,
                    "{kind:?}: poisoned page {i} reads {c:#x} in C, HUGE {huge:#x} expected"
                );
                reached += 1;
            } else {
                ensure!(
                    c & PAGE_IS_PRESENT != 0,
                    "{kind:?}: soft-offlined page {i} reads {c:#x} in C"
                );
                // The pfn moved: the page was migrated (not the case if
                // the kernel found it already free or poisoned).
                if new != old && i == first {
                    reached += 1;
                }
            }
        }
    }

    let mut tally = Tally::default();
    let saw = |r: &[PageRegion]| !hard || r.iter().any(|r| r.categories & PAGE_IS_SWAPPED != 0);
    compare(&mut tally, &plain, saw)?;

    // uffd-wp twins: GET, GET+WP (Wine's masks, then the generic path after
    // writes to pages that are not poisoned), each through the device on one
    // and C on the other; the protection each left behind must be equal.
    let len = twin.len;
    let all = kernel_abi().categories;
    counted(&mut tally, &twin, arg(0, len, 0, all), "GET")?;
    counted(
        &mut tally,
        &twin,
        wp(0, len, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN),
        "GET+WP, Wine's masks",
    )?;
    let poisoned: Vec<(u64, u64)> = targets(kind)
        .iter()
        .map(|&(f, n)| ((f * PAGE) as u64, ((f + n) * PAGE) as u64))
        .collect();
    let safe: Vec<u64> = [0, 1, 7, 300, HUGE_PAGES as u64 - 1]
        .iter()
        .map(|i| i * P)
        .filter(|o| !poisoned.iter().any(|&(s, e)| s <= *o && *o < e))
        .collect();
    twin.write(&safe);
    let generic = PmScanArg {
        category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
        ..wp(0, len, PAGE_IS_WRITTEN, all)
    };
    counted(&mut tally, &twin, generic, "GET+WP, generic")?;
    let after = counted(&mut tally, &twin, arg(0, len, 0, all), "GET after GET+WP")?;
    // What the protection did to the poisoned entries (C's state, equal on
    // both twins): a hugetlb hwpoison entry cannot take the uffd bit
    // (make_uffd_wp_huge_pte leaves it), so it stays WRITTEN for ever; a
    // pte one takes it like a swap entry.
    if hard {
        for &(s, _) in &poisoned {
            let c = after
                .regions
                .iter()
                .find(|r| r.0 <= s && s < r.1)
                .map_or(0, |r| r.2);
            let written = if kind.is_hugetlb() {
                PAGE_IS_WRITTEN
            } else {
                0
            };
            ensure!(
                c & PAGE_IS_WRITTEN == written,
                "{kind:?}: poisoned page at {s:#x} after GET+WP reads {c:#x} in C"
            );
        }
    }
    let name = if hard { "hwpoison" } else { "soft offline" };
    tally.report(&format!("{name}: {kind:?}"));
    println!(
        "# {name}: {kind:?}: {reached} pages reached the state, C's categories {seen:x?}, SIGBUS received {}",
        SIGBUS.load(Ordering::Relaxed)
    );
    ensure!(
        reached > 0 && tally.saw > 0,
        "{name}: {kind:?}: the state was never reached ({reached} pages, saw {})",
        tally.saw
    );
    Ok(())
}

fn run(advice: i32, hard: bool) -> Outcome {
    catch_sigbus()?;
    let mut tested = 0;
    for k in [Kind::Anon, Kind::Shmem, Kind::Thp, Kind::Hugetlb] {
        if k.is_hugetlb() {
            // Plain, twins, and a spare page to migrate to.
            if let Err(Failure::Skip(why)) = require_hugetlb(8) {
                println!("# {k:?}: not tested, {why}");
                continue;
            }
        }
        match kind(k, advice, hard) {
            // EINVAL after a kind took the advice is a failure.
            Err(Failure::Skip(why)) if tested > 0 => return Err(Failure::Fail(why)),
            r => r?,
        }
        tested += 1;
    }
    Ok(())
}

/// `MADV_HWPOISON` on anon, shmem, THP and hugetlb pages.
pub fn hard() -> Outcome {
    run(libc::MADV_HWPOISON, true)
}

/// `MADV_SOFT_OFFLINE` on anon, shmem, THP and hugetlb pages.
pub fn soft() -> Outcome {
    run(MADV_SOFT_OFFLINE, false)
}
