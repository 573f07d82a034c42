// SPDX-License-Identifier: GPL-2.0

//! "Which pages are present?" (`category_mask = return_mask =
//! PAGE_IS_PRESENT`) over one mapping: 4 KiB anon, THP, mTHP (64 KiB
//! folios mapped by ptes), hugetlb, and a sparse reservation with few
//! pages touched.

use crate::method::Method;
use crate::pagemap::Masks;
use crate::scan::scan_all;
use crate::workload::{Tools, Workload};
use pagemap_scan_selftests::knob::{self, Knob};
use pagemap_scan_selftests::layout::{Area, Kind, HUGE_PAGES};
use pagemap_scan_selftests::mem::{Mapping, PAGE};
use pagemap_scan_selftests::rng::Rng;
use pagemap_scan_selftests::uapi::{PAGE_IS_HUGE, PAGE_IS_PRESENT};

const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;

/// One mapping in a fixed state, scanned for present pages.
pub struct Dense {
    key: &'static str,
    what: String,
    start: u64,
    end: u64,
    /// Keeps the memory mapped while it is measured.
    _memory: Box<dyn std::any::Any>,
}

/// A human size: "1 GiB", "512 MiB".
pub fn size(bytes: usize) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

impl Dense {
    /// Private anonymous 4 KiB pages (`MADV_NOHUGEPAGE`), all written.
    pub fn anon(quick: bool) -> Result<Dense, String> {
        let len = if quick { 64 * MIB } else { GIB };
        let area = Area::of(Kind::Anon, len / PAGE)?;
        area.advise(0, len / PAGE, libc::MADV_NOHUGEPAGE)?;
        area.write(0, len / PAGE)?;
        Ok(Dense::new(
            "anon",
            format!("anon 4 KiB pages {} written", size(len)),
            area,
        ))
    }

    /// Anonymous `MADV_HUGEPAGE` memory, all written: THPs where the
    /// kernel found them (the share is in the description).
    pub fn thp(tools: &Tools, quick: bool) -> Result<Dense, String> {
        let len = if quick { 64 * MIB } else { GIB };
        let area = Area::of(Kind::Thp, len / PAGE)?;
        area.write(0, len / PAGE)?;
        let huge = scan_all(
            &tools.proc,
            Masks::only(PAGE_IS_HUGE).arg(area.base(), area.end()),
            &mut vec![Default::default(); 64],
            None,
            |_| Ok(()),
        )?;
        let share = huge * 100 / (len / PAGE) as u64;
        Ok(Dense::new(
            "thp",
            format!("THP {} written ({share} % huge)", size(len)),
            area,
        ))
    }

    /// Anonymous memory in 64 KiB folios, all written: the 64 KiB size set
    /// to `always` and the PMD size to `never` while it lives (the share of
    /// 64 KiB folios is in the description). `None`, with the reason
    /// printed, where the kernel has no 64 KiB size.
    pub fn mthp(quick: bool) -> Result<Option<Dense>, String> {
        let dir = "/sys/kernel/mm/transparent_hugepage";
        let size_64k = format!("{dir}/hugepages-64kB/enabled");
        if !std::path::Path::new(&size_64k).exists() {
            eprintln!("mthp: skipped: no {size_64k} (no anonymous mTHP in this kernel)");
            return Ok(None);
        }
        let settings = [
            Knob::set(size_64k, "always")?,
            Knob::set(format!("{dir}/hugepages-2048kB/enabled"), "never")?,
        ];
        let allocs = format!("{dir}/hugepages-64kB/stats/anon_fault_alloc");
        let before = knob::number(&allocs).ok();
        let len = if quick { 64 * MIB } else { GIB };
        let area = Area::of(Kind::Thp, len / PAGE)?;
        area.write(0, len / PAGE)?;
        let share = match (before, knob::number(&allocs).ok()) {
            (Some(b), Some(a)) => format!("{} %", (a - b) * 16 * 100 / (len / PAGE) as u64),
            _ => "unknown share".into(),
        };
        Ok(Some(Dense::new(
            "mthp",
            format!(
                "mTHP 64 KiB folios {} written ({share} in 64 KiB folios)",
                size(len)
            ),
            Mthp {
                area,
                _settings: settings,
            },
        )))
    }

