// SPDX-License-Identifier: GPL-2.0

//! Validation of a user's `pm_scan_arg`, in the order and with the errors of
//! the C `pagemap_scan_get_args()`, so both ioctls fail the same way.
//!
//! Pure: the two address-space questions (tag stripping and `access_ok`) are
//! asked through [`UserSpace`], answered by the kernel in the module and by a
//! model of x86-64 in the host tests.

use crate::abi::KernelAbi;
use crate::category::Matcher;
use crate::uapi::{PageRegion, PmScanArg, PM_SCAN_FLAGS};

/// The kernel's page size (checked against the kernel's at compile time).
pub const PAGE_SIZE: u64 = 4096;

/// What validation needs to know of the caller's address space.
pub trait UserSpace {
    /// The address with any tag bits removed (`untagged_addr`).
    fn untag(&self, addr: u64) -> u64;
    /// Whether `[addr, addr + size)` is a user range (`access_ok`).
    fn access_ok(&self, addr: u64, size: u64) -> bool;
}

/// Why an argument was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgError {
    /// `-EINVAL`: malformed request.
    Invalid,
    /// `-EFAULT`: a range that is not user memory.
    Fault,
}

/// A validated scan request.
///
/// # Invariants
///
/// `start` is page aligned, `end` is page aligned, `flags` and every mask hold
/// only known bits, `vec_len == 0` when `vec == 0`, and `max_pages != 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanRequest {
    /// `PM_SCAN_*` flags.
    pub flags: u64,
    /// First address to scan.
    pub start: u64,
    /// End of the scan (exclusive). May be below `start`: then nothing is walked.
    pub end: u64,
    /// User address of the output vector (0: none).
    pub vec: u64,
    /// Length of the output vector in regions.
    pub vec_len: u64,
    /// Most pages to report.
    pub max_pages: u64,
    /// Which pages match (`category_inverted`, `category_mask`,
    /// `category_anyof_mask`).
    pub matcher: Matcher,
    /// Categories reported.
    pub return_mask: u64,
}

