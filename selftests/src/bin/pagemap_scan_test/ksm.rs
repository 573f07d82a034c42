// SPDX-License-Identifier: GPL-2.0

//! KSM: pages of equal content in `MADV_MERGEABLE` memory, merged by ksmd
//! into one write-protected KSM page (a THP of them split first), or, with
//! `use_zero_pages`, zero-filled pages mapped to the zero page. ksmd runs
//! flat out until it made two full scans after the advice; then the area is
//! scanned through both, GET and GET+WP (it is registered for uffd-wp),
//! and a write breaks a merge (COW) and is scanned again. Which pages were
//! merged is read from `/proc/kpageflags` (`KPF_KSM`). The tunables get
//! their old values back.

use pagemap_scan_selftests::knob::{number, wait_for, Knob};
use pagemap_scan_selftests::layout::{Area, Kind, HUGE_PAGES};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::scanner::{arg, both, kernel_abi, Scanner};
use pagemap_scan_selftests::tap::{Failure, Outcome};
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::uffd::Uffd;
use pagemap_scan_selftests::{ensure, skip};
use std::os::unix::fs::FileExt;
use std::time::Duration;

const KSM: &str = "/sys/kernel/mm/ksm";
/// `KPF_KSM` of `/proc/kpageflags`.
const KPF_KSM: u64 = 1 << 21;
/// The content of the pages to be merged.
const SAME: u8 = 0x5a;

/// The parts: pages `SAME` (4 KiB), pages each its own, pages of zeros,
/// and a THP of pages `SAME`.
const SAME_4K: (usize, usize) = (0, 32);
const UNIQUE: (usize, usize) = (32, 48);
const ZEROS: (usize, usize) = (48, 64);
const THP: (usize, usize) = (HUGE_PAGES, 2 * HUGE_PAGES);
const PAGES: usize = 2 * HUGE_PAGES;

fn path(name: &str) -> String {
    format!("{KSM}/{name}")
}

/// ksmd as fast as it goes; zero-filled pages merged into the zero page
/// or not. The old values come back on drop, `run` first.
fn ksmd(zero_pages: bool) -> Result<[Knob; 4], Failure> {
    if !std::path::Path::new(KSM).exists() {
        skip!("no {KSM} (CONFIG_KSM off)");
    }
    let zero = Knob::set(path("use_zero_pages"), if zero_pages { "1" } else { "0" })?;
    let pages = Knob::set(path("pages_to_scan"), "10000")?;
    let sleep = Knob::set(path("sleep_millisecs"), "0")?;
    let run = Knob::set(path("run"), "1")?;
    Ok([run, sleep, pages, zero])
}

/// Fills page `i` of `area` with `byte`.
fn fill(area: &Area, i: usize, byte: u8) {
    // SAFETY: a page of the area, mapped writable.
    unsafe { std::ptr::write_bytes(area.page(i) as *mut u8, byte, PAGE) };
}

/// The area, filled, registered for uffd-wp and write-protected, then made
/// mergeable; returned once ksmd made two full scans since and `merged()`.
fn merged(uffd: &Uffd, merged: impl Fn() -> Result<bool, String>) -> Result<Area, Failure> {
    let mut area = Area::new(PAGES)?;
    area.place(0, Kind::Anon, ZEROS.1)?;
    area.place(THP.0, Kind::Thp, THP.1 - THP.0)?;
    area.write(0, ZEROS.1)?;
    area.write(THP.0, THP.1 - THP.0)?;
    for i in (SAME_4K.0..SAME_4K.1).chain(THP.0..THP.1) {
        fill(&area, i, SAME);
    }
    for i in UNIQUE.0..UNIQUE.1 {
        fill(&area, i, i as u8);
    }
    uffd.register_wp(area.base(), area.end() - area.base())?;
    let proc = Scanner::proc()?;
    let (r, _) = proc.regions(write_protect(&area), PAGES + 1);
    ensure!(r.ret.is_ok(), "GET+WP by C before merging: {r:?}");
    let scans = number(path("full_scans"))?;
    let t0 = std::time::Instant::now();
    area.advise(0, PAGES, libc::MADV_MERGEABLE)?;
    let done = wait_for(Duration::from_secs(20), || {
        Ok((number(path("full_scans"))? >= scans + 2 && merged()?).then_some(()))
    })?;
    let (now, sharing) = (number(path("full_scans"))?, number(path("pages_sharing"))?);
    ensure!(
        done.is_some(),
        "ksmd did not merge in 20 s: full_scans {now} (from {scans}), pages_sharing {sharing}"
    );
    println!(
        "# KSM: merged in {:.1} s, {} full scans, pages_sharing {sharing}",
        t0.elapsed().as_secs_f64(),
        now - scans
    );
    Ok(area)
}

