// SPDX-License-Identifier: GPL-2.0

//! Mappings owned by a test, unmapped on drop.

use nix::errno::Errno;

/// The page size of the test machine.
pub const PAGE: usize = 4096;

/// The pfn `/proc/self/pagemap` gives for `addr` (only root sees pfns),
/// 0 where no page is present.
pub fn pfn(addr: u64) -> Result<u64, String> {
    let entry = read_u64("/proc/self/pagemap", addr / PAGE as u64 * 8)?;
    Ok(if entry >> 63 != 0 {
        entry & ((1 << 55) - 1)
    } else {
        0
    })
}

/// The page flags `/proc/kpageflags` gives for `pfn` (`KPF_*` bits).
pub fn kpageflags(pfn: u64) -> Result<u64, String> {
    read_u64("/proc/kpageflags", pfn * 8)
}

/// The 8 bytes at `off` of the file at `path`.
fn read_u64(path: &str, off: u64) -> Result<u64, String> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut entry = [0u8; 8];
    f.read_exact_at(&mut entry, off)
        .map_err(|e| format!("{path} at {off:#x}: {e}"))?;
    Ok(u64::from_ne_bytes(entry))
}

/// An `mmap`ed range.
///
/// # Invariants
///
/// `[addr, addr + len)` is a mapping this value created and unmaps on drop.
pub struct Mapping {
    addr: *mut u8,
    len: usize,
}

impl Mapping {
    /// `mmap(NULL, len, prot, flags, fd, 0)`.
    pub fn new(len: usize, prot: i32, flags: i32, fd: i32) -> Result<Mapping, String> {
        Mapping::at(0, len, prot, flags, fd).map_err(|e| format!("mmap of {len} bytes: {e}"))
    }

    /// `mmap(hint, len, prot, flags, fd, 0)`: at `hint` if the kernel takes
    /// it (`MAP_FIXED_NOREPLACE` in `flags` makes it take it or fail).
    pub fn at(hint: u64, len: usize, prot: i32, flags: i32, fd: i32) -> Result<Mapping, Errno> {
        assert!(flags & libc::MAP_FIXED == 0, "would replace a mapping");
        // SAFETY: a new mapping where nothing is mapped (no MAP_FIXED) aliases nothing.
        let addr = unsafe { libc::mmap(hint as *mut libc::c_void, len, prot, flags, fd, 0) };
        if addr == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        // INVARIANT: the mapping was just created.
        Ok(Mapping {
            addr: addr.cast(),
            len,
        })
    }

    /// Anonymous memory like `new`'s at a multiple of `align` (a power of two):
    /// over-maps by `align`, then unmaps the slack on both sides.
    pub fn aligned(len: usize, align: usize, prot: i32, flags: i32) -> Result<Mapping, String> {
        assert!(len > 0 && align.is_power_of_two());
        let over = Mapping::new(len + align, prot, flags, -1)?;
        let lead = (over.start().next_multiple_of(align as u64) - over.start()) as usize;
        let mut parts = over.punch(0, lead).map_err(|(_, e)| e)?;
        let rest = parts.pop().expect("len + align > lead: a part is left");
        let mut parts = rest.punch(len, align - lead).map_err(|(_, e)| e)?;
        Ok(parts.remove(0))
    }

    /// Unmaps `[off, off + len)` (page-aligned, inside the mapping) and returns
    /// what is left before and after the hole, each owning its part; on
    /// failure (a hugetlb page cut, say), the mapping as it was.
    pub fn punch(self, off: usize, len: usize) -> Result<Vec<Mapping>, (Mapping, String)> {
        assert!(off.is_multiple_of(PAGE) && len.is_multiple_of(PAGE) && off + len <= self.len);
        if len > 0 {
            // SAFETY: unmaps part of our own mapping, which nothing refers into
            // (type invariant).
            let r = unsafe { libc::munmap(self.addr.wrapping_add(off).cast(), len) };
            if let Err(e) = Errno::result(r) {
                return Err((self, format!("munmap: {e}")));
            }
        }
        let me = std::mem::ManuallyDrop::new(self);
        // INVARIANT: the parts are the mapping minus the hole, disjoint.
        Ok([(0, off), (off + len, me.len)]
            .into_iter()
            .filter(|(from, to)| from < to)
            .map(|(from, to)| Mapping {
                addr: me.addr.wrapping_add(from),
                len: to - from,
            })
            .collect())
    }

    /// Private anonymous read-write memory of `pages` pages, untouched.
    pub fn anon(pages: usize) -> Result<Mapping, String> {
        let m = Mapping::new(
            pages * PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
        )?;
        // 4 KiB pages whatever the THP default ("always" on a distribution).
        m.advise(libc::MADV_NOHUGEPAGE)?;
        Ok(m)
    }

    /// `madvise(advice)` of the whole mapping.
    pub fn advise(&self, advice: i32) -> Result<(), String> {
        // SAFETY: advice on our own mapping, which nothing refers into
        // (type invariant): `MADV_DONTNEED` discards only our own data.
        let r = unsafe { libc::madvise(self.addr.cast(), self.len, advice) };
        Errno::result(r)
            .map(drop)
            .map_err(|e| format!("madvise({advice}): {e}"))
    }

    /// First address.
    pub fn start(&self) -> u64 {
        self.addr as u64
    }

    /// End address (exclusive).
    pub fn end(&self) -> u64 {
        self.start() + self.len as u64
    }

    /// Address of page `i`.
    pub fn page(&self, i: usize) -> u64 {
        self.start() + (i * PAGE) as u64
    }

    /// Writes one byte to page `i`, populating it.
    pub fn touch(&self, i: usize) {
        assert!(i * PAGE < self.len);
        // SAFETY: inside the mapping, which is writable by construction of the callers.
        unsafe { self.addr.add(i * PAGE).write_volatile(1) };
    }

    /// `mprotect` of the whole mapping.
    pub fn protect(&self, prot: i32) -> Result<(), String> {
        // SAFETY: changes protection of our own mapping only.
        Errno::result(unsafe { libc::mprotect(self.addr.cast(), self.len, prot) })
            .map(drop)
            .map_err(|e| format!("mprotect: {e}"))
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours (type invariant) and no reference into it outlives `self`.
        unsafe { libc::munmap(self.addr.cast(), self.len) };
    }
}
