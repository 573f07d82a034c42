// SPDX-License-Identifier: GPL-2.0

//! Multi-size THP: with `hugepages-64kB` (then `-16kB`) alone enabled,
//! anonymous faults allocate large folios mapped by ptes. C reports them page
//! by page, as any pte (no PAGE_IS_HUGE: that is for a pmd or a hugetlb
//! entry), and GET+WP over part of a folio protects just those ptes (the
//! pte walk splits nothing). Every region compared, device and C; the WP
//! steps on uffd-wp twins.

use crate::writeprotect::{counted, wp, Twin};
use pagemap_scan_selftests::churn::Tally;
use pagemap_scan_selftests::knob::{self, Knob};
use pagemap_scan_selftests::layout::{require_swap, Area, Kind, HUGE_PAGES};
use pagemap_scan_selftests::mem::{kpageflags, pfn, PAGE};
use pagemap_scan_selftests::scanner::{arg, kernel_abi, Scanner};
use pagemap_scan_selftests::tap::{Failure, Outcome};
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::{ensure, skip};
use std::path::PathBuf;

const THP: &str = "/sys/kernel/mm/transparent_hugepage";
const P: u64 = PAGE as u64;
/// `KPF_COMPOUND_TAIL` of /proc/kpageflags: a page of a large folio, not its head.
const KPF_COMPOUND_TAIL: u64 = 1 << 16;

/// The per-size `enabled` files, each set to `always` (the size under test)
/// or `never` (the others, the PMD size included); restored on drop. The
/// setting is global: the whole VM faults with it while the test runs.
struct OnlySize {
    _saved: Vec<Knob>,
}

impl OnlySize {
    fn set(kb: usize) -> Result<OnlySize, Failure> {
        let want = PathBuf::from(format!("{THP}/hugepages-{kb}kB/enabled"));
        if !want.exists() {
            skip!("{} missing (no multi-size THP)", want.display());
        }
        let mut saved = Vec::new();
        let dirs = std::fs::read_dir(THP).map_err(|e| format!("{THP}: {e}"))?;
        for d in dirs.flatten() {
            let path = d.path().join("enabled");
            // Sizes of the page cache alone have no `enabled`.
            if !d.file_name().to_string_lossy().starts_with("hugepages-") || !path.exists() {
                continue;
            }
            let value = if path == want { "always" } else { "never" };
            saved.push(Knob::set(path, value)?);
        }
        Ok(OnlySize { _saved: saved })
    }
}

/// `hugepages-{kb}kB/stats/{stat}`.
fn stat(kb: usize, stat: &str) -> Result<u64, String> {
    knob::number(format!("{THP}/hugepages-{kb}kB/stats/{stat}"))
}

/// Pages of `[first, first + pages)` of `area` that are tails of a large folio.
fn tails(area: &Area, first: usize, pages: usize) -> Result<usize, String> {
    let mut n = 0;
    for i in first..first + pages {
        let pfn = pfn(area.page(i))?;
        if pfn != 0 && kpageflags(pfn)? & KPF_COMPOUND_TAIL != 0 {
            n += 1;
        }
    }
    Ok(n)
}

/// Every region of `area` with every category, C/device/C (settled); C
/// must report no HUGE.
fn compare(tally: &mut Tally, area: &Area, what: &str) -> Outcome {
    let (dev, proc) = Scanner::pair()?;
    let a = arg(area.base(), area.end(), 0, kernel_abi().categories);
    let present = |r: &[PageRegion]| r.iter().any(|r| r.categories & PAGE_IS_PRESENT != 0);
    tally
        .settled(&dev, &proc, a, 1024, present)
        .map_err(|e| format!("{what}: {e}"))?;
    let (_, regions) = proc.regions(a, 1024);
    ensure!(
        regions.iter().all(|r| r.categories & PAGE_IS_HUGE == 0),
        "{what}: C reports HUGE for pte-mapped folios: {regions:x?}"
    );
    Ok(())
}

