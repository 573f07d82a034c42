// SPDX-License-Identifier: GPL-2.0

//! Fault injection with `/proc/thread-self/fail-nth`, the per-task,
//! deterministic method of syzkaller (Documentation/fault-injection/
//! fault-injection.rst): writing N to it makes the N-th fault point this
//! thread reaches fail — a slab allocation (failslab), a page allocation
//! (fail_page_alloc) or a user copy (fail_usercopy), whichever comes N-th —
//! and reading it back gives 0 once the fault was injected.
//!
//! One call is made with fault 1, 2, … injected until a call runs through
//! without one, on the device and on `/proc/self/pagemap` alike. Every such
//! call must end in success or a clean `ENOMEM` or `EFAULT`, and the next call
//! without injection must succeed and equal the C ioctl's. For GET+WP, the
//! protection a failed call left behind is read back by a plain GET: the
//! states (errno, pages left unprotected) the device reaches must be those C
//! reaches. Needs `CONFIG_FAULT_INJECTION` with
//! `FAILSLAB`, `FAIL_PAGE_ALLOC`, `FAULT_INJECTION_USERCOPY` and
//! `FAULT_INJECTION_DEBUG_FS` (the debug kernel of `make check-debug`).

use nix::errno::Errno;
use pagemap_scan_selftests::knob::{self, Knob};
use pagemap_scan_selftests::layout::{Area, Kind};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::scanner::{arg, both, kernel_abi, Scanner};
use pagemap_scan_selftests::tap::{Failure, Outcome};
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::uffd::Uffd;
use pagemap_scan_selftests::{ensure, skip};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

const FAIL_NTH: &str = "/proc/thread-self/fail-nth";
const DEBUGFS: &str = "/sys/kernel/debug";
/// More fault points than any one call has: a sweep that reaches it hangs.
const MAX_NTH: u32 = 500;
/// Pages of the scanned areas: every other one written, 600 one-page
/// regions, more than the 512 of one bounce buffer, so that a call copies
/// out twice.
const PAGES: usize = 1200;
const VEC_LEN: usize = 1024;

/// The debugfs settings that let fail-nth reach every capability (the
/// defaults spare allocations that may sleep, and page allocations of order
/// 0), and silence the report of each injected fault (a stack dump). Each is
/// put back as it was when the test ends.
const KNOBS: &[(&str, &str)] = &[
    ("failslab/ignore-gfp-wait", "N"),
    ("failslab/verbose", "0"),
    ("fail_page_alloc/ignore-gfp-wait", "N"),
    ("fail_page_alloc/ignore-gfp-highmem", "N"),
    ("fail_page_alloc/min-order", "0"),
    ("fail_page_alloc/verbose", "0"),
    ("fail_usercopy/verbose", "0"),
];

/// The knobs of [`KNOBS`] set; their old values are restored on drop, last first.
struct Knobs {
    saved: Vec<Knob>,
}

impl Knobs {
    fn set() -> Result<Knobs, Failure> {
        // Failure shows below, as the directories missing.
        let _ = knob::mount(
            c"debugfs",
            c"/sys/kernel/debug",
            &format!("{DEBUGFS}/failslab"),
        );
        let missing: Vec<&str> = ["failslab", "fail_page_alloc", "fail_usercopy"]
            .into_iter()
            .filter(|d| std::fs::metadata(format!("{DEBUGFS}/{d}")).is_err())
            .collect();
        if !missing.is_empty() {
            skip!(
                "no {DEBUGFS}/{{{}}}: the kernel lacks FAILSLAB, FAIL_PAGE_ALLOC, \
                 FAULT_INJECTION_USERCOPY or FAULT_INJECTION_DEBUG_FS",
                missing.join(",")
            );
        }
        let mut saved = Vec::new();
        for (name, value) in KNOBS {
            saved.push(Knob::set(format!("{DEBUGFS}/{name}"), value)?);
        }
        Ok(Knobs { saved })
    }
}

impl Drop for Knobs {
    fn drop(&mut self) {
        while self.saved.pop().is_some() {}
    }
}

/// This thread's `fail-nth`, opened before any fault is armed.
struct FailNth(File);