/// GET+WP of the written pages of `area`.
fn write_protect(area: &Area) -> PmScanArg {
    let w = PAGE_IS_WRITTEN;
    PmScanArg {
        flags: PM_SCAN_WP_MATCHING,
        ..arg(area.base(), area.end(), w, w)
    }
}

/// GET of every category of `area` through both: the regions (equal).
fn compare(what: &str, area: &Area) -> Result<Vec<PageRegion>, String> {
    let (dev, proc) = Scanner::pair()?;
    let all = arg(area.base(), area.end(), 0, kernel_abi().categories);
    let (_, regions) = both(&dev, &proc, all, PAGES + 1).map_err(|e| format!("{what}: {e}"))?;
    Ok(regions)
}

/// The categories C gives page `i` of `area` in `regions`.
fn categories(area: &Area, regions: &[PageRegion], i: usize) -> Option<u64> {
    let addr = area.page(i);
    regions
        .iter()
        .find(|r| (r.start..r.end).contains(&addr))
        .map(|r| r.categories)
}

/// Whether each page of `pages` of `area` is a KSM page.
fn ksm_pages(area: &Area, pages: (usize, usize)) -> Result<Vec<bool>, String> {
    let pagemap = std::fs::File::open("/proc/self/pagemap")
        .map_err(|e| format!("/proc/self/pagemap: {e}"))?;
    let flags =
        std::fs::File::open("/proc/kpageflags").map_err(|e| format!("/proc/kpageflags: {e}"))?;
    let word = |f: &std::fs::File, at: u64| -> Result<u64, String> {
        let mut b = [0u8; 8];
        f.read_exact_at(&mut b, at * 8)
            .map_err(|e| format!("read at {at:#x}: {e}"))?;
        Ok(u64::from_ne_bytes(b))
    };
    (pages.0..pages.1)
        .map(|i| {
            let entry = word(&pagemap, area.page(i) / PAGE as u64)?;
            // Present (bit 63), pfn in bits 0-54 (root sees it).
            let pfn = entry & ((1 << 55) - 1);
            Ok(entry >> 63 == 1 && word(&flags, pfn)? & KPF_KSM != 0)
        })
        .collect()
}

fn count(v: &[bool]) -> usize {
    v.iter().filter(|&&b| b).count()
}

/// Writes to page `i` (merged), then GET+WP through `s` reports that page
/// alone, and the two scanners read the same before and after.
fn cow(area: &Area, s: &Scanner, i: usize) -> Outcome {
    let (r, _) = s.regions(write_protect(area), PAGES + 1);
    ensure!(r.ret.is_ok(), "clearing GET+WP by {}: {r:?}", s.name);
    compare("write-protected", area)?;
    // A byte of its own for each written page: two pages written alike
    // would be equal again, and ksmd, still running, would merge them under
    // the scans (and its replace_page() drops the uffd-wp bit).
    // SAFETY: a page of the area, mapped writable.
    unsafe { (area.page(i) as *mut u8).write_volatile(i as u8 + 1) };
    ensure!(
        count(&ksm_pages(area, (i, i + 1))?) == 0,
        "page {i} still a KSM page after a write"
    );
    compare(&format!("page {i} written"), area)?;
    let (r, regions) = s.regions(write_protect(area), PAGES + 1);
    let want = [(area.page(i), area.page(i + 1))];
    let got: Vec<_> = regions.iter().map(|r| (r.start, r.end)).collect();
    ensure!(
        r.ret.is_ok() && got == want,
        "GET+WP by {} after a write to page {i}: {r:?} {regions:x?}",
        s.name
    );
    Ok(())
}