fn size(kb: usize) -> Outcome {
    let _only = OnlySize::set(kb)?;
    let folio = kb * 1024 / PAGE; // pages per folio
    let pages = HUGE_PAGES;
    let mut tally = Tally::default();

    // Faulted in, a folio of `kb` at each aligned range.
    let faults = stat(kb, "anon_fault_alloc")?;
    let area = Area::of(Kind::Thp, pages)?;
    area.write(0, pages)?;
    let allocated = stat(kb, "anon_fault_alloc")? - faults;
    let large = tails(&area, 0, pages)?;
    println!(
        "# mTHP {kb}kB: anon_fault_alloc +{allocated}, {large} of {pages} pages are folio tails"
    );
    ensure!(
        allocated > 0 && large > 0,
        "mTHP {kb}kB: no large folio was allocated (anon_fault_alloc +{allocated}, {large} tails)"
    );
    compare(&mut tally, &area, "faulted in")?;

    // Part of a folio unmapped: the rest stays mapped by its ptes.
    area.advise(folio + 1, 2, libc::MADV_DONTNEED)?;
    compare(&mut tally, &area, "part of a folio zapped")?;
    // Swapped out whole (mTHP swap-out) where there is swap.
    if require_swap().is_ok() {
        // 6.12 leaves some of them present: compared as they are.
        if let Err(e) = area.page_out(4 * folio, 2 * folio) {
            println!("# mTHP {kb}kB: {e}");
        }
        compare(&mut tally, &area, "folios swapped out")?;
        area.read(4 * folio + 1, 1)?;
        compare(&mut tally, &area, "one page swapped in")?;
    }

    // uffd-wp twins: GET+WP of the middle of the first folio (its first
    // and last pages left out), then writes inside and outside of it.
    let twin = Twin::written(Kind::Thp, (pages * PAGE) as u64)?;
    let all = kernel_abi().categories;
    let (from, to) = (1, folio as u64 - 1);
    counted(
        &mut tally,
        &twin,
        wp(from * P, to * P, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN),
        "GET+WP of part of a folio",
    )?;
    // Neither ioctl split the folio: its tails are all still there.
    let protected_tails = tails(&twin.areas[1], 0, folio)?;
    let device_tails = tails(&twin.areas[0], 0, folio)?;
    ensure!(
        protected_tails == folio - 1 && device_tails == protected_tails,
        "mTHP {kb}kB: after a partial GET+WP, tails: C's twin {protected_tails}, the device's {device_tails}, of {folio} pages"
    );
    let before = pfn(twin.areas[1].page(2))?;
    twin.write(&[2 * P, (folio as u64 + 3) * P]);
    let after_write = pfn(twin.areas[1].page(2))?;
    let state = counted(
        &mut tally,
        &twin,
        arg(0, twin.len, 0, all),
        "GET after writes",
    )?;
    // C's state: in [from, to) only the written page is WRITTEN; outside
    // it every page still is (never protected).
    let written = |page: u64| {
        state
            .regions
            .iter()
            .find(|r| r.0 <= page * P && page * P < r.1)
            .is_some_and(|r| r.2 & PAGE_IS_WRITTEN != 0)
    };
    for page in 0..folio as u64 + 4 {
        let want = !(from..to).contains(&page) || page == 2;
        ensure!(
            written(page) == want,
            "mTHP {kb}kB: page {page} WRITTEN {}, want {want}: {state:x?}",
            written(page)
        );
    }
    let generic = PmScanArg {
        category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
        ..wp(0, twin.len, PAGE_IS_WRITTEN, all)
    };
    counted(
        &mut tally,
        &twin,
        generic,
        "GET+WP of everything, generic path",
    )?;
    counted(
        &mut tally,
        &twin,
        arg(0, twin.len, 0, all),
        "GET after GET+WP",
    )?;
    println!(
        "# mTHP {kb}kB: the folio stays large after a partial GET+WP; the write fault {} the page",
        if before == after_write {
            "kept"
        } else {
            "copied"
        }
    );
    tally.report(&format!("mTHP {kb}kB"));
    ensure!(tally.saw > 0, "mTHP {kb}kB: no present page seen");
    Ok(())
}

/// 64 KiB folios, then 16 KiB ones (where the kernel has that size).
pub fn sizes() -> Outcome {
    size(64)?;
    match size(16) {
        Err(Failure::Skip(why)) => println!("# 16kB not tested: {why}"),
        r => r?,
    }
    Ok(())
}