impl FailNth {
    /// The file, or a skip where the kernel has none.
    fn open() -> Result<FailNth, Failure> {
        match OpenOptions::new().read(true).write(true).open(FAIL_NTH) {
            Ok(f) => Ok(FailNth(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => skip!(
                "no {FAIL_NTH}: the kernel lacks CONFIG_FAULT_INJECTION \
                 (the stock and 6.12 test kernels; make check-debug has it)"
            ),
            Err(e) => Err(format!("open {FAIL_NTH}: {e}").into()),
        }
    }

    /// Makes the `n`-th fault point this thread reaches from now fail.
    fn arm(&self, n: u32) -> Result<(), String> {
        self.0
            .write_at(n.to_string().as_bytes(), 0)
            .map(drop)
            .map_err(|e| format!("arm {FAIL_NTH} with {n}: {e}"))
    }

    /// Disarms; whether the armed fault was injected. Reading and disarming
    /// are fault points themselves while a fault is still armed: a read that
    /// fails with `EFAULT` had the fault (so the call before it had none),
    /// and a write of 0 that fails leaves the count at 0 too.
    fn disarm(&self) -> Result<bool, String> {
        let mut buf = [0u8; 16];
        let injected = match self.0.read_at(&mut buf, 0) {
            Ok(n) => buf[..n].starts_with(b"0\n"),
            Err(e) if e.raw_os_error() == Some(libc::EFAULT) => false,
            Err(e) => return Err(format!("read {FAIL_NTH}: {e}")),
        };
        match self.0.write_at(b"0", 0) {
            Err(e) if e.raw_os_error() != Some(libc::EFAULT) => {
                Err(format!("disarm {FAIL_NTH}: {e}"))
            }
            _ => Ok(injected),
        }
    }
}

/// What the calls with an injected fault returned, on one fd.
#[derive(Default)]
struct Tally {
    injected: u32,
    outcomes: BTreeMap<&'static str, u32>,
}

impl Tally {
    /// Counts one call with an injected fault; fails on an errno other than
    /// `ENOMEM` and `EFAULT`.
    fn count(&mut self, what: &str, n: u32, ret: Result<i64, Errno>) -> Outcome {
        self.injected += 1;
        let name = match ret {
            Ok(_) => "success",
            Err(Errno::ENOMEM) => "ENOMEM",
            Err(Errno::EFAULT) => "EFAULT",
            Err(e) => {
                return Err(
                    format!("{what}: fault {n} injected: {e} (not ENOMEM or EFAULT)").into(),
                )
            }
        };
        *self.outcomes.entry(name).or_default() += 1;
        Ok(())
    }

    fn report(&self, what: &str) {
        let hist: Vec<String> = self
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "# fail-nth {what}: {} faults injected: {}",
            self.injected,
            hist.join(", ")
        );
    }
}

/// Runs `call` with fault 1, 2, … injected until a call runs without one,
/// which must succeed; `after(injected, result)` checks each.
fn sweep(
    fail: &FailNth,
    tally: &mut Tally,
    what: &str,
    mut call: impl FnMut() -> Result<i64, Errno>,
    mut after: impl FnMut(bool, Result<i64, Errno>) -> Outcome,
) -> Outcome {
    for n in 1..=MAX_NTH {
        fail.arm(n)?;
        // Nothing between arming and the call: a syscall or page fault there
        // would meet the fault instead.
        let ret = call();
        let injected = fail.disarm()?;
        if !injected {
            ensure!(ret.is_ok(), "{what}: no fault injected at {n}, yet {ret:?}");
            return after(false, ret);
        }
        tally.count(what, n, ret)?;
        after(true, ret)?;
    }
    Err(format!("{what}: still a fault injected at the {MAX_NTH}th fault point").into())
}

/// A `PAGEMAP_SCAN` output vector, written to so that its pages are present
/// (a page fault during the call would be one more fault point).
fn vector() -> Vec<PageRegion> {
    let mut v = vec![PageRegion::default(); VEC_LEN];
    for r in v.iter_mut() {
        // SAFETY: `r` is a valid element; volatile so that the write stays.
        unsafe { std::ptr::write_volatile(&mut r.start, 1) };
    }
    v
}

/// `a` with the output vector `v`.
fn with_vec(a: PmScanArg, v: &mut [PageRegion]) -> PmScanArg {
    PmScanArg {
        vec: v.as_mut_ptr() as u64,
        vec_len: v.len() as u64,
        ..a
    }
}

/// Writes every other page of `area`: 600 one-page regions.
fn write_every_other(area: &Area) {
    for i in (0..area.pages()).step_by(2) {
        // SAFETY: page `i` of the area is mapped and writable.
        unsafe { (area.page(i) as *mut u8).write_volatile(1) };
    }
}

/// GET on memory of several states, through each fd: every call with a
/// fault injected ends in success (with the right regions) or ENOMEM or
/// EFAULT, and the next call without one equals the C ioctl's.
pub fn get() -> Outcome {
    let fail = FailNth::open()?;
    let _knobs = Knobs::set()?;
    // SAFETY: a watchdog for a hung call: SIGALRM ends the test's process.
    unsafe { libc::alarm(600) };
    let area = Area::of(Kind::Anon, PAGES)?;
    write_every_other(&area);
    let (dev, proc) = Scanner::pair()?;
    let cats = kernel_abi().categories;
    let a = arg(area.base(), area.end(), PAGE_IS_PRESENT, cats);
    let (want, want_vec) = both(&dev, &proc, a, VEC_LEN)?;
    ensure!(want.ret == Ok(600), "GET of the layout: {want:?}");

    for s in [&dev, &proc] {
        let what = format!("GET {}", s.name);
        let mut tally = Tally::default();
        let mut v = vector();
        let mut call_arg = with_vec(a, &mut v);
        let vec_ptr = call_arg.vec;
        sweep(
            &fail,
            &mut tally,
            &what,
            // SAFETY: the argument and its vector are ours and writable.
            || unsafe { s.scan_at(&mut call_arg) },
            |injected, ret| {
                if let Ok(n) = ret {
                    // SAFETY: the kernel wrote `n` regions to the vector.
                    let got = unsafe {
                        std::slice::from_raw_parts(vec_ptr as *const PageRegion, n as usize)
                    };
                    ensure!(
                        ret == want.ret && got == want_vec.as_slice(),
                        "{what} (fault injected: {injected}): {ret:?}, regions differ from C's"
                    );
                }
                // The next call without a fault: as C's.
                let (r, rv) = both(&dev, &proc, a, VEC_LEN)?;
                ensure!(
                    r == want && rv == want_vec,
                    "{what}: the call after a fault: {r:?}, not {want:?}"
                );
                Ok(())
            },
        )?;
        drop(v);
        tally.report(&what);
    }
    Ok(())
}

/// Pages (indices) of `area` that a plain GET by the C ioctl reports written.
fn written(proc: &Scanner, area: &Area) -> Result<Vec<u64>, String> {
    let a = arg(area.base(), area.end(), PAGE_IS_WRITTEN, PAGE_IS_WRITTEN);
    let (r, regions) = proc.regions(a, 4096);
    ensure!(r.ret.is_ok(), "GET of the written pages: {r:?}");
    Ok(regions
        .iter()
        .flat_map(|r| (r.start..r.end).step_by(PAGE))
        .map(|p| (p - area.base()) / PAGE as u64)
        .collect())
}

/// What a call with a fault injected left behind: its errno (0 for
/// success) and how many pages are still written (not protected) after it.
type Left = (i32, usize);

/// Pages after the [`PAGES`] of a GET+WP area, never touched: a hole without
/// page tables (but the first table's), which a write-protecting call
/// protects with markers, allocating page tables — more fault points.
const TAIL: usize = 1024;

/// Readies a GET+WP area for a call: its first [`PAGES`] protected, then
/// every other one written; its [`TAIL`] mapped anew (the page tables under
/// it freed) and registered. Returns the pages then written.
fn ready(proc: &Scanner, uffd: &Uffd, area: &mut Area, what: &str) -> Result<Vec<u64>, String> {
    let mut head = PmScanArg {
        flags: PM_SCAN_WP_MATCHING,
        ..arg(
            area.base(),
            area.page(PAGES),
            PAGE_IS_WRITTEN,
            PAGE_IS_WRITTEN,
        )
    };
    let r = proc.scan(&mut head);
    ensure!(r.ret == Ok(0), "{what}: protecting the head: {r:?}");
    area.place(PAGES, Kind::Anon, TAIL)?;
    uffd.register_wp(area.page(PAGES), (TAIL * PAGE) as u64)?;
    for i in (0..PAGES).step_by(2) {
        // SAFETY: page `i` of the area is mapped and writable.
        unsafe { (area.page(i) as *mut u8).write_volatile(1) };
    }
    let written = written(proc, area)?;
    let pattern: Vec<u64> = (0..PAGES as u64)
        .step_by(2)
        .chain(PAGES as u64..(PAGES + TAIL) as u64)
        .collect();
    ensure!(
        written == pattern,
        "{what}: {} pages written, not the {} of the pattern",
        written.len(),
        pattern.len()
    );
    Ok(pattern)
}

/// One sweep of GET+WP calls through `s` on `area`: the states failed calls
/// left behind (and the last call), each checked; prints the outcome of each
/// call.
fn sweep_wp(
    fail: &FailNth,
    s: &Scanner,
    proc: &Scanner,
    uffd: &Uffd,
    area: &mut Area,
) -> Result<BTreeSet<Left>, Failure> {
    let what = format!("GET+WP {}", s.name);
    let wp = PmScanArg {
        flags: PM_SCAN_WP_MATCHING,
        ..arg(area.base(), area.end(), PAGE_IS_WRITTEN, PAGE_IS_WRITTEN)
    };
    let base = area.base();
    let pages_of = |regions: &[PageRegion]| -> Vec<u64> {
        regions
            .iter()
            .flat_map(|r| (r.start..r.end).step_by(PAGE))
            .map(|p| (p - base) / PAGE as u64)
            .collect()
    };
    let pattern = ready(proc, uffd, area, &what)?;
    let mut tally = Tally::default();
    let mut states = BTreeSet::new();
    let mut each: Vec<String> = Vec::new();
    let mut v = vector();
    let mut call_arg = with_vec(wp, &mut v);
    let vec_ptr = call_arg.vec;
    sweep(
        fail,
        &mut tally,
        &what,
        // SAFETY: the argument and its vector are ours and writable.
        || unsafe { s.scan_at(&mut call_arg) },
        |injected, ret| {
            let still = written(proc, area)?;
            let boundary = still.first().copied().unwrap_or(u64::MAX);
            let suffix: Vec<u64> = pattern.iter().copied().filter(|&p| p >= boundary).collect();
            ensure!(
                still == suffix,
                "{what} (fault injected: {injected}, {ret:?}): the pages left written \
                 are not the written pages past one address: {still:?}"
            );
            if let Ok(n) = ret {
                // SAFETY: the kernel wrote `n` regions to the vector.
                let got =
                    unsafe { std::slice::from_raw_parts(vec_ptr as *const PageRegion, n as usize) };
                ensure!(
                    pages_of(got) == pattern && still.is_empty(),
                    "{what} (fault injected: {injected}): succeeded with {n} regions, \
                     {} pages left written",
                    still.len()
                );
            }
            // A fault that a call survives (one of the kernel's own
            // allocations on the way, say) says nothing about the scan:
            // only failures and the last call are compared.
            if ret.is_err() || !injected {
                states.insert((ret.err().map_or(0, |e| e as i32), still.len()));
            }
            each.push(match ret {
                Ok(_) => format!("ok/{}", still.len()),
                Err(e) => format!("{e:?}/{}", still.len()),
            });
            // The next call without a fault reports what is left, and
            // protects it.
            let (r, regions) = s.regions(wp, VEC_LEN);
            let reported = pages_of(&regions);
            ensure!(
                r.ret.is_ok() && reported == still,
                "{what}: the call after a fault: {r:?}, reported {} pages, {} were left",
                reported.len(),
                still.len()
            );
            ensure!(
                written(proc, area)?.is_empty(),
                "{what}: pages still written after the call after a fault"
            );
            if injected {
                ready(proc, uffd, area, &what)?;
            }
            Ok(())
        },
    )?;
    drop(v);
    tally.report(&what);
    println!("# fail-nth {what}, fault 1, 2, ...: {}", each.join(" "));
    Ok(states)
}

fn states_text(states: &BTreeSet<Left>) -> String {
    states
        .iter()
        .rev()
        .map(|&(e, left)| match e {
            0 => format!("ok/{left}"),
            e => format!("{:?}/{left}", Errno::from_raw(e)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// GET+WP on twin areas registered for uffd-wp async, one through each fd:
/// 600 pages written one in two (two chunks of the bounce buffer), then a
/// hole. A call with a fault injected ends in success, ENOMEM or EFAULT;
/// what it protected is a prefix of the written pages (the chunks copied out
/// before the failure and, on a failed copy-out, the chunk it could not
/// copy; the page tables it could allocate in the hole); the next call
/// reports exactly the rest. The device reaches the same (errno, pages left
/// written) states as C.
///
/// Which call meets the n-th fault point is not quite deterministic: the
/// kernel's allocators have fault points of their own now and then (a slab
/// refilled from the page allocator, say), which shift the numbering of the
/// scan's own from one call to the next. So the states are compared as sets,
/// and a state that one fd did not reach gets up to two more sweeps of both.
pub fn write_protect() -> Outcome {
    let fail = FailNth::open()?;
    let _knobs = Knobs::set()?;
    // SAFETY: a watchdog for a hung call: SIGALRM ends the test's process.
    unsafe { libc::alarm(600) };
    let uffd = Uffd::wp_async()?;
    let mut areas = [
        Area::of(Kind::Anon, PAGES + TAIL)?,
        Area::of(Kind::Anon, PAGES + TAIL)?,
    ];
    for area in &areas {
        uffd.register_wp(area.base(), area.end() - area.base())?;
    }
    let (dev, proc) = Scanner::pair()?;
    let [area_dev, area_proc] = &mut areas;
    let mut dev_states = BTreeSet::new();
    let mut proc_states = BTreeSet::new();
    for _ in 0..3 {
        dev_states.extend(sweep_wp(&fail, &dev, &proc, &uffd, area_dev)?);
        proc_states.extend(sweep_wp(&fail, &proc, &proc, &uffd, area_proc)?);
        if dev_states == proc_states {
            break;
        }
    }
    println!(
        "# fail-nth GET+WP: outcome/pages left written, device: {}",
        states_text(&dev_states)
    );
    println!(
        "# fail-nth GET+WP: outcome/pages left written, proc:   {}",
        states_text(&proc_states)
    );
    ensure!(
        dev_states == proc_states,
        "the device and C leave different protection behind failed calls"
    );
    Ok(())
}
