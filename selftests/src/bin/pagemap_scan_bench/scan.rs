// SPDX-License-Identifier: GPL-2.0

//! PAGEMAP_SCAN over a whole range the way its users call it: a fixed
//! vector, calls continued from `walk_end` until the range is done.

use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::scanner::Scanner;
use pagemap_scan_selftests::uapi::{PageRegion, PmScanArg};

/// Scans `a.start..a.end` through `s` with `vec` as the output vector (an
/// empty `vec` passes none: a write-protect-only reset), continuing from
/// `walk_end`, and calls `region` for each region returned. With `limit`,
/// stops once that many pages were reported, passing the rest of it as
/// `max_pages` (Wine's loop). Returns the pages reported.
pub fn scan_all(
    s: &Scanner,
    mut a: PmScanArg,
    vec: &mut [PageRegion],
    limit: Option<u64>,
    mut region: impl FnMut(&PageRegion) -> Result<(), String>,
) -> Result<u64, String> {
    let end = a.end;
    let mut pages = 0;
    a.vec = if vec.is_empty() {
        0
    } else {
        vec.as_mut_ptr() as u64
    };
    a.vec_len = vec.len() as u64;
    loop {
        if let Some(limit) = limit {
            a.max_pages = limit - pages;
        }
        let reply = s.scan(&mut a);
        let n = reply
            .ret
            .map_err(|e| format!("{} PAGEMAP_SCAN {:#x}..{end:#x}: {e}", s.name, a.start))?
            as usize;
        for r in &vec[..n] {
            pages += (r.end - r.start) / PAGE as u64;
            region(r)?;
        }
        if reply.walk_end >= end || limit.is_some_and(|l| pages >= l) {
            return Ok(pages);
        }
        if reply.walk_end <= a.start {
            return Err(format!(
                "{}: walk_end {:#x} did not advance from {:#x}",
                s.name, reply.walk_end, a.start
            ));
        }
        a.start = reply.walk_end;
    }
}
