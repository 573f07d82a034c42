// SPDX-License-Identifier: GPL-2.0

//! The mmu-notifier calls of a scan, device against C. A test-only helper
//! module (`selftests/notifier`, `/dev/pms_notifier_probe`, loaded by the VM
//! script when built) registers an mmu notifier on this process's mm and
//! records, between a start and a stop, every `invalidate_range_start/end`
//! this thread raises over a window. Twin regions of identical layout and
//! content are scanned, one through the device and one through
//! `/proc/self/pagemap`, each recorded over its own region; the event
//! sequences, relative to each region's base, must be equal, every start
//! paired with its end. A GET scan (no `PM_SCAN_WP_MATCHING`) must announce
//! nothing at all, from either.

use nix::errno::Errno;
use pagemap_scan_selftests::layout::{self, Area, Kind};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::numa;
use pagemap_scan_selftests::scanner::{arg, kernel_abi, Scanner};
use pagemap_scan_selftests::tap::{Failure, Outcome};
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::uffd::Uffd;
use pagemap_scan_selftests::{ensure, skip};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;

const HUGE: u64 = layout::HUGE as u64;
const P: u64 = PAGE as u64;

/// The helper's device.
const PROBE: &str = "/dev/pms_notifier_probe";

/// `struct pms_np_record` (`selftests/notifier/pms_notifier_probe.h`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Record {
    start: u64,
    end: u64,
    event: u32,
    flags: u32,
    kind: u32,
    pad: u32,
}

/// `struct pms_np_window`.
#[repr(C)]
struct Window {
    start: u64,
    end: u64,
}

/// `struct pms_np_read`.
#[repr(C)]
#[derive(Default)]
struct ReadArg {
    buf: u64,
    cap: u32,
    count: u32,
    overflow: u64,
    foreign: u64,
}

const KIND_START: u32 = 1;
const KIND_END: u32 = 2;
/// `PMS_NP_MAX`: the records the helper keeps.
const MAX_RECORDS: usize = 4096;

/// `_IOC(dir, 'N', nr, size)`.
const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | ((b'N' as u64) << 8) | nr
}
const NP_START: u64 = ioc(1, 0x41, size_of::<Window>());
const NP_STOP: u64 = ioc(0, 0x42, 0);
const NP_READ: u64 = ioc(3, 0x43, size_of::<ReadArg>());

/// `enum mmu_notifier_event`'s names, for messages.
fn event_name(event: u32) -> &'static str {
    [
        "UNMAP",
        "CLEAR",
        "PROTECTION_VMA",
        "PROTECTION_PAGE",
        "SOFT_DIRTY",
        "RELEASE",
        "MIGRATE",
        "EXCLUSIVE",
    ]
    .get(event as usize)
    .copied()
    .unwrap_or("?")
}

/// One recorded call, its range relative to the recorded region's base.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Event {
    start: bool,
    from: i64,
    to: i64,
    event: u32,
    flags: u32,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{:#x}, {:#x}) {} flags {:#x}",
            if self.start { "start" } else { "end" },
            self.from,
            self.to,
            event_name(self.event),
            self.flags
        )
    }
}

/// What one recording saw.
struct Recording {
    events: Vec<Event>,
    /// Calls in the window raised by other tasks (not compared).
    foreign: u64,
}

/// An fd of the helper: an mmu notifier on this process's mm.
struct Probe {
    file: File,
}

