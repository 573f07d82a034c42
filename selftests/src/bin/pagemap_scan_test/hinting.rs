// SPDX-License-Identifier: GPL-2.0

//! NUMA-hinting entries: with `numa_balancing` on, the kernel turns the
//! ptes (and THP pmds) of a process's memory PROT_NONE from time to time
//! to learn, by the fault that follows, which node touches them. C reports
//! such an entry as present, as it was. The scan period is made short
//! (debugfs), the memory left alone until `numa_pte_updates` covered it,
//! then scanned through both (GET), then scanned while another thread
//! touches it (hinting faults, migrations toward that thread's node), then
//! GET+WP. The tunables get their old values back.

use crate::numa::{self, migrating, swapped};
use pagemap_scan_selftests::churn::Tally;
use pagemap_scan_selftests::knob::{self, vmstat, wait_for, Knob};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::scanner::Scanner;
use pagemap_scan_selftests::tap::{Failure, Outcome};
use pagemap_scan_selftests::uffd::Uffd;
use pagemap_scan_selftests::{ensure, skip};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DEBUGFS: &str = "/sys/kernel/debug";
const TUNABLES: &str = "/sys/kernel/debug/sched/numa_balancing";
/// Rounds in each phase.
const ROUNDS: usize = 40;
/// The counters reported.
const COUNTERS: [&str; 4] = [
    "numa_pte_updates",
    "numa_huge_pte_updates",
    "numa_hint_faults",
    "numa_pages_migrated",
];

/// The counters of [`COUNTERS`] now.
fn counters() -> [u64; 4] {
    COUNTERS.map(vmstat)
}

/// Reads a byte of every page of `[start, end)`.
fn touch(start: u64, end: u64) {
    for p in (start..end).step_by(PAGE) {
        // SAFETY: a page of the test's area, mapped readable.
        unsafe { (p as *const u8).read_volatile() };
    }
}

/// NUMA balancing on, the scan period short (debugfs mounted if it is not);
/// the old values come back on drop, `numa_balancing` first.
fn balancing() -> Result<[Knob; 5], Failure> {
    if !std::path::Path::new("/proc/sys/kernel/numa_balancing").exists() {
        skip!("no /proc/sys/kernel/numa_balancing (CONFIG_NUMA_BALANCING off)");
    }
    if let Err(e) = knob::mount(c"debugfs", c"/sys/kernel/debug", TUNABLES) {
        skip!("no {TUNABLES} to shorten the scan period: {e}");
    }
    if !std::path::Path::new(TUNABLES).exists() {
        skip!("no {TUNABLES} (debugfs at {DEBUGFS}) to shorten the scan period");
    }
    let tunable = |name: &str, value: &str| Knob::set(format!("{TUNABLES}/{name}"), value);
    let delay = tunable("scan_delay_ms", "0")?;
    let min = tunable("scan_period_min_ms", "10")?;
    let max = tunable("scan_period_max_ms", "100")?;
    let size = tunable("scan_size_mb", "64")?;
    let on = Knob::set("/proc/sys/kernel/numa_balancing", "1")?;
    Ok([on, size, max, min, delay])
}

pub fn hinting() -> Outcome {
    numa::require_two_nodes()?;
    let _balancing = balancing()?;
    let uffd = Uffd::wp_async()?;
    let area = numa::populated()?;
    let (start, end) = (area.base(), area.end());
    uffd.register_wp(start, end - start)?;
    let (dev, proc) = Scanner::pair()?;
    let pages = area.pages() as u64;
    let all = numa::get(&area, 0, area.pages());
    let vec_len = area.pages() + 1;
    let first = counters();
    // What the helper thread does: spin, or touch every page (counted).
    let (touching, stop) = (AtomicBool::new(false), AtomicBool::new(false));
    let passes = AtomicU64::new(0);
    let reached = std::thread::scope(|s| -> Result<_, String> {
        // The scan runs from the ticks of a task of the process, and skips
        // pages already on the node of a single-threaded one: a second
        // thread, spinning until it is told to touch the pages.
        let helper = s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if touching.load(Ordering::Relaxed) {
                    touch(start, end);
                    passes.fetch_add(1, Ordering::Relaxed);
                } else {
                    std::hint::spin_loop();
                }
            }
        });
        let result = (|| -> Result<_, String> {
            let t0 = Instant::now();
            let covered = wait_for(Duration::from_secs(20), || {
                let updated = vmstat("numa_pte_updates") - first[0];
                Ok((updated >= pages).then_some(updated))
            })?;
            let updated = vmstat("numa_pte_updates") - first[0];
            if covered.is_none() && updated == 0 {
                return Ok(None);
            }
            println!(
                "# hinting: numa_pte_updates +{updated} after {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            // Left alone, the pages the scan made PROT_NONE stay so, which
            // C cannot tell: the hinting faults of touching them afterwards
            // do. Every round saw those (one fault a page, or a THP).
            let mut idle = Tally::default();
            for _ in 0..ROUNDS {
                idle.round(&dev, &proc, all, vec_len, |_| false)?;
            }
            let before = vmstat("numa_hint_faults");
            touch(start, end);
            let faults = vmstat("numa_hint_faults") - before;
            if faults > 0 {
                idle.saw = idle.scans;
            }
            // Touched from the other thread while scanned: hinting faults
            // and migrations to that thread's node. At least a few passes,
            // within a bound.
            let mut busy = Tally::default();
            touching.store(true, Ordering::Relaxed);
            let deadline = Instant::now() + Duration::from_secs(10);
            while busy.scans < ROUNDS as u64
                || passes.load(Ordering::Relaxed) < 3 && Instant::now() < deadline
            {
                busy.round_passing(&dev, &proc, all, vec_len, swapped, migrating)?;
            }
            Ok(Some((idle, busy, faults)))
        })();
        stop.store(true, Ordering::Relaxed);
        helper.join().expect("the helper thread panicked");
        result
    })?;
    let Some((idle, busy, faults)) = reached else {
        skip!("numa_pte_updates never rose in 20 s of NUMA balancing");
    };
    let last = counters();
    let deltas: Vec<String> = COUNTERS
        .iter()
        .zip(first.iter().zip(&last))
        .map(|(name, (a, b))| format!("{name} +{}", b - a))
        .collect();
    println!(
        "# hinting: {} (the area has {pages} pages)",
        deltas.join(", ")
    );
    println!("# hinting: touching every page after the idle scans took {faults} hinting faults");
    idle.report("hinting: left alone (saw = hinting faults after)");
    if faults == 0 {
        // NUMA balancing is asynchronous: not reaching the state is reported.
        println!("# hinting: no page of the area was PROT_NONE during the idle scans");
    }
    let touched = passes.load(Ordering::Relaxed);
    busy.report(&format!(
        "hinting: pages touched {touched} times (saw = migration entries)"
    ));
    ensure!(
        idle.mismatches == 0 && busy.mismatches == 0,
        "mismatches (see the counts)"
    );
    numa::settled_write_protect(&area, &dev, &proc)
}
