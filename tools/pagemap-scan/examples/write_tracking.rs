// SPDX-License-Identifier: GPL-2.0

//! Write tracking with userfaultfd wp-async and GET+WP through the regions
//! iterator: the pattern of Wine's `GetWriteWatch()`. The Rust version of
//! `Documentation/examples/dirty-tracking.c`.
//!
//!     cargo run -p pagemap-scan --example write_tracking
//!
//! Each GET reports the pages written since the previous one and
//! write-protects them again in the same walk, so no write is lost.

use pagemap_scan::uffd::Uffd;
use pagemap_scan::{page_size, Categories, Query, Scanner};
use std::error::Error;

const PAGES: u64 = 256;

/// The device, or the kernel's own ioctl on a 6.7+ kernel without the module.
fn open_scanner() -> Result<Scanner, pagemap_scan::Error> {
    Scanner::open().or_else(|_| Scanner::open_proc_self())
}

/// A private anonymous mapping of `len` bytes, without transparent huge
/// pages (as Wine does: a THP only partly protected would be split anyway).
fn anonymous(len: u64) -> Result<&'static mut [u8], Box<dyn Error>> {
    // SAFETY: a new anonymous mapping at an address the kernel chooses.
    let map = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return Err(format!("mmap: {}", std::io::Error::last_os_error()).into());
    }
    // SAFETY: advice on the mapping just made; it changes no contents.
    unsafe { libc::madvise(map, len as usize, libc::MADV_NOHUGEPAGE) };
    // SAFETY: the mapping is `len` readable and writable bytes, never
    // unmapped, and referred to by nothing else.
    Ok(unsafe { core::slice::from_raw_parts_mut(map.cast::<u8>(), len as usize) })
}

/// GET+WP: the addresses of at most `room` pages written since the last
/// call, write-protected again by the same calls. Pages written but not
/// returned (no room) stay unprotected and come back next time.
fn get_write_watch(
    scanner: &Scanner,
    watch: &Query,
    room: u64,
) -> Result<Vec<u64>, pagemap_scan::Error> {
    let page = page_size() as usize;
    let mut addrs = Vec::new();
    // `max_pages` is a budget over all the iterator's calls; its vector of
    // 16 regions is refilled from where each call stopped.
    for region in scanner.regions_with_vec(&watch.max_pages(room), 16) {
        let region = region?;
        addrs.extend((region.start..region.end).step_by(page));
    }
    Ok(addrs)
}

fn main() -> Result<(), Box<dyn Error>> {
    let page = page_size();
    let len = PAGES * page;
    let scanner = open_scanner()?;
    // Features probed, then the supported subset of WP_ASYNC |
    // WP_UNPOPULATED | WP_HUGETLBFS_SHMEM requested on a fresh fd.
    let uffd = Uffd::wp_async()?;
    let buf = anonymous(len)?;
    let base = buf.as_ptr() as u64;

    // Register for write-protection; the registration lives as long as `uffd`.
    uffd.register_wp(base, len)?;
    // Reset: PM_SCAN_WP_MATCHING with no vector protects the whole range.
    scanner.write_protect(base..base + len)?;

    // Written pages, protected again as they are reported; EPERM rather
    // than silently skipping a range that is not registered.
    let watch = Query::new(base..base + len)
        .require(Categories::WRITTEN)
        .report(Categories::WRITTEN)
        .write_protect()
        .check_wpasync();

    // (pages the "program" writes, room in the caller's buffer)
    let rounds: [(&[u64], u64); 4] = [
        (&[1, 5, 6], PAGES),
        (&[1, 200, 6], PAGES),
        (&[10, 20, 30, 40], 2), // room for 2: 30 and 40 wait for the next GET
        (&[], PAGES),
    ];
    for (round, (writes, room)) in rounds.into_iter().enumerate() {
        // wp-async resolves each first write inside the kernel: no signal.
        for &p in writes {
            buf[(p * page) as usize] = 1;
        }
        let written = get_write_watch(&scanner, &watch, room)?;
        let pages: Vec<String> = written
            .iter()
            .map(|a| ((a - base) / page).to_string())
            .collect();
        println!(
            "round {}: {} pages written: {}",
            round + 1,
            pages.len(),
            pages.join(" ")
        );
    }
    Ok(())
}
