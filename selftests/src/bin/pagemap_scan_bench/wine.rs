// SPDX-License-Identifier: GPL-2.0

//! Wine's `GetWriteWatch`: a userfaultfd wp-async range; each round writes
//! 1 % of its pages (random, the same set for every method in a repetition)
//! and the timed part finds the written pages and write-protects them again.
//! The Wine way is GET+WP (`PM_SCAN_WP_MATCHING`, `category_mask =
//! return_mask = PAGE_IS_WRITTEN`, a 256-region vector, `max_pages` = what
//! is left of the caller's buffer, continued from `walk_end`).

use crate::method::Method;
use crate::pagemap::Masks;
use crate::scan::scan_all;
use crate::workload::{Tools, Workload};
use pagemap_scan_selftests::layout::{Area, Kind};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::rng::Rng;
use pagemap_scan_selftests::uapi::{
    PageRegion, PmScanArg, PAGE_IS_SOFT_DIRTY, PAGE_IS_WRITTEN, PM_SCAN_WP_MATCHING,
};
use pagemap_scan_selftests::uffd::Uffd;
use std::fs::File;
use std::io::Write;

/// Wine's vector of regions.
pub const WINE_VEC: usize = 256;

/// The watched range and its userfaultfd.
pub struct Wine {
    area: Area,
    uffd: Uffd,
    clear_refs: File,
    vec: Vec<PageRegion>,
}

impl Wine {
    /// 256 MiB (16 MiB quick) of 4 KiB anonymous pages, populated, registered
    /// for wp-async and write-protected.
    pub fn new(tools: &Tools, quick: bool) -> Result<Wine, String> {
        let (area, uffd) = watched(if quick { 4096 } else { 65536 })?;
        let clear_refs = File::options()
            .write(true)
            .open("/proc/self/clear_refs")
            .map_err(|e| format!("/proc/self/clear_refs: {e}"))?;
        let w = Wine {
            area,
            uffd,
            clear_refs,
            vec: vec![PageRegion::default(); WINE_VEC],
        };
        w.reset(tools)?;
        Ok(w)
    }

    /// Wine's reset: GET+WP with no vector, every written page protected.
    fn reset(&self, tools: &Tools) -> Result<(), String> {
        let a = get_wp(self.area.base(), self.area.end());
        scan_all(&tools.proc, a, &mut [], None, |_| Ok(()))?;
        Ok(())
    }

    fn written(&self) -> Masks {
        Masks::only(PAGE_IS_WRITTEN)
    }

    /// Writes 1 % of the pages, the set of repetition `rep`.
    fn write_round(&self, rep: u32) {
        let pages = self.area.pages() as u64;
        let mut rng = Rng::new(0x3172e ^ u64::from(rep));
        for _ in 0..pages / 100 {
            let addr = self.area.page(rng.below(pages) as usize) as *mut u8;
            // SAFETY: a page inside the area, mapped read-write anonymous.
            unsafe { addr.write_volatile(1) };
        }
    }

    fn clear_soft_dirty(&mut self) -> Result<(), String> {
        self.clear_refs
            .write_all(b"4")
            .map_err(|e| format!("clear_refs: {e}"))
    }
}

/// `pages` pages of 4 KiB anonymous memory (`MADV_NOHUGEPAGE`, as Wine
/// does on watched ranges), all written, registered for uffd-wp async and
/// not yet protected.
pub fn watched(pages: usize) -> Result<(Area, Uffd), String> {
    let area = Area::of(Kind::Anon, pages)?;
    area.write(0, pages)?;
    let uffd = Uffd::wp_async()?;
    uffd.register_wp(area.base(), area.end() - area.base())?;
    Ok((area, uffd))
}

/// Wine's GET+WP of `[start, end)`: the written pages, protected again.
pub fn get_wp(start: u64, end: u64) -> PmScanArg {
    let mut a = Masks::only(PAGE_IS_WRITTEN).arg(start, end);
    a.flags = PM_SCAN_WP_MATCHING;
    a
}

impl Workload for Wine {
    fn key(&self) -> &'static str {
        "wine"
    }

    fn describe(&self) -> String {
        let bytes = self.area.pages() * PAGE;
        format!(
            "Wine GetWriteWatch uffd-wp {} MiB 1 % written a round",
            bytes >> 20
        )
    }

    fn units(&self) -> u64 {
        self.area.pages() as u64
    }

    fn methods(&self) -> &'static [Method] {
        &[
            Method::Rust,
            Method::C,
            Method::Read,
            Method::SoftDirty,
            Method::UffdWp,
        ]
    }

    /// Each method starts from its own clean state: everything protected
    /// (or soft-clean), then the round's writes.
    fn prepare(&mut self, m: Method, rep: u32, tools: &mut Tools) -> Result<(), String> {
        if m == Method::SoftDirty {
            self.clear_soft_dirty()?;
        } else {
            self.reset(tools)?;
        }
        self.write_round(rep);
        Ok(())
    }

    fn run(&mut self, m: Method, tools: &mut Tools) -> Result<u64, String> {
        let (start, end) = (self.area.base(), self.area.end());
        let uffd = &self.uffd;
        let protect = |s: u64, e: u64| uffd.writeprotect(s, e - s, true);
        match m {
            Method::Rust2 | Method::C2 => Err(format!("wine: no method {}", m.key())),
            Method::Rust | Method::C => {
                let (s, _) = tools.ioctl(m);
                // The caller's buffer holds an address for every page.
                scan_all(
                    s,
                    get_wp(start, end),
                    &mut self.vec,
                    Some(self.area.pages() as u64),
                    |_| Ok(()),
                )
            }
            Method::UffdWp => {
                let a = self.written().arg(start, end);
                scan_all(
                    &tools.proc,
                    a,
                    &mut self.vec,
                    Some(self.area.pages() as u64),
                    |r| protect(r.start, r.end),
                )
            }
            Method::Read => tools
                .pagemap
                .scan(start, end, self.written(), |s, e, _| protect(s, e)),
            Method::SoftDirty => {
                let dirty = Masks::only(PAGE_IS_SOFT_DIRTY);
                let n = tools.pagemap.scan(start, end, dirty, |_, _, _| Ok(()))?;
                self.clear_soft_dirty()?;
                Ok(n)
            }
        }
    }
}
