// SPDX-License-Identifier: GPL-2.0

//! Which pages of a shared file mapping were written through it since the
//! soft-dirty bits were cleared? The Rust version of
//! `Documentation/examples/dirty-file-pages.c`.
//!
//!     cargo run -p pagemap-scan --example find_dirty_pages
//!
//! "Dirty" is soft-dirty: written through a page table entry since
//! `echo 4 > /proc/PID/clear_refs`. It needs `CONFIG_MEM_SOFT_DIRTY`.

use pagemap_scan::{page_size, Categories, Query, Scanner};
use std::error::Error;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};

const PAGES: u64 = 64;

/// The device, or the kernel's own ioctl on a 6.7+ kernel without the module.
fn open_scanner() -> Result<Scanner, pagemap_scan::Error> {
    Scanner::open().or_else(|_| Scanner::open_proc_self())
}

/// A shared mapping of a new memfd of `len` bytes.
fn shared_memfd(len: u64) -> Result<&'static mut [u8], Box<dyn Error>> {
    // SAFETY: memfd_create takes a NUL-terminated name and returns a new fd or -1.
    let fd = unsafe { libc::memfd_create(c"find-dirty-pages".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()).into());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(len)?;
    // SAFETY: a new shared mapping of the whole file, at an address the
    // kernel chooses; the mapping outlives `file`.
    let map = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return Err(format!("mmap: {}", std::io::Error::last_os_error()).into());
    }
    // SAFETY: the mapping is `len` readable and writable bytes, never
    // unmapped, and referred to by nothing else.
    Ok(unsafe { core::slice::from_raw_parts_mut(map.cast::<u8>(), len as usize) })
}

fn main() -> Result<(), Box<dyn Error>> {
    let page = page_size();
    let map = shared_memfd(PAGES * page)?;
    let scanner = open_scanner()?;

    // Map every page, then start the interval: nothing is soft-dirty now.
    for p in 0..PAGES {
        // A read through a volatile pointer, which the compiler keeps.
        // SAFETY: the address is inside the mapping.
        unsafe { core::ptr::read_volatile(map.as_ptr().add((p * page) as usize)) };
    }
    std::fs::write("/proc/self/clear_refs", "4")?;
    // The "program": it writes a few pages.
    for p in (3..PAGES).step_by(10) {
        map[(p * page) as usize] = 1;
    }

    // Present file pages that are soft-dirty, reported as soft-dirty only
    // (so that neighbours coalesce). The iterator calls PAGEMAP_SCAN as
    // many times as its vector of 4 regions needs.
    let start = map.as_ptr() as u64;
    let query = Query::new(start..start + PAGES * page)
        .require(Categories::FILE | Categories::PRESENT | Categories::SOFT_DIRTY)
        .report(Categories::SOFT_DIRTY);
    let mut regions = scanner.regions_with_vec(&query, 4);
    let mut found = 0;
    for region in regions.by_ref() {
        let region = region?;
        let first = (region.start - start) / page;
        println!("dirty: pages {first}-{}", first + region.pages() - 1);
        found += region.pages();
    }
    // A kernel without CONFIG_MEM_SOFT_DIRTY never reports the category.
    let hint = if found == 0 {
        " (is CONFIG_MEM_SOFT_DIRTY set?)"
    } else {
        ""
    };
    println!(
        "{found} dirty pages{hint}, PAGEMAP_SCAN calls: {}",
        regions.calls()
    );
    Ok(())
}
