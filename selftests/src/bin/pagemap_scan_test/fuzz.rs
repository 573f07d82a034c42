// SPDX-License-Identifier: GPL-2.0

//! Hostile input: seeded random raw `pm_scan_arg`s (kernel addresses,
//! wrap-around ends, huge lengths, vectors inside the scanned range or in
//! unwritable memory, misaligned argument pointers, garbage sizes and bits),
//! each issued to the device and to the C ioctl. Both must answer alike.

use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::mem::{Mapping, PAGE};
use pagemap_scan_selftests::rng::{self, Rng};
use pagemap_scan_selftests::scanner::{Reply, Scanner};
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uapi::*;

const CALLS: u64 = 20_000;
const P: u64 = PAGE as u64;
const PAGES: u64 = 64;

/// Where the fuzzed pointers point.
struct Targets {
    /// Scanned memory, which doubles as a vector: see `populate_output`.
    mem: Mapping,
    read_only: Mapping,
    /// A page whose successor is unmapped.
    edge: Mapping,
}

impl Targets {
    fn new() -> Result<Targets, String> {
        let mem = Mapping::anon(PAGES as usize)?;
        for i in 0..PAGES as usize {
            if i < 8 || i % 3 == 0 {
                mem.touch(i);
            }
        }
        let read_only = Mapping::anon(1)?;
        read_only.protect(libc::PROT_READ)?;
        let edge = Mapping::anon(2)?;
        // SAFETY: unmaps the second page of our own mapping.
        unsafe { libc::munmap(edge.page(1) as *mut libc::c_void, PAGE) };
        Ok(Targets {
            mem,
            read_only,
            edge,
        })
    }

    /// Populates the pages of `mem` that `a`'s output may land on (at most
    /// one region per page scanned), so that the first call's output does not
    /// make a page present for the second call to find.
    fn populate_output(&self, a: &PmScanArg) {
        let end = a.vec.saturating_add(a.vec_len.min(PAGES) * 24);
        for i in 0..PAGES as usize {
            let page = self.mem.page(i);
            if a.vec < page + P && page < end {
                self.mem.touch(i);
            }
        }
    }

    fn address(&self, r: &mut Rng) -> u64 {
        match r.below(10) {
            0..=3 => self.mem.page(r.below(PAGES) as usize) + r.pick(&[0, 0, 0, 1, 8, P - 1]),
            4 => r.pick(&[0, 0xffff_8880_0000_0000, !(P - 1), 1 << 47, 1 << 56]),
            5 => self.read_only.start(),
            6 => self.edge.page(1) - r.below(64),
            7 => r.next_u64(),
            _ => self.mem.start(),
        }
    }

    fn arg(&self, r: &mut Rng) -> PmScanArg {
        let any = r.next_u64();
        let size = if r.one_in(10) {
            r.pick(&[0, 88, 95, 97, 104, u64::MAX, any])
        } else {
            96
        };
        let flags = if r.one_in(8) {
            r.next_u64()
        } else {
            r.below(4)
        };
        let mask = |r: &mut Rng| {
            if r.one_in(20) {
                r.next_u64()
            } else {
                r.below(256) & r.below(256)
            }
        };
        let start = self.address(r);
        let end = match r.below(6) {
            0 => start.wrapping_sub(r.below(4) * P),
            1 => r.pick(&[u64::MAX, 0, 0xffff_8880_0000_0000]),
            2 => start.wrapping_add(r.below(PAGES * P)),
            _ => start.wrapping_add(r.below(PAGES) * P),
        };
        let vec = match r.below(6) {
            0 => 0,
            1 => self.address(r),
            _ => self.mem.start() + r.pick(&[0, 8, 24, 4095]),
        };
        let vec_len = match r.below(8) {
            0 => r.pick(&[u64::MAX, u64::MAX / 24 + 1, 1 << 40, any]),
            1 => 0,
            _ => 1 + r.below(16),
        };
        PmScanArg {
            size,
            flags,
            start,
            end,
            walk_end: r.next_u64(),
            vec,
            vec_len,
            max_pages: if r.one_in(3) { r.below(8) } else { 0 },
            category_inverted: mask(r),
            category_mask: mask(r),
            category_anyof_mask: mask(r),
            return_mask: mask(r),
        }
    }
}

/// Issues `a` from a possibly misaligned place; returns the reply.
fn call(s: &Scanner, a: &PmScanArg, misalign: usize) -> Reply {
    let mut buf = [0u8; std::mem::size_of::<PmScanArg>() + 8];
    let p = buf[misalign..].as_mut_ptr().cast::<PmScanArg>();
    // SAFETY: `p` has room for a `PmScanArg` inside `buf`; unaligned access is used.
    unsafe { p.write_unaligned(*a) };
    // SAFETY: `p` is our writable buffer; the kernel accepts any alignment.
    let ret = unsafe { s.scan_at(p) };
    // SAFETY: as above.
    Reply {
        ret,
        walk_end: unsafe { p.read_unaligned() }.walk_end,
    }
}

pub fn hostile_args() -> Outcome {
    let seed = rng::seed(0x5eed_f022);
    let mut r = Rng::new(seed);
    let t = Targets::new()?;
    let (dev, proc) = Scanner::pair()?;
    let mut errors = std::collections::BTreeMap::new();
    for i in 0..CALLS {
        let a = t.arg(&mut r);
        let misalign = if r.one_in(4) { r.below(8) as usize } else { 0 };
        t.populate_output(&a);
        let d = call(&dev, &a, misalign);
        let p = call(&proc, &a, misalign);
        ensure!(
            d == p,
            "seed {seed} call {i}: {a:?} misaligned by {misalign}\n  device {d:?}\n  proc   {p:?}"
        );
        *errors
            .entry(p.ret.err().map_or("ok".to_string(), |e| e.to_string()))
            .or_insert(0u64) += 1;
    }
    println!("# fuzz: {CALLS} calls, seed {seed}, 0 mismatches; outcomes {errors:?}");
    Ok(())
}
