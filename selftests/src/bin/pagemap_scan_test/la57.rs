// SPDX-License-Identifier: GPL-2.0

//! 5-level paging (LA57): memory above 128 TiB, which a process gets only by
//! asking for it with a hint address, scanned through the device and C; a
//! mapping across the 47-bit boundary; and the argument checks around
//! 1 << 47, TASK_SIZE ((1 << 56) - 4096 with 5 levels) and beyond, where
//! errno and `walk_end` must be C's.

use pagemap_scan_selftests::churn::Tally;
use pagemap_scan_selftests::layout::HUGE;
use pagemap_scan_selftests::mem::{Mapping, PAGE};
use pagemap_scan_selftests::scanner::{arg, both, kernel_abi, Scanner};
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::{ensure, skip};

const P: u64 = PAGE as u64;
/// The end of the 4-level address space: where a hint must point for memory above it.
const LOW: u64 = 1 << 47;
/// The end of the 5-level address space; TASK_SIZE is a page below.
const HIGH: u64 = 1 << 56;
const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;
const FLAGS: i32 = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE;

/// Anonymous memory at exactly `addr`, 4 KiB pages or THP, written every
/// `stride` pages (a pattern of present and absent pages).
fn at(addr: u64, len: usize, thp: bool, stride: usize) -> Result<Mapping, String> {
    let m = Mapping::at(addr, len, RW, FLAGS, -1)
        .map_err(|e| format!("mmap at {addr:#x} of {len:#x}: {e}"))?;
    ensure!(m.start() == addr, "mmap at {addr:#x} gave {:#x}", m.start());
    m.advise(if thp {
        libc::MADV_HUGEPAGE
    } else {
        libc::MADV_NOHUGEPAGE
    })?;
    for i in (0..len / PAGE).step_by(stride) {
        m.touch(i);
    }
    Ok(m)
}

pub fn high() -> Outcome {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if !cpuinfo
        .lines()
        .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "la57"))
    {
        skip!("no la57 in /proc/cpuinfo (4-level paging CPU)");
    }
    // The kernel honours a hint above 47 bits only with 5-level paging on.
    let probe = Mapping::at(
        1 << 50,
        PAGE,
        RW,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
    )
    .map_err(|e| format!("mmap with a hint at 1 << 50: {e}"))?;
    if probe.start() < LOW {
        skip!(
            "a hint at 1 << 50 gave {:#x}: 4-level paging (no5lvl?)",
            probe.start()
        );
    }
    drop(probe);

    // Above 128 TiB: 4 KiB pages at 1 << 50 and a THP-backed range past
    // them; just above 1 << 47; and a mapping across 1 << 47 (64 KiB below,
    // 2 MiB of THP above: the stack sits lower, a few GiB under 1 << 47).
    let high = at(1 << 50, 64 * PAGE, false, 3)?;
    let thp = at((1 << 50) + (1 << 30), 2 * HUGE, true, 1)?;
    let just_above = at(LOW + (1 << 30), 16 * PAGE, false, 2)?;
    let across = at(LOW - 16 * P, 16 * PAGE + HUGE, true, 1);
    if let Err(e) = &across {
        println!("# la57: no mapping across 1 << 47 ({e}): the range is scanned anyway");
    }

    let (dev, proc) = Scanner::pair()?;
    let all = kernel_abi().categories;
    let mut tally = Tally::default();
    // Only this test's mappings live at or above LOW - 16 pages (nothing
    // of the process is there without a hint): these scans are settled.
    let ranges = [
        (high.start(), high.end()),
        (thp.start(), thp.end()),
        (just_above.start(), just_above.end()),
        (LOW - 16 * P, LOW + 2 * HUGE as u64),
        (LOW - 16 * P, HIGH - P),
        (LOW - P, (1 << 50) + (2 << 30)),
    ];
    let huge = |r: &[PageRegion]| {
        r.iter()
            .any(|r| r.start >= LOW && r.categories & PAGE_IS_PRESENT != 0)
    };
    for (start, end) in ranges {
        for (mask, vec_len, max_pages) in [(0, 1024, 0), (0, 3, 0), (PAGE_IS_PRESENT, 64, 20)] {
            let a = PmScanArg {
                max_pages,
                ..arg(start, end, mask, all)
            };
            tally.settled(&dev, &proc, a, vec_len, huge)?;
        }
    }
    if across.is_ok() {
        // One walk, both sides of the boundary present.
        let a = arg(LOW - 16 * P, LOW + P, PAGE_IS_PRESENT, PAGE_IS_PRESENT);
        let (_, r) = both(&dev, &proc, a, 4)?;
        ensure!(
            r.len() == 1 && r[0].start == LOW - 16 * P && r[0].end == LOW + P,
            "la57: across 1 << 47, present: {r:x?}"
        );
    }
    tally.report("la57: memory above 128 TiB");
    ensure!(
        tally.saw > 0,
        "la57: no present page above 1 << 47 was seen"
    );
    let thp_seen = proc
        .regions(arg(thp.start(), thp.end(), PAGE_IS_HUGE, all), 4)
        .1
        .len();
    println!("# la57: {thp_seen} THP regions above 1 << 50");

    // The argument checks at the boundaries: start and end a page around
    // each, empty, unaligned, past TASK_SIZE and at the top of u64.
    let task_size = HIGH - P;
    let mut calls = 0;
    let mut errors = 0;
    for b in [LOW, task_size, HIGH, 1 << 57, !(P - 1)] {
        for (start, end) in [
            (b - P, b),
            (b - P, b.wrapping_add(P)),
            (b - P, b + 1),
            (b, b.wrapping_add(P)),
            (b, b),
            (b + 1, b.wrapping_add(P)),
            (b - 2 * P, b - P),
            (LOW - 16 * P, b),
            (b - P, u64::MAX),
        ] {
            let (reply, _) = both(&dev, &proc, arg(start, end, 0, all), 8)?;
            calls += 1;
            errors += u64::from(reply.ret.is_err());
        }
    }
    // access_ok(start, end - start): end may be TASK_SIZE itself (x86's
    // USER_PTR_MAX), not a byte more.
    let (at_top, _) = both(&dev, &proc, arg(task_size - P, task_size, 0, all), 8)?;
    let (past, _) = both(&dev, &proc, arg(task_size - P, HIGH, 0, all), 8)?;
    println!(
        "# la57 arguments: {calls} calls, {errors} errors; errno, walk_end and regions equal; end TASK_SIZE {:?}, end 1 << 56 {:?}",
        at_top.ret, past.ret
    );
    ensure!(
        at_top.ret == Ok(0) && past.ret == Err(nix::errno::Errno::EFAULT),
        "C: end at TASK_SIZE {at_top:?}, at 1 << 56 {past:?}"
    );
    ensure!(
        errors > 0 && errors < calls,
        "la57 arguments: {errors} of {calls} calls failed: the boundaries were not reached"
    );
    Ok(())
}
