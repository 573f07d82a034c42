// SPDX-License-Identifier: GPL-2.0

//! The method PAGEMAP_SCAN replaces: `pread` of `/proc/self/pagemap` (one
//! 64-bit entry a page, `Documentation/admin-guide/mm/pagemap.rst`) in large
//! blocks, each entry turned into `PAGE_IS_*` categories and matched in
//! userspace with the semantics of the ioctl's masks.

use pagemap_scan_selftests::mem::{Mapping, PAGE};
use pagemap_scan_selftests::uapi::*;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Page present in RAM.
const PM_PRESENT: u64 = 1 << 63;
/// Page swapped out (or a swap-format entry: migration, uffd-wp marker).
const PM_SWAP: u64 = 1 << 62;
/// File page or shared anonymous.
const PM_FILE: u64 = 1 << 61;
/// The pte is uffd-wp write-protected.
const PM_UFFD_WP: u64 = 1 << 57;
/// The pte is soft-dirty.
const PM_SOFT_DIRTY: u64 = 1 << 55;
/// The page frame number of a present page (0 without CAP_SYS_ADMIN).
const PM_PFN: u64 = (1 << 55) - 1;

/// Entries read per `pread`: 64 KiB, 32 MiB of address space.
pub const BLOCK_ENTRIES: usize = 8192;

/// The matching part of a `pm_scan_arg`.
#[derive(Clone, Copy, Debug)]
pub struct Masks {
    /// `category_inverted`.
    pub inverted: u64,
    /// `category_mask`.
    pub mask: u64,
    /// `category_anyof_mask`.
    pub anyof: u64,
    /// `return_mask`.
    pub ret: u64,
}

impl Masks {
    /// `category_mask = return_mask = categories`, nothing else.
    pub fn only(categories: u64) -> Masks {
        Masks {
            inverted: 0,
            mask: categories,
            anyof: 0,
            ret: categories,
        }
    }

    /// These masks in a `pm_scan_arg` for `[start, end)`.
    pub fn arg(self, start: u64, end: u64) -> PmScanArg {
        PmScanArg {
            size: std::mem::size_of::<PmScanArg>() as u64,
            start,
            end,
            category_inverted: self.inverted,
            category_mask: self.mask,
            category_anyof_mask: self.anyof,
            return_mask: self.ret,
            ..Default::default()
        }
    }

    /// Whether a page of `categories` matches, as `pagemap_scan_is_interesting_page`.
    fn matches(self, categories: u64) -> bool {
        let c = categories ^ self.inverted;
        c & self.mask == self.mask && (self.anyof == 0 || c & self.anyof != 0)
    }
}

/// `/proc/self/pagemap` opened for reading, with a block buffer.
pub struct Pagemap {
    file: File,
    buf: Vec<u8>,
    /// PFN of the shared zero page (0: unknown, then nothing is PFNZERO).
    zero_pfn: u64,
}

impl Pagemap {
    /// Opens the file and learns the zero page's PFN from a page of our own
    /// that maps it.
    pub fn open() -> Result<Pagemap, String> {
        let file =
            File::open("/proc/self/pagemap").map_err(|e| format!("/proc/self/pagemap: {e}"))?;
        let zero = Mapping::anon(1)?;
        // SAFETY: the page is inside a readable mapping of ours; reading an
        // untouched private page maps the shared zero page.
        unsafe { std::ptr::read_volatile(zero.start() as *const u8) };
        let mut entry = [0u8; 8];
        file.read_exact_at(&mut entry, zero.start() / PAGE as u64 * 8)
            .map_err(|e| format!("pread of /proc/self/pagemap: {e}"))?;
        let entry = u64::from_ne_bytes(entry);
        Ok(Pagemap {
            file,
            buf: vec![0; BLOCK_ENTRIES * 8],
            zero_pfn: if entry & PM_PRESENT != 0 {
                entry & PM_PFN
            } else {
                0
            },
        })
    }

    /// Whether the zero page's PFN is known (root): else PFNZERO is never set.
    pub fn knows_zero_pfn(&self) -> bool {
        self.zero_pfn != 0
    }

    /// The `PAGE_IS_*` categories of a pagemap entry. WRITTEN is the absence
    /// of the uffd-wp bit, as in the ioctl; HUGE and WPALLOWED are not in
    /// the file and never set.
    fn categories(&self, e: u64) -> u64 {
        let mut c = 0;
        if e & PM_PRESENT != 0 {
            c |= PAGE_IS_PRESENT;
            if e & PM_PFN == self.zero_pfn {
                c |= PAGE_IS_PFNZERO;
            }
        }
        if e & PM_SWAP != 0 {
            c |= PAGE_IS_SWAPPED;
        }
        if e & PM_FILE != 0 {
            c |= PAGE_IS_FILE;
        }
        if e & PM_SOFT_DIRTY != 0 {
            c |= PAGE_IS_SOFT_DIRTY;
        }
        if e & PM_UFFD_WP == 0 {
            c |= PAGE_IS_WRITTEN;
        }
        c
    }

    /// Reads the entries of `[start, end)` and calls `region(start, end,
    /// categories)` for each maximal run of matching pages with the same
    /// returned categories, as the ioctl coalesces them. Returns the number
    /// of matching pages.
    pub fn scan(
        &mut self,
        start: u64,
        end: u64,
        masks: Masks,
        mut region: impl FnMut(u64, u64, u64) -> Result<(), String>,
    ) -> Result<u64, String> {
        let page = PAGE as u64;
        let mut matched = 0;
        // The run being built: its start and returned categories.
        let mut run: Option<(u64, u64)> = None;
        let mut addr = start;
        while addr < end {
            let entries = ((end - addr) / page).min(BLOCK_ENTRIES as u64) as usize;
            let bytes = &mut self.buf[..entries * 8];
            self.file
                .read_exact_at(bytes, addr / page * 8)
                .map_err(|e| format!("pread of pagemap at {addr:#x}: {e}"))?;
            for raw in self.buf[..entries * 8].chunks_exact(8) {
                let e = u64::from_ne_bytes(raw.try_into().expect("chunks of 8 bytes"));
                let c = self.categories(e);
                let want = masks.matches(c).then_some(c & masks.ret);
                match (run, want) {
                    (Some((_, rc)), Some(wc)) if rc == wc => {}
                    _ => {
                        if let Some((rs, rc)) = run.take() {
                            region(rs, addr, rc)?;
                        }
                        run = want.map(|wc| (addr, wc));
                    }
                }
                matched += u64::from(want.is_some());
                addr += page;
            }
        }
        if let Some((rs, rc)) = run {
            region(rs, addr, rc)?;
        }
        Ok(matched)
    }
}
