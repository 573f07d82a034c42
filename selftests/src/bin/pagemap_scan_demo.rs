// SPDX-License-Identifier: GPL-2.0

//! `make demo`: one real PAGEMAP_SCAN through /dev/pagemap_scan, printed next
//! to the same call on /proc/self/pagemap.

use pagemap_scan_selftests::mem::{Mapping, PAGE};
use pagemap_scan_selftests::scanner::{arg, Scanner};
use pagemap_scan_selftests::uapi::*;

const NAMES: [(u64, &str); 8] = [
    (PAGE_IS_WPALLOWED, "wpallowed"),
    (PAGE_IS_WRITTEN, "written"),
    (PAGE_IS_FILE, "file"),
    (PAGE_IS_PRESENT, "present"),
    (PAGE_IS_SWAPPED, "swapped"),
    (PAGE_IS_PFNZERO, "pfnzero"),
    (PAGE_IS_HUGE, "huge"),
    (PAGE_IS_SOFT_DIRTY, "soft-dirty"),
];

fn names(categories: u64) -> String {
    let v: Vec<_> = NAMES
        .iter()
        .filter(|(b, _)| categories & b != 0)
        .map(|(_, n)| *n)
        .collect();
    v.join("|")
}

fn main() -> Result<(), String> {
    let m = Mapping::anon(16)?;
    for i in 0..4 {
        m.touch(i);
    }
    // A read of untouched private memory maps the shared zero page.
    // SAFETY: page 8 is inside the mapping and readable.
    let _ = unsafe { std::ptr::read_volatile((m.page(8)) as *const u8) };

    println!(
        "16 anonymous pages at {:#x}: pages 0-3 written, page 8 read, the rest untouched",
        m.start()
    );
    println!("call: every page (category_mask 0), return_mask = all 8 categories, vec of 8\n");
    let (dev, proc) = Scanner::pair()?;
    for s in [&dev, &proc] {
        let (reply, regions) = s.regions(arg(m.start(), m.end(), 0, PM_SCAN_CATEGORIES), 8);
        println!(
            "{:>6}: ioctl returned {:?}, walk_end = base + {:#x}",
            s.name,
            reply.ret,
            reply.walk_end - m.start()
        );
        println!("        {:>6} {:>6}  categories", "page", "pages");
        for r in &regions {
            let first = (r.start - m.start()) / PAGE as u64;
            let n = (r.end - r.start) / PAGE as u64;
            println!("        {first:>6} {n:>6}  {}", names(r.categories));
        }
        println!();
    }
    Ok(())
}
