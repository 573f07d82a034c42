// SPDX-License-Identifier: GPL-2.0

//! Stress: scanner threads (GET and GET+WP through the device) against
//! mutator threads that keep changing the scanned address space: map and
//! unmap (anon, shmem, hugetlb), mremap, mprotect, madvise (DONTNEED,
//! PAGEOUT, HUGEPAGE, NOHUGEPAGE, COLLAPSE), fork + exit, userfaultfd
//! register/unregister, and the states a distribution's mm makes: NUMA
//! migration (`move_pages`, `mbind(MPOL_MF_MOVE)`), KSM merging (with ksmd
//! running), hwpoison and soft-offline, proactive memcg reclaim (to swap or
//! zswap), guard regions. Bounded in time and seeded; any failed scan fails
//! the run, and the kernel's checkers (on the debug kernel) watch the rest.
//! It prints how often each mutator succeeded, so one that never could
//! (no second node, no KSM) is visible.
//!
//! Usage: pagemap_scan_stress [SECONDS] (default 20); PMS_SEED sets the seed.

use pagemap_scan_selftests::cgroup::Cgroup;
use pagemap_scan_selftests::knob::{self, Knob};
use pagemap_scan_selftests::numa;
use pagemap_scan_selftests::rng::{self, Rng};
use pagemap_scan_selftests::scanner::{arg, Scanner};
use pagemap_scan_selftests::tap::Failure;
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::uffd::Uffd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

const SLOT: u64 = 2 << 20;
const SLOTS: u64 = 32;
const PAGE: u64 = 4096;
const MADV_GUARD_INSTALL: i32 = 102;
const MADV_GUARD_REMOVE: i32 = 103;

/// The reserved area the threads fight over.
struct Area {
    base: u64,
}

impl Area {
    fn new() -> Result<Area, String> {
        let len = ((SLOTS + 1) * SLOT) as usize;
        // SAFETY: a fresh reservation at an address of the kernel's choosing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err("mmap of the area failed".into());
        }
        // The area stays mapped until exit; slots are 2 MiB aligned.
        Ok(Area {
            base: (p as u64 + SLOT - 1) & !(SLOT - 1),
        })
    }

    fn slot(&self, i: u64) -> *mut libc::c_void {
        (self.base + i * SLOT) as *mut libc::c_void
    }

    fn end(&self) -> u64 {
        self.base + SLOTS * SLOT
    }
}

/// What the mutators may use of the machine, found once at the start.
struct Machine {
    /// NUMA nodes with memory (node 0 only without NUMA).
    nodes: Vec<u64>,
    /// The run's own memory cgroup, if one could be made.
    reclaim: Option<Cgroup>,
    /// Held for writing by the mutators that must run alone, for reading by
    /// the others.
    alone: RwLock<()>,
}

/// The index of hwpoison/soft-offline in [`MUTATORS`].
const POISON: usize = 15;
/// The index of guard install/remove in [`MUTATORS`].
const GUARD: usize = 16;

/// The mutators, in the order of [`mutate`]'s match, for the counts.
const MUTATORS: [&str; 17] = [
    "map anon",
    "map shmem",
    "map hugetlb",
    "munmap",
    "mremap",
    "mprotect",
    "DONTNEED",
    "PAGEOUT",
    "(NO)HUGEPAGE",
    "COLLAPSE",
    "uffd-wp register",
    "fork",
    "migrate",
    "mbind move",
    "KSM (un)merge",
    "hwpoison/soft-offline",
    "guard install/remove",
];

