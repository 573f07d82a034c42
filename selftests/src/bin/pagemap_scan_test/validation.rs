// SPDX-License-Identifier: GPL-2.0

//! Argument validation: every class of bad `pm_scan_arg` must fail on the
//! device with the errno the C ioctl gives, checked against both the C ioctl
//! and the expected errno, so a change on either side fails the test.

use nix::errno::Errno;
use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::mem::{Mapping, PAGE};
use pagemap_scan_selftests::scanner::{arg, kernel_abi, Reply, Scanner};
use pagemap_scan_selftests::tap::Outcome;
use pagemap_scan_selftests::uapi::*;

const PAGES: usize = 16;
const KERNEL_ADDR: u64 = 0xffff_8880_0000_0000;

/// Memory the cases point into.
struct Fixture {
    /// The scanned range: untouched, so a valid scan finds nothing present.
    mem: Mapping,
    /// The output vector.
    vec: Vec<PageRegion>,
    /// A readable page that is not writable.
    read_only: Mapping,
    /// A page followed by an unmapped one, for arguments that straddle them.
    edge: Mapping,
}

impl Fixture {
    fn new() -> Result<Fixture, String> {
        let read_only = Mapping::anon(1)?;
        read_only.touch(0);
        read_only.protect(libc::PROT_READ)?;
        let edge = Mapping::anon(2)?;
        // SAFETY: unmaps the second page of our own mapping; `Mapping::drop`'s
        // later munmap of the whole range tolerates the hole.
        Errno::result(unsafe { libc::munmap((edge.page(1)) as *mut libc::c_void, PAGE) })
            .map_err(|e| format!("munmap: {e}"))?;
        Ok(Fixture {
            mem: Mapping::anon(PAGES)?,
            vec: vec![PageRegion::default(); PAGES],
            read_only,
            edge,
        })
    }

    /// The valid base case: the whole of `mem`, any present page, into `vec`.
    fn base(&self) -> PmScanArg {
        let mut a = arg(
            self.mem.start(),
            self.mem.end(),
            PAGE_IS_PRESENT,
            PAGE_IS_PRESENT,
        );
        a.vec = self.vec.as_ptr() as u64;
        a.vec_len = self.vec.len() as u64;
        a
    }
}

/// Where the `pm_scan_arg` itself is placed.
#[derive(Clone, Copy)]
enum At {
    /// On the stack: readable and writable.
    Stack,
    /// NULL.
    Null,
    /// A kernel address.
    Kernel,
    /// A read-only page: read fine, `walk_end` cannot be written back.
    ReadOnly,
    /// The last bytes of a page whose next page is unmapped.
    Straddling,
}

struct Case {
    name: &'static str,
    edit: fn(&Fixture, &mut PmScanArg),
    at: At,
    want: Result<i64, Errno>,
}

fn call(s: &Scanner, fx: &Fixture, case: &Case) -> Result<Reply, String> {
    let mut a = fx.base();
    (case.edit)(fx, &mut a);
    let bytes = std::mem::size_of::<PmScanArg>();
    let p: *mut PmScanArg = match case.at {
        At::Stack => &mut a,
        At::Null => std::ptr::null_mut(),
        At::Kernel => KERNEL_ADDR as *mut PmScanArg,
        At::ReadOnly => {
            fx.read_only.protect(libc::PROT_READ | libc::PROT_WRITE)?;
            let p = fx.read_only.start() as *mut PmScanArg;
            // SAFETY: the page is ours and writable at this moment.
            unsafe { p.write(a) };
            fx.read_only.protect(libc::PROT_READ)?;
            p
        }
        At::Straddling => (fx.edge.page(1) - bytes as u64 / 2) as *mut PmScanArg,
    };
    // SAFETY: `p` is our argument, or bad on purpose: the kernel must refuse
    // it, which is what is tested, without writing anything of ours.
    let ret = unsafe { s.scan_at(p) };
    let walk_end = match case.at {
        // SAFETY: both still point to a readable `PmScanArg` of ours.
        At::Stack | At::ReadOnly => unsafe { p.read() }.walk_end,
        _ => 0,
    };
    let reply = Reply { ret, walk_end };
    Ok(reply)
}

