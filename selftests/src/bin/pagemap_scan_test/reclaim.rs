// SPDX-License-Identifier: GPL-2.0

//! Reclaim as a memory cgroup does it: the test's process moves into a
//! cgroup v2 with a small `memory.max` and writes more anonymous memory than
//! that, so the memcg's reclaim pushes pages to swap (or to zswap, with zswap
//! enabled) while a thread keeps touching them. Scans run during reclaim
//! (C/device/C rounds, compared where C held still) and after it, with a
//! proactive `memory.reclaim` on top (settled: every round compared).

use pagemap_scan_selftests::cgroup::Cgroup;
use pagemap_scan_selftests::churn::Tally;
use pagemap_scan_selftests::knob::Knob;
use pagemap_scan_selftests::layout::{require_swap, Area, Kind};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::scanner::{arg, kernel_abi, Scanner};
use pagemap_scan_selftests::tap::{Failure, Outcome};
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::{ensure, skip};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const ZSWAP: &str = "/sys/module/zswap/parameters/enabled";
/// The limit, and the memory written under it (half as much again).
const MAX: usize = 4 << 20;
const PAGES: usize = 3 * MAX / 2 / PAGE;
/// Passes of the writing thread over the memory.
const PASSES: u64 = 2;
/// Rounds at least during reclaim (more until the writer is done), and after it.
const DURING: usize = 8;
const AFTER: usize = 4;

/// zswap on or off for the test's life (a kernel without zswap: nothing
/// to turn off, and a skip where it was wanted).
fn zswap_set(on: bool) -> Result<Option<Knob>, Failure> {
    if !Path::new(ZSWAP).exists() {
        if on {
            skip!("{ZSWAP} missing (no zswap)");
        }
        return Ok(None);
    }
    Ok(Some(Knob::set(ZSWAP, if on { "Y" } else { "N" })?))
}

/// Pages zswap holds, system-wide (debugfs), if debugfs shows it.
fn zswap_stored() -> String {
    std::fs::read_to_string("/sys/kernel/debug/zswap/stored_pages")
        .map_or_else(|_| "n/a".into(), |s| s.trim().to_string())
}

/// Writes a word that is not zero (zero-filled pages never reach swap or
/// zswap) into the page at `addr`.
fn dirty(addr: u64, salt: u64) {
    // SAFETY: the callers pass pages of an area mapped read-write that
    // outlives the write.
    unsafe { (addr as *mut u64).write_volatile((salt << 32) | addr | 1) };
}

fn swapped(r: &[PageRegion]) -> bool {
    r.iter().any(|r| r.categories & PAGE_IS_SWAPPED != 0)
}

fn run(zswap: bool) -> Outcome {
    require_swap()?;
    let _zswap = zswap_set(zswap)?;
    let area = Area::of(Kind::Anon, PAGES)?;
    let cg = Cgroup::join("pagemap_scan_reclaim")?;
    cg.set("memory.max", &MAX.to_string())?;
    let name = if zswap {
        "reclaim to zswap"
    } else {
        "reclaim to swap"
    };

    // During: a thread writes page after page, more than the limit, pass
    // after pass; this thread scans until it is done.
    let (dev, proc) = Scanner::pair()?;
    let all = arg(area.base(), area.end(), 0, kernel_abi().categories);
    let mut during = Tally::default();
    let stop = AtomicBool::new(false);
    let passes = AtomicU64::new(0);
    std::thread::scope(|s| -> Outcome {
        let (base, stop, passes) = (area.base(), &stop, &passes);
        let toucher = s.spawn(move || {
            for salt in 1..=PASSES {
                for i in 0..PAGES {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    dirty(base + (i * PAGE) as u64, salt);
                }
                passes.fetch_add(1, Ordering::Relaxed);
            }
        });
        let mut result = Ok(());
        let mut i = 0;
        while i < DURING || !toucher.is_finished() {
            i += 1;
            // Every other round only swapped pages (fewer regions).
            let a = if i % 2 == 0 {
                all
            } else {
                PmScanArg {
                    category_mask: PAGE_IS_SWAPPED,
                    ..all
                }
            };
            if let Err(e) = during.round(&dev, &proc, a, 4096, swapped) {
                result = Err(e);
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        toucher.join().map_err(|_| "the toucher panicked")?;
        result.map_err(Into::into)
    })?;
    during.report(&format!("{name}, during"));

    // After: reclaim what is left, proactively; nothing moves any more.
    // EAGAIN where less could be reclaimed: the scans say what was.
    let _ = cg.reclaim(MAX);
    let mut after = Tally::default();
    for i in 0..AFTER {
        let a = PmScanArg {
            category_mask: if i % 2 == 0 { 0 } else { PAGE_IS_SWAPPED },
            ..all
        };
        after.settled(&dev, &proc, a, 4096, swapped)?;
    }
    after.report(&format!("{name}, after"));
    let out = proc
        .regions(
            arg(area.base(), area.end(), PAGE_IS_SWAPPED, PAGE_IS_SWAPPED),
            4096,
        )
        .1
        .iter()
        .map(|r| (r.end - r.start) / PAGE as u64)
        .sum::<u64>();
    println!(
        "# {name}: {} passes over {PAGES} pages under memory.max {MAX}; after: {out} pages swapped; memory.stat zswapped {} zswpout {} pswpout {}; zswap stored_pages {}",
        passes.load(Ordering::Relaxed),
        cg.stat("zswapped"),
        cg.stat("zswpout"),
        cg.stat("pswpout"),
        zswap_stored()
    );
    if during.saw == 0 {
        println!("# {name}: no scan during reclaim saw a swapped page");
    }
    ensure!(
        after.saw == after.scans,
        "{name}: after reclaim, no swapped page: {after:?}"
    );
    if zswap {
        ensure!(
            cg.stat("zswpout") > 0,
            "{name}: zswap enabled but memory.stat zswpout is 0"
        );
    }
    Ok(())
}

/// The memcg's reclaim to the swap disk.
pub fn swap() -> Outcome {
    run(false)
}

/// The memcg's reclaim to zswap.
pub fn zswap() -> Outcome {
    run(true)
}
