// SPDX-License-Identifier: GPL-2.0

//! The `PAGEMAP_SCAN` ABI, bit for bit the one of `include/uapi/linux/fs.h`.
//!
//! Pure: no kernel dependency, so the host unit tests and the selftests use the
//! same definitions as the module. The module checks these layouts against the
//! kernel's own bindgen output at compile time (see `abi_check` in the crate root).

/// The argument of the `PAGEMAP_SCAN` ioctl (`struct pm_scan_arg`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PmScanArg {
    /// `size_of::<PmScanArg>()`; any other value is `-EINVAL`.
    pub size: u64,
    /// `PM_SCAN_*` flags.
    pub flags: u64,
    /// First address of the scan, page aligned.
    pub start: u64,
    /// End of the scan (exclusive), rounded up to a page.
    pub end: u64,
    /// Written back: where the walk stopped.
    pub walk_end: u64,
    /// User address of a `PageRegion` array.
    pub vec: u64,
    /// Length of `vec` in regions.
    pub vec_len: u64,
    /// Most pages to report; 0 means no limit.
    pub max_pages: u64,
    /// Categories whose sense is inverted before matching.
    pub category_inverted: u64,
    /// Categories that must all be set.
    pub category_mask: u64,
    /// Categories of which at least one must be set (0: no condition).
    pub category_anyof_mask: u64,
    /// Categories reported in `PageRegion::categories`.
    pub return_mask: u64,
}

/// One output region (`struct page_region`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageRegion {
    /// First address of the region.
    pub start: u64,
    /// End of the region (exclusive).
    pub end: u64,
    /// The region's categories, masked by `return_mask`.
    pub categories: u64,
}

/// The page is in a VMA with userfaultfd wp-async and markers.
pub const PAGE_IS_WPALLOWED: u64 = 1 << 0;
/// The page is not write-protected by userfaultfd (7.3: in a uffd-wp VMA).
pub const PAGE_IS_WRITTEN: u64 = 1 << 1;
/// The page is file or shmem backed.
pub const PAGE_IS_FILE: u64 = 1 << 2;
/// The page is present.
pub const PAGE_IS_PRESENT: u64 = 1 << 3;
/// The page is swapped out (or a swap-like entry).
pub const PAGE_IS_SWAPPED: u64 = 1 << 4;
/// The page maps the zero pfn.
pub const PAGE_IS_PFNZERO: u64 = 1 << 5;
/// The page is part of a THP or hugetlb mapping.
pub const PAGE_IS_HUGE: u64 = 1 << 6;
/// The page is soft-dirty.
pub const PAGE_IS_SOFT_DIRTY: u64 = 1 << 7;
/// The page is in a guard region (`MADV_GUARD_INSTALL`); Linux 7.3.
pub const PAGE_IS_GUARD: u64 = 1 << 8;
/// The page is not read-write-protected by userfaultfd, in a VMA registered
/// for it (`UFFDIO_REGISTER_MODE_RWP`); Linux 7.3.
pub const PAGE_IS_ACCESSED: u64 = 1 << 9;
/// Every category bit of the 6.12 ABI.
pub const PM_SCAN_CATEGORIES_6_12: u64 = PAGE_IS_WPALLOWED
    | PAGE_IS_WRITTEN
    | PAGE_IS_FILE
    | PAGE_IS_PRESENT
    | PAGE_IS_SWAPPED
    | PAGE_IS_PFNZERO
    | PAGE_IS_HUGE
    | PAGE_IS_SOFT_DIRTY;
/// Every category bit (of the 7.3 ABI, which this header carries).
pub const PM_SCAN_CATEGORIES: u64 = PM_SCAN_CATEGORIES_6_12 | PAGE_IS_GUARD | PAGE_IS_ACCESSED;

/// Write-protect the pages that are reported.
pub const PM_SCAN_WP_MATCHING: u64 = 1 << 0;
/// Fail with `-EPERM` on a VMA without userfaultfd wp-async.
pub const PM_SCAN_CHECK_WPASYNC: u64 = 1 << 1;
/// Every flag bit.
pub const PM_SCAN_FLAGS: u64 = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;