/// One random change to the area: its index in [`MUTATORS`] and whether the
/// kernel accepted it. Failures are expected (races between mutators, no
/// hugetlb page left) and ignored: only the kernel must cope.
fn mutate(area: &Area, uffd: &Uffd, machine: &Machine, r: &mut Rng) -> (usize, bool) {
    let which = r.below(MUTATORS.len() as u64) as usize;
    // Poisoning and guard installation run alone: see below.
    let alone = which == POISON || which == GUARD;
    let _alone = alone.then(|| machine.alone.write());
    let _shared = (!alone).then(|| machine.alone.read());
    let slot = r.below(SLOTS);
    let addr = area.slot(slot);
    let len = (SLOT >> r.below(4)) as usize;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let fixed = libc::MAP_FIXED | libc::MAP_NORESERVE;
    // SAFETY: only mappings inside the area change, which the program never
    // dereferences: the kernel populates pages (MADV_POPULATE_WRITE), failing
    // cleanly where a racing thread unmapped them or a page is poisoned.
    let ok = unsafe {
        match which {
            0 => {
                let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | fixed;
                libc::mmap(addr, len, rw, flags, -1, 0) != libc::MAP_FAILED
                    && libc::madvise(addr, len / 2, libc::MADV_POPULATE_WRITE) == 0
            }
            1 => {
                let flags = libc::MAP_SHARED | libc::MAP_ANONYMOUS | fixed;
                libc::mmap(addr, len, rw, flags, -1, 0) != libc::MAP_FAILED
                    && libc::madvise(addr, len / 4, libc::MADV_POPULATE_WRITE) == 0
            }
            2 => {
                let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB | fixed;
                libc::mmap(addr, SLOT as usize, rw, flags, -1, 0) != libc::MAP_FAILED
                    && libc::madvise(addr, SLOT as usize, libc::MADV_POPULATE_WRITE) == 0
            }
            3 => libc::munmap(addr, len) == 0,
            4 => {
                let to = area.slot(r.below(SLOTS));
                let flags = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
                libc::mremap(addr, len, len, flags, to) != libc::MAP_FAILED
            }
            5 => {
                let prot = r.pick(&[libc::PROT_NONE, libc::PROT_READ, rw]);
                libc::mprotect(addr, len, prot) == 0
            }
            6 => libc::madvise(addr, len, libc::MADV_DONTNEED) == 0,
            7 => libc::madvise(addr, len, libc::MADV_PAGEOUT) == 0,
            8 => {
                let advice = r.pick(&[libc::MADV_HUGEPAGE, libc::MADV_NOHUGEPAGE]);
                libc::madvise(addr, len, advice) == 0
            }
            9 => libc::madvise(addr, len, libc::MADV_COLLAPSE) == 0,
            10 => uffd.register_wp(addr as u64, len as u64).is_ok(),
            11 => {
                // A child: the mm is copied, then torn down, while scans run.
                let pid = libc::fork();
                if pid == 0 {
                    libc::_exit(0);
                }
                pid > 0 && libc::waitpid(pid, std::ptr::null_mut(), 0) == pid
            }
            // Migration entries while they last: up to 64 pages to one node.
            12 => {
                let node = r.pick(&machine.nodes) as i32;
                let n = 1 + r.below(64) as usize;
                let pages: Vec<u64> = (0..n)
                    .map(|i| addr as u64 + (i * PAGE as usize) as u64)
                    .collect();
                numa::move_pages(&pages, Some(&vec![node; n])).is_ok()
            }
            13 => {
                let node = r.pick(&machine.nodes) as i32;
                numa::mbind(addr as u64, addr as u64 + len as u64, node).is_ok()
            }
            14 => {
                let advice = r.pick(&[libc::MADV_MERGEABLE, libc::MADV_UNMERGEABLE]);
                libc::madvise(addr, len, advice) == 0
            }
            // One page at a time: a poisoned page is lost to the machine for good.
            // The page is written first, so it is not the shared zero
            // page (MADV_HWPOISON and MADV_SOFT_OFFLINE find their page
            // by a read fault, which maps the zero page into an empty pte:
            // poisoning it would poison a page every process shares). No
            // other mutator runs meanwhile, so the page stays the written
            // one (ksmd may merge it: a KSM page is still a page of ours).
            POISON => {
                let page = addr.wrapping_add(r.below(SLOT / PAGE) as usize * PAGE as usize);
                if libc::madvise(page, PAGE as usize, libc::MADV_POPULATE_WRITE) != 0 {
                    return (which, false);
                }
                let advice = if r.one_in(4) {
                    libc::MADV_HWPOISON
                } else {
                    libc::MADV_SOFT_OFFLINE
                };
                libc::madvise(page, PAGE as usize, advice) == 0
            }
            // Guards go into fresh private anonymous memory only, with no
            // other mutator mapping shmem there meanwhile: on 7.3.4
            // MADV_GUARD_INSTALL never returns (it zaps and restarts the
            // call forever) over a shmem range holding uffd-wp markers,
            // which a zap keeps in a file VMA. Documentation/abi.rst.
            GUARD if r.one_in(2) => libc::madvise(addr, len, MADV_GUARD_REMOVE) == 0,
            _ => {
                debug_assert_eq!(which, GUARD);
                let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | fixed;
                let guards = addr.wrapping_add(len / 4);
                libc::mmap(addr, len, rw, flags, -1, 0) != libc::MAP_FAILED
                    && libc::madvise(addr, len, libc::MADV_POPULATE_WRITE) == 0
                    && libc::madvise(guards, len / 2, MADV_GUARD_INSTALL) == 0
            }
        }
    };
    (which, ok)
}