    /// `MAP_HUGETLB` 2 MiB pages, all written.
    pub fn hugetlb(quick: bool) -> Result<Dense, String> {
        let len = if quick { 32 * MIB } else { 512 * MIB };
        let area = Area::of(Kind::Hugetlb, len / PAGE)?;
        area.write(0, len / PAGE)?;
        debug_assert!((len / PAGE).is_multiple_of(HUGE_PAGES));
        Ok(Dense::new(
            "hugetlb",
            format!("hugetlb 2 MiB pages {} written", size(len)),
            area,
        ))
    }

    /// A `MAP_NORESERVE` reservation with 0.1 % of its pages (random, seeded)
    /// written.
    pub fn sparse(quick: bool) -> Result<Dense, String> {
        let len = if quick { 4 * GIB } else { 64 * GIB };
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        let map = Mapping::aligned(len, GIB, libc::PROT_READ | libc::PROT_WRITE, flags)?;
        let pages = len / PAGE;
        advise(&map, libc::MADV_NOHUGEPAGE)?;
        let mut rng = Rng::new(0x5ba45e);
        for _ in 0..pages / 1000 {
            map.touch(rng.below(pages as u64) as usize);
        }
        let what = format!("sparse {} MAP_NORESERVE 0.1 % written", size(len));
        Ok(Dense::new("sparse", what, map))
    }

    fn new(key: &'static str, what: String, memory: impl MemoryRange + 'static) -> Dense {
        Dense {
            key,
            what,
            start: memory.first(),
            end: memory.last(),
            _memory: Box::new(memory),
        }
    }
}

/// `madvise` of a whole mapping.
fn advise(map: &Mapping, advice: i32) -> Result<(), String> {
    let len = (map.end() - map.start()) as usize;
    // SAFETY: advice on our own mapping, which nothing refers into.
    let r = unsafe { libc::madvise(map.start() as *mut libc::c_void, len, advice) };
    nix::errno::Errno::result(r)
        .map(drop)
        .map_err(|e| format!("madvise({advice}): {e}"))
}

/// mTHP memory and the settings it was faulted in with.
struct Mthp {
    area: Area,
    _settings: [Knob; 2],
}

impl MemoryRange for Mthp {
    fn first(&self) -> u64 {
        self.area.base()
    }
    fn last(&self) -> u64 {
        self.area.end()
    }
}

/// Memory a [`Dense`] holds: its address range.
trait MemoryRange {
    fn first(&self) -> u64;
    fn last(&self) -> u64;
}

impl MemoryRange for Area {
    fn first(&self) -> u64 {
        self.base()
    }
    fn last(&self) -> u64 {
        self.end()
    }
}

impl MemoryRange for Mapping {
    fn first(&self) -> u64 {
        self.start()
    }
    fn last(&self) -> u64 {
        self.end()
    }
}

impl Workload for Dense {
    fn key(&self) -> &'static str {
        self.key
    }

    fn describe(&self) -> String {
        self.what.clone()
    }

    fn units(&self) -> u64 {
        (self.end - self.start) / PAGE as u64
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::Rust, Method::C, Method::Read]
    }

    fn run(&mut self, m: Method, tools: &mut Tools) -> Result<u64, String> {
        let masks = Masks::only(PAGE_IS_PRESENT);
        match m {
            Method::Read => tools
                .pagemap
                .scan(self.start, self.end, masks, |_, _, _| Ok(())),
            _ => {
                let (s, vec) = tools.ioctl(m);
                scan_all(s, masks.arg(self.start, self.end), vec, None, |_| Ok(()))
            }
        }
    }
}
