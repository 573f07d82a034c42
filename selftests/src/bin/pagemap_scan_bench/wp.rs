// SPDX-License-Identifier: GPL-2.0

//! Write-protect workloads beside Wine's loop, GET+WP on a uffd-wp async
//! range as [`crate::wine`] calls it:
//!
//! - per call: `GetWriteWatch` on a small range (1, 16 or 512 pages), one
//!   page of it written, many times: the fixed cost of a call;
//! - the first round over 1 GiB of written 4 KiB pages: every pte found and
//!   changed (the pages are written again before each run, untimed).

use crate::dense::size;
use crate::method::Method;
use crate::scan::scan_all;
use crate::wine::{get_wp, watched, WINE_VEC};
use crate::workload::{Tools, Workload};
use pagemap_scan_selftests::layout::Area;
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::uffd::Uffd;

/// Small-range calls: `calls` ranges of `pages` pages side by side.
pub struct Calls {
    key: &'static str,
    pages: usize,
    calls: usize,
    area: Area,
    /// Keeps the registration.
    _uffd: Uffd,
}

impl Calls {
    /// The workload of calls over `pages` pages (1, 16 or 512), its ranges
    /// all protected.
    pub fn new(tools: &Tools, pages: usize, quick: bool) -> Result<Calls, String> {
        let (key, calls) = match pages {
            1 => ("call-1", 8192),
            16 => ("call-16", 4096),
            512 => ("call-512", 256),
            _ => return Err(format!("no per-call workload of {pages} pages")),
        };
        let calls = if quick { calls / 8 } else { calls };
        let (area, uffd) = watched(pages * calls)?;
        scan_all(
            &tools.proc,
            get_wp(area.base(), area.end()),
            &mut [],
            None,
            |_| Ok(()),
        )?;
        Ok(Calls {
            key,
            pages,
            calls,
            area,
            _uffd: uffd,
        })
    }

    /// The written page of call `i`: spread over the range's offsets.
    fn written(&self, i: usize) -> u64 {
        self.area.page(i * self.pages + i * 37 % self.pages)
    }
}

impl Workload for Calls {
    fn key(&self) -> &'static str {
        self.key
    }

    fn describe(&self) -> String {
        let range = match self.pages {
            1 => "1 page".to_string(),
            n => format!("{n} pages 1 written"),
        };
        format!("GetWriteWatch GET+WP call of {range}")
    }

    fn unit(&self) -> &'static str {
        "call"
    }

    fn units(&self) -> u64 {
        self.calls as u64
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::Rust, Method::C]
    }

    /// Writes each range's page; the previous run protected them all.
    fn prepare(&mut self, _m: Method, _rep: u32, _tools: &mut Tools) -> Result<(), String> {
        for i in 0..self.calls {
            // SAFETY: a page inside the area, mapped read-write anonymous.
            unsafe { (self.written(i) as *mut u8).write_volatile(1) };
        }
        Ok(())
    }

    fn run(&mut self, m: Method, tools: &mut Tools) -> Result<u64, String> {
        let (s, vec) = tools.ioctl(m);
        // Wine's vector; `max_pages` is its buffer, the range.
        let vec = &mut vec[..WINE_VEC];
        let mut found = 0;
        for i in 0..self.calls {
            let start = self.area.page(i * self.pages);
            let end = self.area.page((i + 1) * self.pages);
            found += scan_all(s, get_wp(start, end), vec, Some(self.pages as u64), |_| {
                Ok(())
            })?;
        }
        Ok(found)
    }
}

/// The first write-protect round over all-written memory.
pub struct FirstRound {
    area: Area,
    /// Keeps the registration.
    _uffd: Uffd,
}

impl FirstRound {
    /// 1 GiB (64 MiB quick) of 4 KiB pages, written, registered, never
    /// protected.
    pub fn new(quick: bool) -> Result<FirstRound, String> {
        let (area, uffd) = watched(if quick { 16384 } else { 262144 })?;
        Ok(FirstRound { area, _uffd: uffd })
    }
}

impl Workload for FirstRound {
    fn key(&self) -> &'static str {
        "first-wp"
    }

    fn describe(&self) -> String {
        format!(
            "first GET+WP round uffd-wp {} 4 KiB pages all written",
            size(self.area.pages() * PAGE)
        )
    }

    fn units(&self) -> u64 {
        self.area.pages() as u64
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::Rust, Method::C]
    }

    /// Every page written again (the write faults lift the protection the
    /// last run set), so each run changes every pte.
    fn prepare(&mut self, _m: Method, _rep: u32, _tools: &mut Tools) -> Result<(), String> {
        self.area.write(0, self.area.pages())
    }

    fn run(&mut self, m: Method, tools: &mut Tools) -> Result<u64, String> {
        let (s, vec) = tools.ioctl(m);
        scan_all(
            s,
            get_wp(self.area.base(), self.area.end()),
            vec,
            None,
            |_| Ok(()),
        )
    }
}