impl Probe {
    /// Opens the helper; skips the test where it cannot exist or is not
    /// loaded. NUMA balancing is kept out of this process: its scan, run in
    /// this thread when a syscall returns, changes protection (the same
    /// `PROTECTION_VMA` event as a write-protecting scan) and was once
    /// recorded between a scan and the stop (a debug-kernel CI run).
    fn open() -> Result<Probe, Failure> {
        match OpenOptions::new().read(true).open(PROBE) {
            Ok(file) => {
                numa::no_balancing()?;
                return Ok(Probe { file });
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("open {PROBE}: {e}").into())
            }
            Err(_) => {}
        }
        let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        if !kallsyms.is_empty()
            && !kallsyms
                .lines()
                .any(|l| l.split_whitespace().nth(2) == Some("mmu_notifier_register"))
        {
            skip!(
                "the kernel has no CONFIG_MMU_NOTIFIER (no mmu_notifier_register in /proc/kallsyms): \
                 neither the module nor C announces anything"
            );
        }
        skip!(
            "{PROBE} absent: the helper pms_notifier_probe.ko is not loaded \
             (scripts/build-test-modules.sh builds it, PMS_NOTIFIER_KO= loads it in the VM)"
        )
    }

    fn ioctl(&self, cmd: u64, arg: u64) -> Result<i32, Errno> {
        // SAFETY: the helper's ioctls read or write only the struct `arg`
        // points to, which the callers pass as a live, writable value.
        Errno::result(unsafe { libc::ioctl(self.file.as_raw_fd(), cmd, arg) })
    }

    /// Records what `f` raises over `[base, base + len)`, relative to `base`.
    fn record<T>(
        &self,
        base: u64,
        len: u64,
        f: impl FnOnce() -> T,
    ) -> Result<(T, Recording), String> {
        let mut buf = vec![Record::default(); MAX_RECORDS];
        let window = Window {
            start: base,
            end: base + len,
        };
        self.ioctl(NP_START, &window as *const Window as u64)
            .map_err(|e| format!("PMS_NP_START: {e}"))?;
        let out = f();
        self.ioctl(NP_STOP, 0)
            .map_err(|e| format!("PMS_NP_STOP: {e}"))?;
        let mut rd = ReadArg {
            buf: buf.as_mut_ptr() as u64,
            cap: MAX_RECORDS as u32,
            ..Default::default()
        };
        let n = self
            .ioctl(NP_READ, &mut rd as *mut ReadArg as u64)
            .map_err(|e| format!("PMS_NP_READ: {e}"))? as usize;
        ensure!(
            rd.overflow == 0,
            "the helper's {MAX_RECORDS} records overflowed by {}",
            rd.overflow
        );
        buf.truncate(n);
        let events = buf
            .iter()
            .map(|r| {
                let start = match r.kind {
                    KIND_START => true,
                    KIND_END => false,
                    k => return Err(format!("the helper recorded kind {k}: {r:x?}")),
                };
                Ok(Event {
                    start,
                    from: r.start.wrapping_sub(base) as i64,
                    to: r.end.wrapping_sub(base) as i64,
                    event: r.event,
                    flags: r.flags,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok((
            out,
            Recording {
                events,
                foreign: rd.foreign,
            },
        ))
    }
}

/// Every start is closed by an end of the same range, event and flags, nested.
fn paired(events: &[Event], who: &str) -> Result<(), String> {
    let mut open: Vec<&Event> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e.start {
            open.push(e);
            continue;
        }
        let s = open.pop();
        ensure!(
            s.is_some_and(|s| (s.from, s.to, s.event, s.flags) == (e.from, e.to, e.event, e.flags)),
            "{who}: event {i} {e:?} closes {s:?}"
        );
    }
    ensure!(open.is_empty(), "{who}: starts never ended: {open:?}");
    Ok(())
}

/// Up to 40 events, one a line, for a message.
fn show(events: &[Event]) -> String {
    let mut s: String = events
        .iter()
        .take(40)
        .map(|e| format!("\n    {e:?}"))
        .collect();
    if events.len() > 40 {
        s += &format!("\n    ... {} more", events.len() - 40);
    }
    s
}

/// Two regions of identical layout, registered for uffd-wp async where mapped.
struct Twin {
    _areas: [Area; 2],
    _uffd: Uffd,
    bases: [u64; 2],
    len: u64,
}

impl Twin {
    /// Both regions made by `build` (the pages it returns are registered).
    fn new(
        pages: usize,
        build: impl Fn(&mut Area) -> Result<Vec<(usize, usize)>, String>,
    ) -> Result<Twin, String> {
        let uffd = Uffd::wp_async()?;
        let mut areas = [Area::new(pages)?, Area::new(pages)?];
        for area in &mut areas {
            for (first, n) in build(area)? {
                uffd.register_wp(area.page(first), (n * PAGE) as u64)?;
            }
        }
        Ok(Twin {
            bases: areas.each_ref().map(Area::base),
            _areas: areas,
            _uffd: uffd,
            len: (pages * PAGE) as u64,
        })
    }

    /// All of it one `kind`.
    fn of(kind: Kind, len: u64) -> Result<Twin, String> {
        let pages = (len / P) as usize;
        Twin::new(pages, |a| {
            a.place(0, kind, pages)?;
            Ok(vec![(0, pages)])
        })
    }

    /// Writes byte offsets `offs` in both regions.
    fn write(&self, offs: &[u64]) {
        for &base in &self.bases {
            for &off in offs {
                // SAFETY: `off < len` by the callers, in a part they mapped writable.
                unsafe { ((base + off) as *mut u8).write_volatile(1) };
            }
        }
    }

    /// `madvise(advice)` of `[off, off + len)` in both regions.
    fn advise(&self, off: u64, len: u64, advice: i32) -> Result<(), String> {
        for &base in &self.bases {
            // SAFETY: advice on part of our own region, which nothing refers into.
            Errno::result(unsafe {
                libc::madvise((base + off) as *mut libc::c_void, len as usize, advice)
            })
            .map_err(|e| format!("madvise({advice}) at {off:#x}: {e}"))?;
        }
        Ok(())
    }
}

/// One scan's result, relative to its region's base.
#[derive(Debug, PartialEq, Eq)]
struct Reply {
    ret: Result<i64, Errno>,
    walk_end: u64,
    regions: Vec<(u64, u64, u64)>,
}

/// What the steps of one test compared.
#[derive(Default)]
struct Tally {
    steps: usize,
    events: usize,
    foreign: u64,
}

/// `a` (relative) on both twins, each through its scanner and recorded over
/// its region: the same result and the same events, every start ended; a GET
/// announces nothing. Returns the events; prints them, one line per scan.
fn step(
    probe: &Probe,
    t: &Twin,
    a: PmScanArg,
    vec_len: usize,
    what: &str,
    tally: &mut Tally,
) -> Result<Vec<Event>, String> {
    let (dev, proc) = Scanner::pair()?;
    let mut got = Vec::new();
    for (s, base) in [(&dev, t.bases[0]), (&proc, t.bases[1])] {
        // Allocated before recording: nothing but the scan runs while recording.
        let mut vec = vec![PageRegion::default(); vec_len.max(1)];
        let mut a = PmScanArg {
            start: a.start + base,
            end: a.end + base,
            vec: if vec_len == 0 {
                0
            } else {
                vec.as_mut_ptr() as u64
            },
            vec_len: vec_len as u64,
            ..a
        };
        let (r, rec) = probe.record(base, t.len, || s.scan(&mut a))?;
        let n = r.ret.unwrap_or(0).max(0) as usize;
        let reply = Reply {
            ret: r.ret,
            walk_end: r.walk_end.wrapping_sub(base),
            regions: vec[..n.min(vec_len)]
                .iter()
                .map(|r| (r.start - base, r.end - base, r.categories))
                .collect(),
        };
        paired(&rec.events, &format!("{what}: {}", s.name))?;
        got.push((reply, rec));
    }
    let ((d, de), (c, ce)) = (&got[0], &got[1]);
    ensure!(d == c, "{what}: device {d:x?}\n  != proc {c:x?}");
    ensure!(
        de.events == ce.events,
        "{what}: the device announced ({} calls):{}\n  C announced ({} calls):{}",
        de.events.len(),
        show(&de.events),
        ce.events.len(),
        show(&ce.events)
    );
    if a.flags & PM_SCAN_WP_MATCHING == 0 {
        ensure!(
            ce.events.is_empty(),
            "{what}: a GET scan announced:{}",
            show(&ce.events)
        );
    }
    tally.steps += 1;
    tally.events += ce.events.len();
    tally.foreign += de.foreign + ce.foreign;
    println!(
        "#   {what}: {} calls, both{}",
        ce.events.len(),
        compact(&ce.events)
    );
    Ok(ce.events.clone())
}

/// The starts of `events` on one line: `[from, to) EVENT`, a nesting level
/// deeper after a `{`; at most 8.
fn compact(events: &[Event]) -> String {
    let starts: Vec<String> = events
        .iter()
        .filter(|e| e.start)
        .take(8)
        .map(|e| format!("[{:#x}, {:#x}) {}", e.from, e.to, event_name(e.event)))
        .collect();
    let more = events.iter().filter(|e| e.start).count().saturating_sub(8);
    match (starts.is_empty(), more) {
        (true, _) => String::new(),
        (false, 0) => format!(": {}", starts.join(", ")),
        (false, n) => format!(": {}, and {n} more", starts.join(", ")),
    }
}

fn wp(start: u64, end: u64, mask: u64, ret: u64) -> PmScanArg {
    PmScanArg {
        flags: PM_SCAN_WP_MATCHING,
        ..arg(start, end, mask, ret)
    }
}

fn report(what: &str, tally: &Tally) {
    println!(
        "# notifier: {what}: {} scans compared, {} calls announced by each, {} by other tasks",
        tally.steps, tally.events, tally.foreign
    );
}

/// The helper sees a zap in its window and nothing outside it; GET scans
/// of every kind announce nothing, through either fd.
pub fn get_is_silent() -> Outcome {
    let probe = Probe::open()?;
    let t = Twin::of(Kind::Anon, 64 * P)?;
    t.write(&[0, 5 * P]);
    let (_, rec) = probe.record(t.bases[0], t.len, || {
        t.advise(0, 8 * P, libc::MADV_DONTNEED)
    })?;
    paired(&rec.events, "MADV_DONTNEED")?;
    ensure!(
        rec.events
            .iter()
            .any(|e| e.start && e.from <= 0 && 8 * P as i64 <= e.to),
        "the helper saw no call for MADV_DONTNEED of [0, {:#x}): {}",
        8 * P,
        show(&rec.events)
    );
    let (_, rec) = probe.record(t.bases[1] + t.len, P, || {
        t.advise(0, 8 * P, libc::MADV_DONTNEED)
    })?;
    ensure!(
        rec.events.is_empty(),
        "the helper recorded outside its window: {}",
        show(&rec.events)
    );

    let mut tally = Tally::default();
    let all = kernel_abi().categories;
    for kind in [Kind::Anon, Kind::Shmem, Kind::Thp, Kind::Hugetlb] {
        let len = 2 * HUGE;
        let t = Twin::of(kind, len)?;
        let unit = if kind.is_hugetlb() { HUGE } else { P };
        t.write(&(0..len).step_by(3 * unit as usize).collect::<Vec<_>>());
        let what = format!("{kind:?} GET");
        step(&probe, &t, arg(0, len, 0, all), 64, &what, &mut tally)?;
        let written = arg(0, len, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN);
        step(&probe, &t, written, 64, &what, &mut tally)?;
        // CHECK_WPASYNC alone changes nothing either.
        let check = PmScanArg {
            flags: PM_SCAN_CHECK_WPASYNC,
            ..written
        };
        step(&probe, &t, check, 64, &what, &mut tally)?;
    }
    report("GET", &tally);
    Ok(())
}

/// The write-protect protocol of writeprotect.rs on one kind, every scan
/// recorded: reset, writes, GET+WP, zap, generic masks, part of a huge page,
/// `max_pages`.
pub fn twin_kind(kind: Kind) -> Outcome {
    let probe = Probe::open()?;
    let len = 2 * HUGE;
    let t = Twin::of(kind, len)?;
    let unit = if kind.is_hugetlb() { HUGE } else { P };
    let mut tally = Tally::default();
    t.write(&(0..len).step_by(3 * unit as usize).collect::<Vec<_>>());
    let written_wp = wp(0, len, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN);
    step(&probe, &t, written_wp, 0, "reset", &mut tally)?;
    step(&probe, &t, written_wp, 64, "reset again", &mut tally)?;

    let offs: Vec<u64> = [1, 2, 3, 9, 20, 21]
        .iter()
        .map(|i| i * unit % len)
        .collect();
    t.write(&offs);
    step(&probe, &t, written_wp, 64, "GET+WP", &mut tally)?;

    t.write(&[5 * unit % len]);
    t.advise(8 * unit % len, unit, libc::MADV_DONTNEED)?;
    let generic = PmScanArg {
        category_anyof_mask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_WRITTEN,
        ..wp(0, len, PAGE_IS_WRITTEN, kernel_abi().categories)
    };
    step(&probe, &t, generic, 64, "generic GET+WP", &mut tally)?;

    // Part of a written huge page: THP is split, hugetlb backs out. A write
    // to a protected THP splits it at the fault (wp-async): the second huge
    // page is zapped and faulted in anew, written and unprotected.
    t.write(&offs);
    t.advise(HUGE, HUGE, libc::MADV_DONTNEED)?;
    t.write(&[HUGE + 5 * unit % HUGE]);
    let partial = wp(0, HUGE + HUGE / 2, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN);
    let events = step(&probe, &t, partial, 64, "partial GET+WP", &mut tally)?;
    if kind == Kind::Thp {
        // __split_huge_pmd() announces its own MMU_NOTIFY_CLEAR of the pmd.
        let split = (HUGE as i64, 2 * HUGE as i64, 1);
        ensure!(
            events.iter().any(|e| (e.from, e.to, e.event) == split),
            "THP partial: no split of the second THP announced:{}",
            show(&events)
        );
    }

    // max_pages and a full vector stop the walk early.
    t.write(&offs);
    let few = PmScanArg {
        max_pages: 2,
        ..written_wp
    };
    step(&probe, &t, few, 64, "GET+WP, max_pages 2", &mut tally)?;
    t.write(&offs);
    step(&probe, &t, written_wp, 1, "GET+WP, vec_len 1", &mut tally)?;
    step(&probe, &t, written_wp, 0, "final reset", &mut tally)?;
    report(&format!("{kind:?} WP"), &tally);
    Ok(())
}

/// Holes and unpopulated memory: a partly written anon part, an unmapped
/// gap, untouched shmem and THP-eligible parts; then more regions than the
/// 512-entry bounce buffer, so that the scan takes several chunks.
pub fn holes_and_chunks() -> Outcome {
    let probe = Probe::open()?;
    let h = layout::HUGE_PAGES;
    let t = Twin::new(4 * h, |a| {
        a.place(0, Kind::Anon, h)?;
        a.unmap(h, h)?;
        a.place(2 * h, Kind::Shmem, h)?;
        a.place(3 * h, Kind::Thp, h)?;
        Ok(vec![(0, h), (2 * h, h), (3 * h, h)])
    })?;
    let mut tally = Tally::default();
    let len = t.len;
    t.write(&(0..8).map(|i| i * P).collect::<Vec<_>>());
    let written_wp = wp(0, len, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN);
    step(
        &probe,
        &t,
        arg(0, len, 0, kernel_abi().categories),
        64,
        "GET",
        &mut tally,
    )?;
    step(
        &probe,
        &t,
        written_wp,
        64,
        "first GET+WP over holes",
        &mut tally,
    )?;
    step(
        &probe,
        &t,
        written_wp,
        64,
        "GET+WP over markers",
        &mut tally,
    )?;
    // From inside the gap, and ending inside a part.
    let inner = wp(
        HUGE + HUGE / 2,
        3 * HUGE + 3 * P,
        PAGE_IS_WRITTEN,
        PAGE_IS_WRITTEN,
    );
    step(&probe, &t, inner, 64, "GET+WP from the gap", &mut tally)?;
    // Every other page of the anon, shmem and THP parts (whose unpopulated
    // pmd got a page table of markers above): 768 regions, more than one
    // chunk of the 512-entry bounce buffer.
    let every_other: Vec<u64> = (0..h as u64)
        .step_by(2)
        .flat_map(|i| [i * P, 2 * HUGE + i * P, 3 * HUGE + i * P])
        .collect();
    t.write(&every_other);
    step(&probe, &t, written_wp, 4096, "GET+WP in chunks", &mut tally)?;
    t.write(&every_other);
    let capped = PmScanArg {
        max_pages: 600,
        ..written_wp
    };
    step(
        &probe,
        &t,
        capped,
        4096,
        "GET+WP in chunks, max_pages 600",
        &mut tally,
    )?;
    ensure!(
        tally.events > 0,
        "no scan announced anything: is the helper's notifier on this mm?"
    );
    report("holes and chunks", &tally);
    Ok(())
}
