// SPDX-License-Identifier: GPL-2.0

//! Pages migrated between two NUMA nodes by `move_pages(2)` and
//! `mbind(MPOL_MF_MOVE)`: a THP, 4 KiB anonymous pages and shmem. While a
//! page moves, its pte (or the THP's pmd) is a migration entry, which C
//! reports as `PAGE_IS_SWAPPED`. The device is compared with C after the
//! moves, every page on the other node, and in rounds while another thread
//! keeps moving them ([`Tally`]); GET+WP runs during the moves too. A kernel
//! without two nodes (6.12's test kernel has no CONFIG_NUMA) skips.

use pagemap_scan_selftests::churn::Tally;
use pagemap_scan_selftests::layout::{Area, Kind, HUGE_PAGES};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::numa::{mbind, move_pages};
use pagemap_scan_selftests::rng::{self, Rng};
use pagemap_scan_selftests::scanner::{arg, both, kernel_abi, Scanner};
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::uffd::{Uffd, FEATURE_WP_HUGETLBFS_SHMEM};
use pagemap_scan_selftests::{ensure, skip};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The parts of the test's area: name, kind, first page, pages. The THP
/// comes first, at the area's 1 GiB alignment.
const PARTS: [(&str, Kind, usize, usize); 3] = [
    ("THP", Kind::Thp, 0, HUGE_PAGES),
    ("anon", Kind::Anon, HUGE_PAGES, 64),
    ("shmem", Kind::Shmem, HUGE_PAGES + 64, 64),
];
/// Pages of the area.
const PAGES: usize = HUGE_PAGES + 128;

/// How long the churn rounds go on at most: they stop earlier once every
/// part has been seen migrating often enough and [`MOVES`] moves are done.
const CHURN: Duration = Duration::from_secs(30);
/// Moves of every page the churn tests wait for.
const MOVES: u64 = 2;

/// Skips unless NUMA nodes 0 and 1 are online.
pub fn require_two_nodes() -> Outcome {
    let Ok(online) = std::fs::read_to_string("/sys/devices/system/node/online") else {
        skip!("no NUMA (no /sys/devices/system/node/online: CONFIG_NUMA off)");
    };
    if !std::path::Path::new("/sys/devices/system/node/node1").exists() {
        skip!("one NUMA node (online: {})", online.trim());
    }
    Ok(())
}

/// The test's area, every page of it written: its THP, 4 KiB pages and shmem.
pub fn populated() -> Result<Area, String> {
    let mut area = Area::new(PAGES)?;
    for (_, kind, first, pages) in PARTS {
        area.place(first, kind, pages)?;
        area.write(first, pages)?;
    }
    Ok(area)
}

/// Runs `round` again and again while another thread moves the pages of
/// `[start, end)` back and forth ([`mover`]), until `round` says it has seen
/// enough and [`MOVES`] moves are done, a round fails, or [`CHURN`] has
/// passed. Returns the rounds' outcome and the moves made.
fn while_moving<E>(
    start: u64,
    end: u64,
    mut round: impl FnMut() -> Result<bool, E>,
) -> Result<(Result<(), E>, u64), String> {
    let (stop, moves) = (AtomicBool::new(false), AtomicU64::new(0));
    let rounds = std::thread::scope(|s| -> Result<_, String> {
        let moving = s.spawn(|| mover(start, end, &stop, &moves));
        let deadline = Instant::now() + CHURN;
        let mut rounds = Ok(());
        while Instant::now() < deadline && !moving.is_finished() {
            match round() {
                Err(e) => {
                    rounds = Err(e);
                    break;
                }
                Ok(seen) if seen && moves.load(Ordering::Relaxed) >= MOVES => break,
                Ok(_) => {}
            }
        }
        // Stop the mover whatever happened, or the scope would wait forever.
        stop.store(true, Ordering::Relaxed);
        moving.join().expect("the mover panicked")?;
        Ok(rounds)
    })?;
    Ok((rounds, moves.into_inner()))
}

/// The address of every page of `[start, end)`.
fn addresses(start: u64, end: u64) -> Vec<u64> {
    (start..end).step_by(PAGE).collect()
}

