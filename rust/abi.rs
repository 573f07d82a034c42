// SPDX-License-Identifier: GPL-2.0

//! Where the C `PAGEMAP_SCAN` of one kernel differs from another's: data,
//! chosen once for the kernel the module is built for (`scan.rs`), read by
//! validation, the walk and the features reply.
//!
//! Pure: host-tested for both kernels.

use crate::uapi::{PAGE_IS_ACCESSED, PAGE_IS_WRITTEN, PM_SCAN_CATEGORIES, PM_SCAN_CATEGORIES_6_12};

/// The observable rules of one kernel's C ioctl that the module follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelAbi {
    /// The `PAGE_IS_*` bits its validation accepts (`PM_SCAN_CATEGORIES`).
    pub categories: u64,
    /// An entry without the uffd bit is `PAGE_IS_WRITTEN` in every VMA
    /// (6.12), not only in one registered for uffd-wp (7.3).
    pub written_in_any_vma: bool,
}

/// Linux 6.12.
pub const V6_12: KernelAbi = KernelAbi {
    categories: PM_SCAN_CATEGORIES_6_12,
    written_in_any_vma: true,
};

/// Linux 7.3: adds `PAGE_IS_GUARD` and `PAGE_IS_ACCESSED` (read-write
/// protection, which shares the entry's uffd bit with write protection).
pub const V7_3: KernelAbi = KernelAbi {
    categories: PM_SCAN_CATEGORIES,
    written_in_any_vma: false,
};

impl KernelAbi {
    /// The categories a present or swap entry of a VMA takes when it does
    /// not carry the uffd bit: what the bit's absence means there.
    pub fn unprotected(&self, vma_uffd_wp: bool, vma_uffd_rwp: bool) -> u64 {
        let written = self.written_in_any_vma || vma_uffd_wp;
        (if written { PAGE_IS_WRITTEN } else { 0 })
            | (if vma_uffd_rwp && self.categories & PAGE_IS_ACCESSED != 0 {
                PAGE_IS_ACCESSED
            } else {
                0
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_missing_uffd_bit_means() {
        for rwp in [false, true] {
            // 6.12 knows no read-write protection.
            assert_eq!(V6_12.unprotected(false, rwp), PAGE_IS_WRITTEN);
            assert_eq!(V6_12.unprotected(true, rwp), PAGE_IS_WRITTEN);
        }
        assert_eq!(V7_3.unprotected(false, false), 0);
        assert_eq!(V7_3.unprotected(true, false), PAGE_IS_WRITTEN);
        assert_eq!(V7_3.unprotected(false, true), PAGE_IS_ACCESSED);
    }

    #[test]
    fn categories() {
        assert_eq!(V6_12.categories, 0xff);
        assert_eq!(V7_3.categories, 0x3ff);
    }
}
