// SPDX-License-Identifier: GPL-2.0

//! One boot's measurement: for each workload, repetitions in which every
//! method runs once (in an order rotated each repetition), each timed with
//! `CLOCK_MONOTONIC`. Under QEMU `-icount shift=0` that clock advances one
//! nanosecond per guest instruction, so the same numbers are instruction
//! counts there. One CSV row per timed run.

use crate::method::Method;
use crate::workload::{Tools, Workload};
use std::io::Write;
use std::time::Instant;

/// The header of a boot's CSV.
pub const HEADER: &str = "workload,description,unit,units,method,rep,ns,found";

/// Measures `w` with `reps` repetitions after one untimed warm-up
/// repetition, writing rows to `csv`. Methods that disagree on the pages
/// found are reported on stderr (a benchmark, not a test: it goes on).
pub fn measure(
    w: &mut dyn Workload,
    tools: &mut Tools,
    reps: u32,
    csv: &mut dyn Write,
) -> Result<(), String> {
    let methods = w.methods();
    let desc = w.describe().replace(',', ";");
    let mut warm = Vec::new();
    for &m in methods {
        w.prepare(m, reps, tools)?;
        warm.push((m, w.run(m, tools)?));
    }
    agree(w.key(), "warm-up", &warm);
    let mut total = vec![0u128; methods.len()];
    for rep in 0..reps {
        let mut found = Vec::new();
        for i in 0..methods.len() {
            let k = (i + rep as usize) % methods.len();
            let m = methods[k];
            w.prepare(m, rep, tools)?;
            let t = Instant::now();
            let n = w.run(m, tools)?;
            let ns = t.elapsed().as_nanos();
            total[k] += ns;
            found.push((m, n));
            writeln!(
                csv,
                "{},{desc},{},{},{},{rep},{ns},{n}",
                w.key(),
                w.unit(),
                w.units(),
                m.key()
            )
            .map_err(|e| format!("writing the CSV: {e}"))?;
        }
        agree(w.key(), &format!("rep {rep}"), &found);
    }
    let per_unit: Vec<String> = methods
        .iter()
        .zip(&total)
        .map(|(m, t)| {
            let mean = *t as f64 / f64::from(reps.max(1)) / w.units() as f64;
            format!("{} {mean:.1}", m.key())
        })
        .collect();
    eprintln!(
        "{}: {} {}s, found {:?}; mean ns/{}: {}",
        w.key(),
        w.units(),
        w.unit(),
        warm[0].1,
        w.unit(),
        per_unit.join(", ")
    );
    Ok(())
}

/// Says on stderr when the methods found different numbers of pages.
fn agree(key: &str, when: &str, found: &[(Method, u64)]) {
    if found.windows(2).any(|p| p[0].1 != p[1].1) {
        let all: Vec<String> = found
            .iter()
            .map(|(m, n)| format!("{} {n}", m.key()))
            .collect();
        eprintln!(
            "WARNING: {key} {when}: the methods disagree on the pages found: {}",
            all.join(", ")
        );
    }
}

/// The marker `scripts/profile/tbcount.c` snapshots its counters at:
/// `xchg %r13,%r13` (4d 87 ed), an instruction compilers do not emit.
fn profile_marker() {
    // SAFETY: exchanges a register with itself: no effect on any state.
    unsafe { core::arch::asm!("xchg r13, r13", options(nomem, nostack, preserves_flags)) }
}

/// `--profile`: each of the module's and C's ioctl methods of `w` runs once
/// between two markers, after a warm-up run; `list` gets one row per run,
/// "workload,method,unit,units,snapshot before,snapshot after", the
/// snapshots being numbered in the order the markers ran (`next`).
pub fn profile(
    w: &mut dyn Workload,
    tools: &mut Tools,
    next: &mut u32,
    list: &mut dyn Write,
) -> Result<(), String> {
    for &m in w.methods() {
        if !matches!(m, Method::Rust | Method::C) {
            continue;
        }
        w.prepare(m, 0, tools)?;
        w.run(m, tools)?;
        w.prepare(m, 1, tools)?;
        profile_marker();
        w.run(m, tools)?;
        profile_marker();
        writeln!(
            list,
            "{},{},{},{},{},{}",
            w.key(),
            m.key(),
            w.unit(),
            w.units(),
            *next,
            *next + 1
        )
        .map_err(|e| format!("writing the profile list: {e}"))?;
        *next += 2;
    }
    Ok(())
}