/// `_IOWR('f', 16, struct pm_scan_arg)`: the upstream ioctl number.
pub const PAGEMAP_SCAN: u32 = iowr(b'f' as u32, 16, core::mem::size_of::<PmScanArg>());

/// `struct pms_features`: what the module supports (`PMS_IOC_GET_FEATURES`).
///
/// Versioned by size: the caller sets `size` to its struct's size (at least
/// [`PMS_FEATURES_SIZE_VER0`]); the module fills `min(size, its size)` bytes,
/// zeroes the rest of the caller's struct and writes the filled size back.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PmsFeatures {
    /// In: the caller's struct size. Out: the bytes the module filled.
    pub size: u64,
    /// `PAGE_IS_*` categories the module reports and matches.
    pub categories: u64,
    /// `PM_SCAN_*` flags the module accepts.
    pub flags: u64,
    /// `PMS_FEATURE_*` extra ioctls the module implements.
    pub ioctls: u64,
}

/// The size of the first version of [`PmsFeatures`].
pub const PMS_FEATURES_SIZE_VER0: u64 = 32;

/// [`PMS_IOC_GET_FEATURES`] is implemented.
pub const PMS_FEATURE_GET_FEATURES: u64 = 1 << 0;
/// [`PMS_IOC_ATTACH_PIDFD`] is implemented.
pub const PMS_FEATURE_ATTACH_PIDFD: u64 = 1 << 1;
/// [`PMS_IOC_ATTACH_PIDFD`] returns a new fd bound to the target and leaves
/// the fd it is called on as it was. Without it (older modules), attach
/// returns 0 and rebinds the fd it is called on, shared by all its copies.
pub const PMS_FEATURE_ATTACH_NEW_FD: u64 = 1 << 2;

/// The type byte of the device's own ioctls.
pub const PMS_IOCTL_MAGIC: u32 = 0xb8;
/// `_IOWR(0xB8, 0x40, struct pms_features)`: fills a [`PmsFeatures`].
pub const PMS_IOC_GET_FEATURES: u32 = ioc(
    IOC_READ | IOC_WRITE,
    PMS_IOCTL_MAGIC,
    0x40,
    core::mem::size_of::<PmsFeatures>(),
);
/// `_IO(0xB8, 0x41)`: a new fd bound to the mm of the pidfd given as the argument.
pub const PMS_IOC_ATTACH_PIDFD: u32 = ioc(0, PMS_IOCTL_MAGIC, 0x41, 0);

const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `_IOWR` of `asm-generic/ioctl.h`.
const fn iowr(ty: u32, nr: u32, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, ty, nr, size)
}

/// `_IOC` of `asm-generic/ioctl.h`: direction, size, type, number.
const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | (ty << 8) | nr
}

const _: () = assert!(core::mem::size_of::<PmScanArg>() == 96);
const _: () = assert!(core::mem::size_of::<PageRegion>() == 24);
const _: () = assert!(core::mem::size_of::<PmsFeatures>() as u64 == PMS_FEATURES_SIZE_VER0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_number_is_upstreams() {
        // The value userspace sees for PAGEMAP_SCAN on x86_64.
        assert_eq!(PAGEMAP_SCAN, 0xc060_6610);
    }

    #[test]
    fn device_ioctl_numbers() {
        // What the C macros of include/uapi/linux/pagemap_scan.h give on x86_64.
        assert_eq!(PMS_IOC_GET_FEATURES, 0xc020_b840);
        assert_eq!(PMS_IOC_ATTACH_PIDFD, 0x0000_b841);
    }

    #[test]
    fn categories_are_the_low_bits() {
        assert_eq!(PM_SCAN_CATEGORIES_6_12, 0xff);
        assert_eq!(PM_SCAN_CATEGORIES, 0x3ff);
    }
}