/// Moves every page of `[start, end)` to node 1, then 0, and so on, until
/// `stop`: two moves by `move_pages`, two by `mbind`; counts them in `moves`.
fn mover(start: u64, end: u64, stop: &AtomicBool, moves: &AtomicU64) -> Result<(), String> {
    let addrs = addresses(start, end);
    while !stop.load(Ordering::Relaxed) {
        let done = moves.load(Ordering::Relaxed);
        let node = (done % 2) as i32 ^ 1;
        if (done / 2).is_multiple_of(2) {
            move_pages(&addrs, Some(&vec![node; addrs.len()]))?;
        } else {
            mbind(start, end, node)?;
        }
        moves.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// What C reports for a page it reports as `c` while the page migrates:
/// the migration entry is not present, it is swapped (pte and pmd alike);
/// all else (huge, file, written, soft-dirty) is kept.
pub fn migrating(c: u64) -> u64 {
    if c & PAGE_IS_PRESENT != 0 {
        c & !PAGE_IS_PRESENT | PAGE_IS_SWAPPED
    } else {
        c
    }
}

/// Whether an answer shows a migration entry: these pages were never
/// swapped out.
pub fn swapped(regions: &[PageRegion]) -> bool {
    regions.iter().any(|r| r.categories & PAGE_IS_SWAPPED != 0)
}

/// Whether an answer shows a THP's pmd migration entry (the THP migrating
/// whole, not split).
fn swapped_huge(regions: &[PageRegion]) -> bool {
    let huge = PAGE_IS_SWAPPED | PAGE_IS_HUGE;
    regions.iter().any(|r| r.categories & huge == huge)
}

/// A GET of every category of pages `[first, first + pages)` of `area`.
pub fn get(area: &Area, first: usize, pages: usize) -> PmScanArg {
    let all = kernel_abi().categories;
    arg(area.page(first), area.page(first + pages), 0, all)
}

/// GET+WP of the written pages of `area`.
fn write_protect(area: &Area) -> PmScanArg {
    let w = PAGE_IS_WRITTEN;
    PmScanArg {
        flags: PM_SCAN_WP_MATCHING,
        ..arg(area.base(), area.end(), w, w)
    }
}

/// Each part through both scanners: equal, every page present (no
/// migration left behind). Returns whether the THP is still one.
fn compare_settled(what: &str, area: &Area) -> Result<bool, String> {
    let (dev, proc) = Scanner::pair()?;
    let mut huge = false;
    for (name, _, first, pages) in PARTS {
        let (_, regions) = both(&dev, &proc, get(area, first, pages), pages + 1)
            .map_err(|e| format!("{what}, {name}: {e}"))?;
        let absent: Vec<_> = regions
            .iter()
            .filter(|r| r.categories & PAGE_IS_PRESENT == 0)
            .collect();
        ensure!(
            absent.is_empty(),
            "{what}, {name}: pages not present: {absent:x?}"
        );
        huge |= name == "THP" && regions.iter().all(|r| r.categories & PAGE_IS_HUGE != 0);
    }
    Ok(huge)
}

/// The node of each page of `area`, checked equal to `want` (one per page).
fn check_nodes(what: &str, area: &Area, want: &[i32]) -> Outcome {
    let at = move_pages(&addresses(area.base(), area.end()), None)?;
    let wrong: Vec<_> = (0..PAGES).filter(|&i| at[i] != want[i]).collect();
    ensure!(
        wrong.is_empty(),
        "{what}: {} pages not on their node, first page {} on {} (want {})",
        wrong.len(),
        wrong[0],
        at[wrong[0]],
        want[wrong[0]]
    );
    Ok(())
}

/// Every page moved to the other node by `move_pages`, then all back to the
/// first page's node by `mbind`; after each, every part scanned through both.
pub fn moved() -> Outcome {
    require_two_nodes()?;
    let area = populated()?;
    compare_settled("populated", &area)?;
    let addrs = addresses(area.base(), area.end());
    let home = move_pages(&addrs, None)?;
    ensure!(
        home.iter().all(|&n| n == 0 || n == 1),
        "pages not on node 0 or 1: {home:?}"
    );
    let other: Vec<i32> = home.iter().map(|n| n ^ 1).collect();
    move_pages(&addrs, Some(&other))?;
    check_nodes("after move_pages", &area, &other)?;
    let huge_after_move = compare_settled("after move_pages", &area)?;
    mbind(area.base(), area.end(), home[0])?;
    check_nodes("after mbind", &area, &vec![home[0]; PAGES])?;
    let huge_after_mbind = compare_settled("after mbind", &area)?;
    println!(
        "# migration: the THP after move_pages: {}, after mbind: {}",
        if huge_after_move { "huge" } else { "split" },
        if huge_after_mbind { "huge" } else { "split" },
    );
    Ok(())
}

/// Rounds on each part while another thread moves the pages back and forth.
pub fn churn() -> Outcome {
    require_two_nodes()?;
    let area = populated()?;
    let (dev, proc) = Scanner::pair()?;
    let (start, end) = (area.base(), area.end());
    let mut tallies = [Tally::default(); PARTS.len()];
    let (rounds, moves) = while_moving(start, end, || {
        PARTS.iter().zip(&mut tallies).try_for_each(|(part, t)| {
            let (_, kind, first, pages) = *part;
            let a = get(&area, first, pages);
            let saw = if kind == Kind::Thp {
                swapped_huge
            } else {
                swapped
            };
            t.round_passing(&dev, &proc, a, pages + 1, saw, migrating)
        })?;
        Ok::<_, String>(tallies.iter().all(|t| t.saw >= 20))
    })?;
    for ((name, kind, ..), t) in PARTS.iter().zip(&tallies) {
        let entry = if *kind == Kind::Thp { "pmd" } else { "pte" };
        t.report(&format!("migration: {name} ({entry} migration entries)"));
    }
    println!("# migration: {moves} moves of every page");
    rounds?;
    ensure!(moves >= MOVES, "only {moves} moves were made in {CHURN:?}");
    let never: Vec<_> = PARTS
        .iter()
        .zip(&tallies)
        .filter(|(_, t)| t.saw == 0)
        .map(|((name, ..), _)| *name)
        .collect();
    if !never.is_empty() {
        // Migration is asynchronous to the scans: not reaching the state
        // is reported, not failed.
        println!("# migration: C never showed a migration entry in: {never:?}");
    }
    compare_settled("after the moves", &area).map(drop)?;
    Ok(())
}

/// GET+WP by the device in a uffd-wp area while its pages move: each round
/// writes some pages, which the next GET+WP must report (a migration entry
/// keeps the uffd-wp bit); then, the moves over, GET and GET+WP through both.
pub fn write_protect_while_moving() -> Outcome {
    require_two_nodes()?;
    let uffd = Uffd::wp_async()?;
    ensure!(
        uffd.features & FEATURE_WP_HUGETLBFS_SHMEM != 0,
        "no uffd-wp on shmem (features {:#x})",
        uffd.features
    );
    let area = populated()?;
    let (start, end) = (area.base(), area.end());
    uffd.register_wp(start, end - start)?;
    let (dev, proc) = Scanner::pair()?;
    let (r, _) = proc.regions(write_protect(&area), PAGES + 1);
    ensure!(r.ret.is_ok(), "first GET+WP by C: {r:?}");
    let mut tally = Tally::default();
    let mut rng = Rng::new(rng::seed(0x6e75_6d61));
    let round = |tally: &mut Tally, rng: &mut Rng| -> Outcome {
        let written: Vec<usize> = (0..8).map(|_| rng.below(PAGES as u64) as usize).collect();
        for &i in &written {
            // SAFETY: a page of the area, mapped writable.
            unsafe { (area.page(i) as *mut u8).write_volatile(1) };
        }
        let a = get(&area, 0, PAGES);
        tally.round_passing(&dev, &proc, a, PAGES + 1, swapped, migrating)?;
        let (r, regions) = dev.regions(write_protect(&area), PAGES + 1);
        ensure!(r.ret.is_ok(), "GET+WP by the device: {r:?}");
        let lost: Vec<_> = written
            .iter()
            .filter(|&&i| {
                !regions
                    .iter()
                    .any(|r| (r.start..r.end).contains(&area.page(i)))
            })
            .collect();
        ensure!(
            lost.is_empty(),
            "GET+WP by the device missed written pages {lost:?}: {regions:x?}"
        );
        Ok(())
    };
    let (rounds, moves) = while_moving(start, end, || {
        round(&mut tally, &mut rng)?;
        Ok::<_, pagemap_scan_selftests::tap::Failure>(tally.saw >= 20)
    })?;
    tally.report("migration: GET+WP in uffd-wp");
    println!("# migration: {moves} moves of every page under GET+WP");
    rounds?;
    ensure!(moves >= MOVES, "only {moves} moves were made in {CHURN:?}");
    settled_write_protect(&area, &dev, &proc)
}

/// The state left in `area` (populated by [`populated`], registered for
/// uffd-wp) reads the same through both scanners, and GET+WP through each,
/// after writes to a known set of pages, reports exactly those.
pub fn settled_write_protect(area: &Area, dev: &Scanner, proc: &Scanner) -> Outcome {
    let all = get(area, 0, PAGES);
    both(dev, proc, all, PAGES + 1).map_err(|e| format!("settled: {e}"))?;
    let wp = write_protect(area);
    let written = [3, HUGE_PAGES - 1, HUGE_PAGES + 5, HUGE_PAGES + 64 + 7];
    for s in [dev, proc] {
        let (r, _) = s.regions(wp, PAGES + 1);
        ensure!(r.ret.is_ok(), "clearing GET+WP by {}: {r:?}", s.name);
        for &i in &written {
            // SAFETY: a page of the area, mapped writable.
            unsafe { (area.page(i) as *mut u8).write_volatile(2) };
        }
        both(dev, proc, all, PAGES + 1).map_err(|e| format!("after the writes: {e}"))?;
        let (r, regions) = s.regions(wp, PAGES + 1);
        let got: Vec<u64> = regions
            .iter()
            .flat_map(|r| (r.start..r.end).step_by(PAGE))
            .collect();
        let want: Vec<u64> = written.iter().map(|&i| area.page(i)).collect();
        ensure!(
            r.ret.is_ok() && got == want,
            "GET+WP by {} after writes to pages {written:?}: {r:?} {regions:x?}",
            s.name
        );
    }
    Ok(())
}
