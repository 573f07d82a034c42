// SPDX-License-Identifier: GPL-2.0

//! `make bench`: PAGEMAP_SCAN on `/dev/pagemap_scan` against the kernel's C
//! ioctl and the older ways of answering the same questions, on fixed
//! workloads.
//!
//! ```text
//! pagemap_scan_bench [--reps N] [--quick] [--only KEY,…] [--out FILE]
//!     in the VM: measures, one CSV row per timed run (to FILE or stdout)
//! pagemap_scan_bench --report DIR [--report DIR]...
//!     on the host: DIR/wall.csv + DIR/icount.csv -> DIR/results.{md,csv,svg},
//!     for each DIR (one a kernel)
//! pagemap_scan_bench --profile FILE [--only KEY,…]
//!     in the VM under scripts/profile.sh: each ioctl method run once between
//!     two markers of the instruction-counting QEMU plugin; FILE lists them
//! ```
//!
//! The measure is `CLOCK_MONOTONIC`: wall time in an ordinary boot, guest
//! instructions in a boot with QEMU `-icount shift=0,sleep=off`. Which one a
//! CSV holds is the business of whoever names the file (scripts/vm-run.sh).

mod criu;
mod dense;
mod method;
mod pagemap;
mod report;
mod run;
mod scan;
mod stats;
mod svg;
mod threads;
mod wine;
mod workload;
mod wp;

use std::io::Write;
use std::path::PathBuf;
use workload::{Tools, Workload};

/// The workloads, in table order.
const KEYS: [&str; 13] = [
    "anon", "thp", "mthp", "hugetlb", "sparse", "wine", "call-1", "call-16", "call-512",
    "first-wp", "criu", "vmas", "threads",
];

struct Options {
    reps: u32,
    quick: bool,
    only: Vec<String>,
    out: Option<PathBuf>,
    report: Vec<PathBuf>,
    profile: Option<PathBuf>,
}

fn usage() -> String {
    format!(
        "usage: pagemap_scan_bench [--reps N] [--quick] [--only KEY,...] [--out FILE]\n       \
         pagemap_scan_bench --report DIR [--report DIR]...\n       \
         pagemap_scan_bench --profile FILE [--quick] [--only KEY,...]\nworkloads: {}",
        KEYS.join(" ")
    )
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        reps: 5,
        quick: false,
        only: KEYS.iter().map(|k| k.to_string()).collect(),
        out: None,
        report: Vec::new(),
        profile: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{a} needs a value\n{}", usage()))
        };
        match a.as_str() {
            "--reps" => o.reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--quick" => o.quick = true,
            "--only" => o.only = value()?.split(',').map(str::to_string).collect(),
            "--out" => o.out = Some(value()?.into()),
            "--report" => o.report.push(value()?.into()),
            "--profile" => o.profile = Some(value()?.into()),
            _ => return Err(usage()),
        }
    }
    if let Some(k) = o.only.iter().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unknown workload {k}\n{}", usage()));
    }
    Ok(o)
}

/// `--profile FILE`: the selected workloads' ioctl methods, once each
/// between two markers (`run::profile`).
fn profile(o: &Options, path: &std::path::Path) -> Result<(), String> {
    let mut list = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut tools = Tools::new()?;
    let mut next = 0;
    for key in KEYS.iter().filter(|k| o.only.iter().any(|x| x == *k)) {
        eprintln!("{key}: setting up");
        if let Some(mut w) = build(key, &tools, o.quick)? {
            run::profile(w.as_mut(), &mut tools, &mut next, &mut list)?;
        }
    }
    Ok(())
}

/// Sets up the workload named `key`; `None` where this kernel cannot have
/// it (the reason is printed).
fn build(key: &str, tools: &Tools, quick: bool) -> Result<Option<Box<dyn Workload>>, String> {
    Ok(Some(match key {
        "anon" => Box::new(dense::Dense::anon(quick)?),
        "thp" => Box::new(dense::Dense::thp(tools, quick)?),
        "mthp" => match dense::Dense::mthp(quick)? {
            Some(w) => Box::new(w),
            None => return Ok(None),
        },
        "hugetlb" => Box::new(dense::Dense::hugetlb(quick)?),
        "sparse" => Box::new(dense::Dense::sparse(quick)?),
        "wine" => Box::new(wine::Wine::new(tools, quick)?),
        "call-1" => Box::new(wp::Calls::new(tools, 1, quick)?),
        "call-16" => Box::new(wp::Calls::new(tools, 16, quick)?),
        "call-512" => Box::new(wp::Calls::new(tools, 512, quick)?),
        "first-wp" => Box::new(wp::FirstRound::new(quick)?),
        "criu" => Box::new(criu::Criu::new(quick)?),
        "vmas" => Box::new(criu::Criu::many_vmas(quick)?),
        "threads" => Box::new(threads::Threads::new(quick)?),
        _ => unreachable!("checked by options()"),
    }))
}

fn main() -> Result<(), String> {
    let o = options()?;
    if !o.report.is_empty() {
        return o.report.iter().try_for_each(|dir| report::report(dir));
    }
    if let Some(p) = &o.profile {
        return profile(&o, p);
    }
    let mut out: Box<dyn Write> = match &o.out {
        Some(p) => Box::new(std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => Box::new(std::io::stdout()),
    };
    writeln!(out, "{}", run::HEADER).map_err(|e| e.to_string())?;
    let mut tools = Tools::new()?;
    if !tools.pagemap.knows_zero_pfn() {
        eprintln!(
            "note: the zero page's PFN is hidden (not root): pagemap read never sees PFNZERO"
        );
    }
    // One workload at a time: each is unmapped before the next is set up.
    for key in KEYS.iter().filter(|k| o.only.iter().any(|x| x == *k)) {
        eprintln!("{key}: setting up");
        let Some(mut w) = build(key, &tools, o.quick)? else {
            continue;
        };
        eprintln!(
            "{key}: {}; {} {}s, measuring",
            w.describe(),
            w.units(),
            w.unit()
        );
        run::measure(w.as_mut(), &mut tools, o.reps, &mut out)?;
        out.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}