/// The NUMA nodes that have memory, from sysfs; node 0 without NUMA.
fn memory_nodes() -> Vec<u64> {
    let list = knob::read("/sys/devices/system/node/has_memory").unwrap_or_default();
    let mut nodes = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
            nodes.extend(a..=b);
        }
    }
    if nodes.is_empty() {
        nodes.push(0);
    }
    nodes
}

/// Sets each tunable that exists; the ones missing are named.
fn tunables() -> Vec<Knob> {
    [
        // ksmd merging what MADV_MERGEABLE offers, often.
        ("/sys/kernel/mm/ksm/run", "1"),
        ("/sys/kernel/mm/ksm/sleep_millisecs", "10"),
        ("/sys/kernel/mm/ksm/pages_to_scan", "1000"),
        // NUMA hinting faults: protnone ptes in the area.
        ("/proc/sys/kernel/numa_balancing", "1"),
        // Reclaimed anon pages to zswap before the swap disk.
        ("/sys/module/zswap/parameters/enabled", "Y"),
    ]
    .into_iter()
    .filter_map(|(path, value)| match Knob::set(path, value) {
        Ok(k) => Some(k),
        Err(e) => {
            println!("# stress: not set: {e}");
            None
        }
    })
    .collect()
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed = rng::seed(0x57_2e55);
    let knobs = tunables();
    let machine = Machine {
        nodes: memory_nodes(),
        reclaim: match Cgroup::join("pagemap_scan_stress") {
            Ok(cg) => Some(cg),
            Err(Failure::Skip(why) | Failure::Fail(why)) => {
                println!("# stress: no memcg reclaim: {why}");
                None
            }
        },
        alone: RwLock::new(()),
    };
    // MADV_HWPOISON tells the caller at once with a forced SIGBUS
    // (BUS_MCEERR_AR, sent on the way out of the syscall): a forced signal
    // ignores SIG_IGN, so a handler takes it. The run never touches its
    // pages, so no fault repeats after the handler returns.
    extern "C" fn poisoned(_: libc::c_int) {}
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    unsafe { libc::signal(libc::SIGBUS, poisoned as *const () as libc::sighandler_t) };
    let area = Area::new().expect("area");
    let uffd = Uffd::wp_async().expect("userfaultfd");
    let dev = Scanner::device().expect("open /dev/pagemap_scan");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let stop = AtomicBool::new(false);
    let (scans, failures) = (AtomicU64::new(0), AtomicU64::new(0));
    let tried: [AtomicU64; MUTATORS.len()] = Default::default();
    let done: [AtomicU64; MUTATORS.len()] = Default::default();
    let nanos: [AtomicU64; MUTATORS.len()] = Default::default();
    let (reclaims, reclaimed, reclaim_nanos) =
        (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));

    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (area, uffd, machine, stop, tried, done, nanos) =
                (&area, &uffd, &machine, &stop, &tried, &done, &nanos);
            s.spawn(move || {
                let mut r = Rng::new(seed ^ (t + 1));
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    let (which, ok) = mutate(area, uffd, machine, &mut r);
                    nanos[which].fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    tried[which].fetch_add(1, Ordering::Relaxed);
                    done[which].fetch_add(u64::from(ok), Ordering::Relaxed);
                }
            });
        }
        // Proactive reclaim of the run's cgroup, all along: a call takes
        // about a second under TCG, too slow to be one of the mutators.
        if let Some(cg) = &machine.reclaim {
            let (stop, tried, done, nanos) = (&stop, &reclaims, &reclaimed, &reclaim_nanos);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    let ok = cg.reclaim(1 << 20).is_ok();
                    nanos.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    tried.fetch_add(1, Ordering::Relaxed);
                    done.fetch_add(u64::from(ok), Ordering::Relaxed);
                }
            });
        }
        for t in 0..2u64 {
            let (area, dev, stop, scans, failures) = (&area, &dev, &stop, &scans, &failures);
            s.spawn(move || {
                let mut r = Rng::new(seed ^ (t + 100));
                while !stop.load(Ordering::Relaxed) {
                    let mut a = arg(
                        area.base,
                        area.end(),
                        r.below(256) & r.below(256),
                        r.below(256),
                    );
                    a.flags = if r.one_in(2) { PM_SCAN_WP_MATCHING } else { 0 };
                    a.max_pages = r.pick(&[0, 1, 100]);
                    let (reply, _) = dev.regions(a, r.pick(&[0, 1, 16, 512]) as usize);
                    if reply.ret.is_err() {
                        eprintln!("# stress: scan {a:?} failed: {reply:?}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    scans.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
    });
    drop(knobs);

    let (scans, failures) = (scans.into_inner(), failures.into_inner());
    let mutations: u64 = tried.iter().map(|t| t.load(Ordering::Relaxed)).sum();
    // What the mm went through, so a state never reached is visible.
    let ksm = |f: &str| knob::number(format!("/sys/kernel/mm/ksm/{f}")).unwrap_or(0);
    let meminfo = knob::read("/proc/meminfo").unwrap_or_default();
    let poisoned = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HardwareCorrupted:"))
        .map_or("?", str::trim);
    println!(
        "# stress: nodes {:?}, ksm full_scans {} pages_sharing {}, numa_pte_updates {}, \
         pgmigrate_success {}, zswpout {}, pswpout {}, hwpoisoned {poisoned}",
        machine.nodes,
        ksm("full_scans"),
        ksm("pages_sharing"),
        knob::vmstat("numa_pte_updates"),
        knob::vmstat("pgmigrate_success"),
        knob::vmstat("zswpout"),
        knob::vmstat("pswpout"),
    );
    for (i, name) in MUTATORS.iter().enumerate() {
        let tried = tried[i].load(Ordering::Relaxed);
        let ms = nanos[i].load(Ordering::Relaxed) / tried.max(1) / 1_000_000;
        println!(
            "# stress: mutator {name}: {} of {tried} accepted, {ms} ms each",
            done[i].load(Ordering::Relaxed),
        );
    }
    let tried = reclaims.into_inner();
    println!(
        "# stress: memcg reclaim (its own thread): {} of {tried} accepted, {} ms each",
        reclaimed.into_inner(),
        reclaim_nanos.into_inner() / tried.max(1) / 1_000_000
    );
    println!("# stress: {secs} s, seed {seed}: {scans} scans, {mutations} mutations, {failures} failed scans");
    // Back to the root cgroup, its own removed.
    drop(machine);
    std::process::exit(i32::from(failures != 0 || scans == 0));
}
