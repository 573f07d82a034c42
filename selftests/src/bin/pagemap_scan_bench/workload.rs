// SPDX-License-Identifier: GPL-2.0

//! What a benchmark workload is, and the fds and buffers every one shares.

use crate::method::Method;
use crate::pagemap::Pagemap;
use pagemap_scan_selftests::scanner::Scanner;
use pagemap_scan_selftests::uapi::PageRegion;

/// Regions in the output vector of the scans that want a large one: the
/// size of the C ioctl's bounce buffer. With a longer vector, a call that
/// fills the bounce buffer and then finishes the walk returns a stale
/// `walk_end` (the address of its last refill, fs/proc/task_mmu.c up to at
/// least 6.18), so a caller looping on `walk_end` scans the tail again and
/// gets its regions twice.
pub const VEC_LEN: usize = 512;

/// The fds and buffers of the methods, opened and allocated once before any
/// workload, so no workload's address space changes while it is measured.
pub struct Tools {
    /// `/dev/pagemap_scan`.
    pub dev: Scanner,
    /// `/proc/self/pagemap` for the C ioctl.
    pub proc: Scanner,
    /// `/proc/self/pagemap` for reading.
    pub pagemap: Pagemap,
    /// An output vector of [`VEC_LEN`] regions.
    pub vec: Vec<PageRegion>,
}

impl Tools {
    /// Opens and allocates everything.
    pub fn new() -> Result<Tools, String> {
        let (dev, proc) = Scanner::pair()?;
        Ok(Tools {
            dev,
            proc,
            pagemap: Pagemap::open()?,
            vec: vec![PageRegion::default(); VEC_LEN],
        })
    }

    /// The ioctl of `m` (the module's for [`Method::is_rust`], else C's)
    /// and the shared output vector.
    pub fn ioctl(&mut self, m: Method) -> (&Scanner, &mut [PageRegion]) {
        let s = if m.is_rust() { &self.dev } else { &self.proc };
        (s, &mut self.vec)
    }
}

/// Memory set up in one state and the question asked about it.
pub trait Workload {
    /// Short name, the key in the CSV files.
    fn key(&self) -> &'static str;

    /// What it is, for the table (no commas).
    fn describe(&self) -> String;

    /// What the measure is divided by: "page" (the size of what is
    /// scanned), "call" or "VMA".
    fn unit(&self) -> &'static str {
        "page"
    }

    /// How many [`Workload::unit`]s one timed run covers.
    fn units(&self) -> u64;

    /// The methods that answer this workload's question.
    fn methods(&self) -> &'static [Method];

    /// Untimed work before each timed run of `m` in repetition `rep`.
    fn prepare(&mut self, _m: Method, _rep: u32, _tools: &mut Tools) -> Result<(), String> {
        Ok(())
    }

    /// The timed work: answers the question with `m`; returns the pages
    /// found, which every method must agree on.
    fn run(&mut self, m: Method, tools: &mut Tools) -> Result<u64, String>;
}