/// Pages of equal content merged; the THP of them split and merged.
pub fn merged_pages() -> Outcome {
    let _ksmd = ksmd(false)?;
    let uffd = Uffd::wp_async()?;
    let area = merged(&uffd, || Ok(number(path("pages_sharing"))? > 0))?;
    let (same, thp, unique) = (
        ksm_pages(&area, SAME_4K)?,
        ksm_pages(&area, THP)?,
        ksm_pages(&area, UNIQUE)?,
    );
    let regions = compare("merged", &area)?;
    let c = |i| categories(&area, &regions, i).unwrap_or(0);
    let written = (SAME_4K.0..SAME_4K.1)
        .chain(THP.0..THP.1)
        .filter(|&i| c(i) & PAGE_IS_WRITTEN != 0)
        .count();
    println!(
        "# KSM: {written} of the {} equal pages, never written since GET+WP, are WRITTEN for C",
        SAME_4K.1 - SAME_4K.0 + THP.1 - THP.0
    );
    println!(
        "# KSM: KSM pages: {} of {} equal 4 KiB pages, {} of {} in the THP, {} of {} unique; \
         C reports a merged page {:#x}, a page of the THP {:#x}, a unique one {:#x}",
        count(&same),
        same.len(),
        count(&thp),
        thp.len(),
        count(&unique),
        unique.len(),
        c(SAME_4K.0),
        c(THP.0),
        c(UNIQUE.0)
    );
    ensure!(count(&same) > 0, "no page of equal content was merged");
    ensure!(count(&unique) == 0, "a page of unique content was merged");
    let (dev, proc) = Scanner::pair()?;
    // A merged page each, written after GET+WP through each scanner.
    let first = (SAME_4K.0..SAME_4K.1)
        .find(|&i| same[i - SAME_4K.0])
        .expect("a merged page");
    let second = (first + 1..SAME_4K.1).find(|&i| same[i - SAME_4K.0]);
    cow(&area, &dev, first)?;
    if let Some(second) = second {
        cow(&area, &proc, second)?;
    }
    compare("after the writes", &area)?;
    Ok(())
}

/// Zero-filled pages merged into the zero page (`use_zero_pages`).
pub fn zero_pages() -> Outcome {
    let _ksmd = ksmd(true)?;
    let counter = path("ksm_zero_pages");
    if !std::path::Path::new(&counter).exists() {
        skip!("no {counter}");
    }
    let uffd = Uffd::wp_async()?;
    let area = merged(&uffd, || Ok(number(&counter)? > 0))?;
    let regions = compare("merged", &area)?;
    let zero: Vec<usize> = (ZEROS.0..ZEROS.1)
        .filter(|&i| categories(&area, &regions, i).unwrap_or(0) & PAGE_IS_PFNZERO != 0)
        .collect();
    println!(
        "# KSM zero pages: {} of {} zero-filled pages reported PFNZERO by C ({:#x}), ksm_zero_pages {}",
        zero.len(),
        ZEROS.1 - ZEROS.0,
        categories(&area, &regions, ZEROS.0).unwrap_or(0),
        number(&counter)?
    );
    ensure!(
        !zero.is_empty(),
        "no zero-filled page was merged into the zero page"
    );
    let (dev, _) = Scanner::pair()?;
    let (r, _) = dev.regions(write_protect(&area), PAGES + 1);
    ensure!(r.ret.is_ok(), "GET+WP by the device: {r:?}");
    compare("write-protected", &area)?;
    // A write to one: a page of its own again.
    let i = zero[0];
    // A byte of its own for each written page: two pages written alike
    // would be equal again, and ksmd, still running, would merge them under
    // the scans (and its replace_page() drops the uffd-wp bit).
    // SAFETY: a page of the area, mapped writable.
    unsafe { (area.page(i) as *mut u8).write_volatile(i as u8 + 1) };
    let regions = compare("one written", &area)?;
    let c = categories(&area, &regions, i).unwrap_or(0);
    ensure!(
        c & PAGE_IS_PFNZERO == 0 && c & PAGE_IS_WRITTEN != 0,
        "page {i} after a write: {c:#x}"
    );
    Ok(())
}
