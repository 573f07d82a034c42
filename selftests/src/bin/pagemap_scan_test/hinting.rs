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
use pagemap_scan_selftests::knob::{vmstat, wait_for, Knobs};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::scanner::Scanner;
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uffd::Uffd;
use pagemap_scan_selftests::{ensure, skip};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
fn counters() -> Result<[u64; 4], String> {
    let mut c = [0; 4];
    for (v, name) in c.iter_mut().zip(COUNTERS) {
        *v = vmstat(name)?;
    }
    Ok(c)
}

/// Reads a byte of every page of `[start, end)`.
fn touch(start: u64, end: u64) {
    for p in (start..end).step_by(PAGE) {
        // SAFETY: a page of the test's area, mapped readable.
        unsafe { (p as *const u8).read_volatile() };
    }
}

/// NUMA balancing on, the scan period short (debugfs mounted if it is not).
fn balancing(knobs: &mut Knobs) -> Outcome {
    if !std::path::Path::new("/proc/sys/kernel/numa_balancing").exists() {
        skip!("no /proc/sys/kernel/numa_balancing (CONFIG_NUMA_BALANCING off)");
    }
    if !std::path::Path::new(TUNABLES).exists() {
        // SAFETY: mounts debugfs at its usual place; the strings are NUL-terminated.
        unsafe {
            libc::mount(
                c"debugfs".as_ptr(),
                c"/sys/kernel/debug".as_ptr(),
                c"debugfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
    }
    if !std::path::Path::new(TUNABLES).exists() {
        skip!("no {TUNABLES} (debugfs at {DEBUGFS}) to shorten the scan period");
    }
    knobs.set(&format!("{TUNABLES}/scan_delay_ms"), "0")?;
    knobs.set(&format!("{TUNABLES}/scan_period_min_ms"), "10")?;
    knobs.set(&format!("{TUNABLES}/scan_period_max_ms"), "100")?;
    knobs.set(&format!("{TUNABLES}/scan_size_mb"), "64")?;
    knobs.set("/proc/sys/kernel/numa_balancing", "1")?;
    Ok(())
}

pub fn hinting() -> Outcome {
    numa::require_two_nodes()?;
    let mut knobs = Knobs::default();
    balancing(&mut knobs)?;
    let uffd = Uffd::wp_async()?;
    let area = numa::populated()?;
    let (start, end) = (area.base(), area.end());
    uffd.register_wp(start, end - start)?;
    let (dev, proc) = Scanner::pair()?;
    let pages = area.pages() as u64;
    let all = numa::get(&area, 0, area.pages());
    let vec_len = area.pages() + 1;
    let first = counters()?;
    let stop = AtomicBool::new(false);
    let reached = std::thread::scope(|s| -> Result<_, String> {
        // The scan runs from the ticks of a task of the process, and skips
        // pages already on the node of a single-threaded one: a second
        // thread, spinning.
        let spinner = s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let result = (|| -> Result<_, String> {
            let t0 = std::time::Instant::now();
            let covered = wait_for(Duration::from_secs(20), || {
                let updated = vmstat("numa_pte_updates")? - first[0];
                Ok((updated >= pages).then_some(updated))
            })?;
            let updated = vmstat("numa_pte_updates")? - first[0];
            if covered.is_none() && updated == 0 {
                return Ok(None);
            }
            println!(
                "# hinting: numa_pte_updates +{updated} after {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            // Left alone, the pages the scan made PROT_NONE stay so.
            let mut idle = Tally::default();
            for _ in 0..ROUNDS {
                idle.round(&dev, &proc, all, vec_len, |_| covered.is_some())?;
            }
            let before = vmstat("numa_hint_faults")?;
            touch(start, end);
            let faults = vmstat("numa_hint_faults")? - before;
            // Touched from another thread while scanned: hinting faults and
            // migrations to that thread's node.
            let mut busy = Tally::default();
            let done = AtomicBool::new(false);
            let touched = std::thread::scope(|s| -> Result<u64, String> {
                let toucher = s.spawn(|| {
                    let mut n = 0u64;
                    while !done.load(Ordering::Relaxed) {
                        touch(start, end);
                        n += 1;
                    }
                    n
                });
                let rounds = (0..ROUNDS).try_for_each(|_| {
                    busy.round_passing(&dev, &proc, all, vec_len, swapped, migrating)
                });
                done.store(true, Ordering::Relaxed);
                let n = toucher.join().expect("the toucher panicked");
                rounds.map(|()| n)
            })?;
            Ok(Some((idle, busy, touched, faults)))
        })();
        stop.store(true, Ordering::Relaxed);
        spinner.join().expect("the spinner panicked");
        result
    })?;
    let Some((idle, busy, touched, faults)) = reached else {
        skip!("numa_pte_updates never rose in 20 s of NUMA balancing");
    };
    let last = counters()?;
    let deltas: Vec<String> = COUNTERS
        .iter()
        .zip(first.iter().zip(&last))
        .map(|(name, (a, b))| format!("{name} +{}", b - a))
        .collect();
    println!(
        "# hinting: {} (the area has {pages} pages)",
        deltas.join(", ")
    );
    idle.report("hinting: left alone");
    println!("# hinting: touching every page after those scans took {faults} hinting faults");
    busy.report(&format!("hinting: touched {touched} times"));
    ensure!(
        idle.mismatches == 0 && busy.mismatches == 0,
        "mismatches (see the counts)"
    );
    numa::settled_write_protect(&area, &dev, &proc)
}
