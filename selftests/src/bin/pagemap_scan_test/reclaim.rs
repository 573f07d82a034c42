// SPDX-License-Identifier: GPL-2.0

//! Reclaim as a memory cgroup does it: the test's process moves into a
//! cgroup v2 with a small `memory.max` and writes more anonymous memory than
//! that, so the memcg's reclaim pushes pages to swap (or to zswap, with zswap
//! enabled) while a thread keeps touching them. Scans run during reclaim
//! (C/device/C rounds, compared where C held still) and after it, with a
//! proactive `memory.reclaim` on top (settled: every round compared).

use pagemap_scan_selftests::churn::Tally;
use pagemap_scan_selftests::layout::{require_swap, Area, Kind};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::scanner::{arg, kernel_abi, Scanner};
use pagemap_scan_selftests::tap::{Failure, Outcome};
use pagemap_scan_selftests::uapi::*;
use pagemap_scan_selftests::{ensure, skip};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const ROOT: &str = "/sys/fs/cgroup";
const ZSWAP: &str = "/sys/module/zswap/parameters/enabled";
/// The limit, and the memory written under it (half as much again).
const MAX: usize = 4 << 20;
const PAGES: usize = 3 * MAX / 2 / PAGE;
/// Passes of the writing thread over the memory.
const PASSES: u64 = 2;
/// Rounds at least during reclaim (more until the writer is done), and after it.
const DURING: usize = 8;
const AFTER: usize = 4;

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("{} <- {value}: {e}", path.display()))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// A cgroup of its own for this process, `memory.max` = [`MAX`]; on drop the
/// process goes back to the root and the cgroup is removed.
struct Cgroup {
    dir: PathBuf,
}