fn cases() -> Vec<Case> {
    use Errno::{EFAULT, EINVAL};
    let c = |name, edit, want| Case {
        name,
        edit,
        at: At::Stack,
        want: Err(want),
    };
    let at = |name, at, want| Case {
        name,
        edit: |_, _| {},
        at,
        want: Err(want),
    };
    vec![
        c("size 0", |_, a| a.size = 0, EINVAL),
        c("size 88 (one field short)", |_, a| a.size = 88, EINVAL),
        c("size 104 (one field more)", |_, a| a.size = 104, EINVAL),
        c("size u64::MAX", |_, a| a.size = u64::MAX, EINVAL),
        c("unknown flag bit 2", |_, a| a.flags = 1 << 2, EINVAL),
        c(
            "unknown flag bit 63",
            |_, a| a.flags = PM_SCAN_WP_MATCHING | 1 << 63,
            EINVAL,
        ),
        c(
            "unknown category in category_inverted",
            |_, a| a.category_inverted = 1 << 10,
            EINVAL,
        ),
        c(
            "unknown category in category_mask",
            |_, a| a.category_mask = 1 << 11,
            EINVAL,
        ),
        c(
            "unknown category in category_anyof_mask",
            |_, a| a.category_anyof_mask = 1 << 31,
            EINVAL,
        ),
        c(
            "unknown category in return_mask",
            |_, a| a.return_mask = 1 << 63,
            EINVAL,
        ),
        c("unaligned start", |_, a| a.start += 1, EINVAL),
        c(
            "start one byte before a page",
            |_, a| a.start += PAGE as u64 - 1,
            EINVAL,
        ),
        c(
            "end below start",
            |_, a| a.end = a.start - PAGE as u64,
            EFAULT,
        ),
        c(
            "kernel-half start",
            |_, a| {
                a.start = KERNEL_ADDR;
                a.end = KERNEL_ADDR + PAGE as u64
            },
            EFAULT,
        ),
        c("kernel-half end", |_, a| a.end = KERNEL_ADDR, EFAULT),
        c("end u64::MAX", |_, a| a.end = u64::MAX, EFAULT),
        c(
            "end in the non-canonical hole",
            |_, a| a.end = 1 << 63,
            EFAULT,
        ),
        c("vec_len without vec", |_, a| a.vec = 0, EINVAL),
        c("kernel-half vec", |_, a| a.vec = KERNEL_ADDR, EFAULT),
        c(
            "vec_len overflowing the byte size",
            |_, a| a.vec_len = u64::MAX / 8,
            EFAULT,
        ),
        c(
            "vec_len reaching past user space",
            |_, a| a.vec_len = (1 << 62) / 24,
            EFAULT,
        ),
        c(
            "unaligned start wins over unknown-flag-free bad end",
            |_, a| {
                a.start += 8;
                a.end = u64::MAX
            },
            EINVAL,
        ),
        c(
            "bad size wins over everything",
            |_, a| {
                a.size = 1;
                a.flags = u64::MAX;
                a.start = 3
            },
            EINVAL,
        ),
        // Passes access_ok(); fails when the found region is copied out.
        c(
            "vec not writable",
            |fx, a| {
                a.vec = fx.read_only.start();
                a.vec_len = 1;
                a.category_mask = 0
            },
            EFAULT,
        ),
        c(
            "vec unmapped",
            |fx, a| {
                a.vec = fx.edge.page(1);
                a.vec_len = 1;
                a.category_mask = 0
            },
            EFAULT,
        ),
        at("argument at NULL", At::Null, EFAULT),
        at("argument at a kernel address", At::Kernel, EFAULT),
        at(
            "argument straddling an unmapped page",
            At::Straddling,
            EFAULT,
        ),
        at(
            "argument read-only (walk_end not writable)",
            At::ReadOnly,
            EFAULT,
        ),
    ]
}

/// Runs `cases`, comparing device and proc with each other and with `want`.
fn run_cases(cases: &[Case], check_walk_end: bool) -> Outcome {
    let fx = Fixture::new()?;
    let (dev, proc) = Scanner::pair()?;
    let mut bad = Vec::new();
    for case in cases {
        let d = call(&dev, &fx, case)?;
        let p = call(&proc, &fx, case)?;
        let same = if check_walk_end {
            d == p
        } else {
            d.ret == p.ret
        };
        if !same || p.ret != case.want {
            bad.push(format!(
                "{}: device {:?}, proc {:?}, expected {:?}",
                case.name, d, p, case.want
            ));
        }
    }
    ensure!(
        bad.is_empty(),
        "{} of {} cases differ:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
    Ok(())
}

pub fn invalid_args() -> Outcome {
    let cases = cases();
    ensure!(cases.len() >= 20, "only {} cases", cases.len());
    // walk_end is not written on these errors; the read-only case reads it back.
    run_cases(&cases, true)
}

pub fn valid_args() -> Outcome {
    let ok = |name, edit| Case {
        name,
        edit,
        at: At::Stack,
        want: Ok(0),
    };
    let found = |name, edit, n| Case {
        name,
        edit,
        at: At::Stack,
        want: Ok(n),
    };
    run_cases(
        &[
            ok("the base case", |_, _| {}),
            ok("no vector", |_, a| {
                a.vec = 0;
                a.vec_len = 0
            }),
            ok("vector of length 0", |_, a| a.vec_len = 0),
            ok("unaligned vector", |_, a| a.vec += 1),
            ok("empty range", |_, a| a.end = a.start),
            ok("unaligned end is rounded up", |_, a| {
                a.end -= PAGE as u64 + 5
            }),
            ok("max_pages 0 means no limit", |_, a| a.max_pages = 0),
            ok("WP_MATCHING over an empty range", |fx, a| {
                a.flags = PM_SCAN_WP_MATCHING;
                a.end = fx.mem.start()
            }),
            // Untouched pages are neither present nor swapped: one region.
            found(
                "all categories inverted",
                |_, a| {
                    a.category_inverted = kernel_abi().categories;
                    a.category_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED
                },
                1,
            ),
            ok("a range of unmapped memory", |_, a| {
                a.start = 0x1000;
                a.end = 0x10_0000
            }),
        ],
        true,
    )
}

pub fn walk_end_writeback() -> Outcome {
    let fx = Fixture::new()?;
    let (dev, proc) = Scanner::pair()?;
    for (end, want) in [
        (fx.mem.end(), fx.mem.end()),
        (fx.mem.end() - 1, fx.mem.end()),
        (fx.mem.start() + 1, fx.mem.start() + PAGE as u64),
    ] {
        for s in [&dev, &proc] {
            let mut a = fx.base();
            a.end = end;
            a.walk_end = 0xdead_beef;
            let r = s.scan(&mut a);
            ensure!(
                r.ret == Ok(0) && r.walk_end == want,
                "{}: end {end:#x}: got {r:?}, want walk_end {want:#x}",
                s.name
            );
        }
    }
    Ok(())
}