/// Checks `arg` as `pagemap_scan_get_args()` of the kernel `abi` does and
/// applies its defaults.
pub fn validate(
    arg: &PmScanArg,
    space: &impl UserSpace,
    abi: &KernelAbi,
) -> Result<ScanRequest, ArgError> {
    if arg.size != core::mem::size_of::<PmScanArg>() as u64 {
        return Err(ArgError::Invalid);
    }
    if arg.flags & !PM_SCAN_FLAGS != 0 {
        return Err(ArgError::Invalid);
    }
    let masks =
        arg.category_inverted | arg.category_mask | arg.category_anyof_mask | arg.return_mask;
    if masks & !abi.categories != 0 {
        return Err(ArgError::Invalid);
    }

    let start = space.untag(arg.start);
    let end = space.untag(arg.end);
    let vec = space.untag(arg.vec);

    if start & (PAGE_SIZE - 1) != 0 {
        return Err(ArgError::Invalid);
    }
    // C passes `end - start` unchecked: an `end` below `start` wraps to a huge
    // size that `access_ok` refuses.
    if !space.access_ok(start, end.wrapping_sub(start)) {
        return Err(ArgError::Fault);
    }
    if vec == 0 && arg.vec_len != 0 {
        return Err(ArgError::Invalid);
    }
    let region_size = core::mem::size_of::<PageRegion>() as u64;
    // C's `size_mul()` saturates, so an overflowing length is refused by `access_ok`.
    if vec != 0 && !space.access_ok(vec, arg.vec_len.saturating_mul(region_size)) {
        return Err(ArgError::Fault);
    }

    // INVARIANT: checked above; `end` is rounded up and `max_pages` defaulted here.
    Ok(ScanRequest {
        flags: arg.flags,
        start,
        end: end.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1),
        vec,
        vec_len: arg.vec_len,
        max_pages: if arg.max_pages == 0 {
            u64::MAX
        } else {
            arg.max_pages
        },
        matcher: Matcher {
            inverted: arg.category_inverted,
            required: arg.category_mask,
            anyof: arg.category_anyof_mask,
        },
        return_mask: arg.return_mask,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{V6_12, V7_3};
    use crate::uapi::*;

    /// x86-64 with 4-level paging and no LAM: `access_ok` of 6.12.
    struct X86_64;

    const USER_PTR_MAX: u64 = (1 << 47) - PAGE_SIZE - 1;

    impl UserSpace for X86_64 {
        fn untag(&self, addr: u64) -> u64 {
            addr
        }
        fn access_ok(&self, addr: u64, size: u64) -> bool {
            let sum = addr.wrapping_add(size);
            sum <= USER_PTR_MAX && sum >= addr
        }
    }

    fn good() -> PmScanArg {
        PmScanArg {
            size: 96,
            start: 0x10_0000,
            end: 0x20_0000,
            vec: 0x30_0000,
            vec_len: 16,
            return_mask: PAGE_IS_PRESENT,
            ..Default::default()
        }
    }

    fn check(f: impl FnOnce(&mut PmScanArg)) -> Result<ScanRequest, ArgError> {
        let mut arg = good();
        f(&mut arg);
        validate(&arg, &X86_64, &V7_3)
    }

    #[test]
    fn categories_are_the_kernels() {
        for bit in [PAGE_IS_GUARD, PAGE_IS_ACCESSED] {
            let mut arg = good();
            arg.category_anyof_mask = bit;
            assert!(validate(&arg, &X86_64, &V7_3).is_ok());
            assert_eq!(
                validate(&arg, &X86_64, &V6_12).err(),
                Some(ArgError::Invalid)
            );
        }
        let mut arg = good();
        arg.return_mask = 1 << 10;
        assert_eq!(
            validate(&arg, &X86_64, &V7_3).err(),
            Some(ArgError::Invalid)
        );
    }

    #[test]
    fn accepts_and_defaults() {
        let req = check(|a| a.end = 0x20_0001).unwrap();
        assert_eq!(req.end, 0x20_1000);
        assert_eq!(req.max_pages, u64::MAX);
        assert_eq!(check(|a| a.max_pages = 7).unwrap().max_pages, 7);
        // No vector at all is fine (a count-only or WP-only call).
        assert!(check(|a| {
            a.vec = 0;
            a.vec_len = 0
        })
        .is_ok());
        // A vector with length 0 is not checked further.
        assert!(check(|a| a.vec_len = 0).is_ok());
    }

    #[test]
    fn refuses_like_c() {
        use ArgError::*;
        type Case = (&'static str, fn(&mut PmScanArg), ArgError);
        let cases: &[Case] = &[
            ("size 0", |a| a.size = 0, Invalid),
            ("size 95", |a| a.size = 95, Invalid),
            ("size 97", |a| a.size = 97, Invalid),
            ("flag bit 2", |a| a.flags = 1 << 2, Invalid),
            ("flag bit 63", |a| a.flags = 1 << 63, Invalid),
            (
                "inverted bit 10",
                |a| a.category_inverted = 1 << 10,
                Invalid,
            ),
            ("mask bit 11", |a| a.category_mask = 1 << 11, Invalid),
            ("anyof bit 12", |a| a.category_anyof_mask = 1 << 12, Invalid),
            ("return bit 63", |a| a.return_mask = 1 << 63, Invalid),
            ("unaligned start", |a| a.start += 1, Invalid),
            ("end below start", |a| a.end = a.start - PAGE_SIZE, Fault),
            ("kernel start", |a| a.start = 0xffff_8000_0000_0000, Fault),
            ("kernel end", |a| a.end = 0xffff_8000_0000_0000, Fault),
            ("end past user", |a| a.end = USER_PTR_MAX + 2, Fault),
            ("vec_len without vec", |a| a.vec = 0, Invalid),
            ("kernel vec", |a| a.vec = 0xffff_8000_0000_0000, Fault),
            ("overflowing vec_len", |a| a.vec_len = u64::MAX / 2, Fault),
            ("vec_len past user", |a| a.vec_len = 1 << 47, Fault),
        ];
        for (name, f, want) in cases {
            assert_eq!(check(f), Err(*want), "{name}");
        }
    }

    #[test]
    fn first_failing_check_wins() {
        // Unknown flags are reported before a bad address.
        assert_eq!(
            check(|a| {
                a.flags = 4;
                a.start = 1
            }),
            Err(ArgError::Invalid)
        );
        // An unaligned start is reported before a kernel end.
        assert_eq!(
            check(|a| {
                a.start += 1;
                a.end = u64::MAX
            }),
            Err(ArgError::Invalid)
        );
        // A bad scan range is reported before vec_len without vec.
        assert_eq!(
            check(|a| {
                a.end = u64::MAX;
                a.vec = 0
            }),
            Err(ArgError::Fault)
        );
    }

    #[test]
    fn end_rounding_wraps_like_c() {
        // ALIGN() of the last user page boundary stays in range...
        let req = check(|a| a.end = USER_PTR_MAX - 100).unwrap();
        assert_eq!(req.end % PAGE_SIZE, 0);
        assert!(req.end > USER_PTR_MAX - 100);
    }
}