impl Cgroup {
    fn new() -> Result<Cgroup, Failure> {
        let root = Path::new(ROOT);
        if !root.join("cgroup.controllers").exists() {
            let filesystems = read(Path::new("/proc/filesystems"))?;
            if !filesystems.split_whitespace().any(|f| f == "cgroup2") {
                skip!("no cgroup2 in /proc/filesystems (no CONFIG_CGROUPS)");
            }
            std::fs::create_dir_all(root).map_err(|e| format!("mkdir {ROOT}: {e}"))?;
            // SAFETY: plain syscall with NUL-terminated strings.
            let r = unsafe {
                libc::mount(
                    c"cgroup2".as_ptr(),
                    c"/sys/fs/cgroup".as_ptr(),
                    c"cgroup2".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            if r != 0 {
                skip!("no cgroup v2: mount: {}", std::io::Error::last_os_error());
            }
        }
        if !read(&root.join("cgroup.controllers"))?
            .split_whitespace()
            .any(|c| c == "memory")
        {
            skip!("no memory controller in {ROOT}/cgroup.controllers");
        }
        write(&root.join("cgroup.subtree_control"), "+memory")?;
        let dir = root.join(format!("pagemap_scan_reclaim.{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let cg = Cgroup { dir };
        write(&cg.dir.join("memory.max"), &MAX.to_string())?;
        // "0": the writer, with all its threads.
        write(&cg.dir.join("cgroup.procs"), "0")?;
        Ok(cg)
    }

    /// `memory.stat`'s `key`, 0 where the kernel has no such line.
    fn stat(&self, key: &str) -> u64 {
        read(&self.dir.join("memory.stat"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }

    /// Proactive reclaim of `bytes` (EAGAIN where less could be reclaimed).
    fn reclaim(&self, bytes: usize) {
        let _ = std::fs::write(self.dir.join("memory.reclaim"), bytes.to_string());
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(Path::new(ROOT).join("cgroup.procs"), "0");
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// zswap on or off for the test's life, as it was on drop.
struct Zswap {
    was: String,
}

impl Zswap {
    fn set(on: bool) -> Result<Zswap, Failure> {
        let Ok(was) = std::fs::read_to_string(ZSWAP) else {
            if !on {
                return Ok(Zswap { was: String::new() });
            }
            skip!("{ZSWAP} missing (no zswap)");
        };
        write(Path::new(ZSWAP), if on { "Y" } else { "N" })?;
        Ok(Zswap {
            was: was.trim().to_string(),
        })
    }
}

impl Drop for Zswap {
    fn drop(&mut self) {
        if !self.was.is_empty() {
            let _ = std::fs::write(ZSWAP, &self.was);
        }
    }
}

/// Pages zswap holds, system-wide (debugfs), if debugfs shows it.
fn zswap_stored() -> String {
    std::fs::read_to_string("/sys/kernel/debug/zswap/stored_pages")
        .map_or_else(|_| "n/a".into(), |s| s.trim().to_string())
}

/// Writes a word that is not zero (zero-filled pages never reach swap or
/// zswap) into the page at `addr`.
fn dirty(addr: u64, salt: u64) {
    // SAFETY: the callers pass pages of an area mapped read-write that
    // outlives the write.
    unsafe { (addr as *mut u64).write_volatile((salt << 32) | addr | 1) };
}

fn swapped(r: &[PageRegion]) -> bool {
    r.iter().any(|r| r.categories & PAGE_IS_SWAPPED != 0)
}

fn run(zswap: bool) -> Outcome {
    require_swap()?;
    let _zswap = Zswap::set(zswap)?;
    let area = Area::of(Kind::Anon, PAGES)?;
    let cg = Cgroup::new()?;
    let name = if zswap {
        "reclaim to zswap"
    } else {
        "reclaim to swap"
    };

    // During: a thread writes page after page, more than the limit, pass
    // after pass; this thread scans until it is done.
    let (dev, proc) = Scanner::pair()?;
    let all = arg(area.base(), area.end(), 0, kernel_abi().categories);
    let mut during = Tally::default();
    let stop = AtomicBool::new(false);
    let passes = AtomicU64::new(0);
    std::thread::scope(|s| -> Outcome {
        let (base, stop, passes) = (area.base(), &stop, &passes);
        let toucher = s.spawn(move || {
            for salt in 1..=PASSES {
                for i in 0..PAGES {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    dirty(base + (i * PAGE) as u64, salt);
                }
                passes.fetch_add(1, Ordering::Relaxed);
            }
        });
        let mut result = Ok(());
        let mut i = 0;
        while i < DURING || !toucher.is_finished() {
            i += 1;
            // Every other round only swapped pages (fewer regions).
            let a = if i % 2 == 0 {
                all
            } else {
                PmScanArg {
                    category_mask: PAGE_IS_SWAPPED,
                    ..all
                }
            };
            if let Err(e) = during.round(&dev, &proc, a, 4096, swapped) {
                result = Err(e);
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        toucher.join().map_err(|_| "the toucher panicked")?;
        result.map_err(Into::into)
    })?;
    during.report(&format!("{name}, during"));

    // After: reclaim what is left, proactively; nothing moves any more.
    cg.reclaim(MAX);
    let mut after = Tally::default();
    for i in 0..AFTER {
        let a = PmScanArg {
            category_mask: if i % 2 == 0 { 0 } else { PAGE_IS_SWAPPED },
            ..all
        };
        after.settled(&dev, &proc, a, 4096, swapped)?;
    }
    after.report(&format!("{name}, after"));
    let out = proc
        .regions(
            arg(area.base(), area.end(), PAGE_IS_SWAPPED, PAGE_IS_SWAPPED),
            4096,
        )
        .1
        .iter()
        .map(|r| (r.end - r.start) / PAGE as u64)
        .sum::<u64>();
    println!(
        "# {name}: {} passes over {PAGES} pages under memory.max {MAX}; after: {out} pages swapped; memory.stat zswapped {} zswpout {} pswpout {}; zswap stored_pages {}",
        passes.load(Ordering::Relaxed),
        cg.stat("zswapped"),
        cg.stat("zswpout"),
        cg.stat("pswpout"),
        zswap_stored()
    );
    if during.saw == 0 {
        println!("# {name}: no scan during reclaim saw a swapped page");
    }
    ensure!(
        after.saw == after.scans,
        "{name}: after reclaim, no swapped page: {after:?}"
    );
    if zswap {
        ensure!(
            cg.stat("zswpout") > 0,
            "{name}: zswap enabled but memory.stat zswpout is 0"
        );
    }
    Ok(())
}

/// The memcg's reclaim to the swap disk.
pub fn swap() -> Outcome {
    run(false)
}

/// The memcg's reclaim to zswap.
pub fn zswap() -> Outcome {
    run(true)
}
