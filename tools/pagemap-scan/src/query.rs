// SPDX-License-Identifier: GPL-2.0

//! [`Query`]: a builder of `struct pm_scan_arg` masks and flags.

use crate::uapi::{PmScanArg, PM_SCAN_CHECK_WPASYNC, PM_SCAN_WP_MATCHING};
use crate::Categories;
use core::ops::Range;

/// What to scan and what to report: a builder of a [`PmScanArg`].
///
/// A page matches when, after the categories in `inverted` are flipped,
/// it has every category of `required` and, if `any_of` is not empty, at
/// least one of `any_of`. Matching pages are reported as regions carrying
/// their categories masked by `reported` (all categories by default, unlike
/// the C ioctl's zero `return_mask`); adjacent pages with equal reported
/// categories form one region.
///
/// ```
/// use pagemap_scan::{Categories, Query};
/// use pagemap_scan::uapi::*;
///
/// // CRIU's pre-dump: present or swapped pages that are neither the zero
/// // page nor file-backed.
/// let q = Query::new(0x10000..0x20000)
///     .any_of(Categories::PRESENT | Categories::SWAPPED)
///     .exclude(Categories::PFNZERO | Categories::FILE)
///     .report(Categories::PRESENT | Categories::SWAPPED | Categories::SOFT_DIRTY);
/// let arg = q.arg_for(Categories::ALL);
/// assert_eq!(arg.size, 96);
/// assert_eq!((arg.start, arg.end), (0x10000, 0x20000));
/// assert_eq!(arg.category_inverted, PAGE_IS_PFNZERO | PAGE_IS_FILE);
/// assert_eq!(arg.category_mask, PAGE_IS_PFNZERO | PAGE_IS_FILE);
/// assert_eq!(arg.category_anyof_mask, PAGE_IS_PRESENT | PAGE_IS_SWAPPED);
/// assert_eq!(arg.return_mask, PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_SOFT_DIRTY);
/// assert_eq!((arg.flags, arg.max_pages, arg.vec, arg.vec_len), (0, 0, 0, 0));
///
/// // Wine's GetWriteWatch: written pages, write-protected again as they are
/// // reported, at most 64 of them.
/// let q = Query::new(0x10000..0x20000)
///     .require(Categories::WRITTEN)
///     .report(Categories::WRITTEN)
///     .max_pages(64)
///     .write_protect();
/// assert_eq!(q.arg_for(Categories::ALL).flags, PM_SCAN_WP_MATCHING);
/// assert_eq!(q.arg_for(Categories::ALL).max_pages, 64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    start: u64,
    end: u64,
    flags: u64,
    max_pages: u64,
    inverted: Categories,
    required: Categories,
    any_of: Categories,
    /// `None`: every category the scanner knows.
    reported: Option<Categories>,
}

impl Query {
    /// Every page of `range` (`start` must be page aligned; `end` is rounded
    /// up to a page by the kernel), reporting every category the scanner
    /// knows (those of the kernel it runs on).
    pub fn new(range: Range<u64>) -> Query {
        Query {
            start: range.start,
            end: range.end,
            flags: 0,
            max_pages: 0,
            inverted: Categories::EMPTY,
            required: Categories::EMPTY,
            any_of: Categories::EMPTY,
            reported: None,
        }
    }

    /// Pages must have all of `categories` (added to `category_mask`).
    pub fn require(mut self, categories: Categories) -> Query {
        self.required |= categories;
        self
    }

    /// Pages must have at least one of `categories` (added to
    /// `category_anyof_mask`).
    pub fn any_of(mut self, categories: Categories) -> Query {
        self.any_of |= categories;
        self
    }

    /// Pages must have none of `categories`: they are added to both
    /// `category_inverted` and `category_mask`. (The inversion applies to
    /// [`Query::any_of`] too: do not name a category in both.)
    pub fn exclude(mut self, categories: Categories) -> Query {
        self.inverted |= categories;
        self.required |= categories;
        self
    }

    /// Flips the sense of `categories` before matching (added to
    /// `category_inverted`), for both the required and the any-of mask.
    pub fn inverted(mut self, categories: Categories) -> Query {
        self.inverted |= categories;
        self
    }

    /// Reports exactly `categories` in each region (`return_mask`).
    pub fn report(mut self, categories: Categories) -> Query {
        self.reported = Some(categories);
        self
    }

    /// Reports at most `pages` pages in all (0: no limit); the last region
    /// is cut to fit.
    pub fn max_pages(mut self, pages: u64) -> Query {
        self.max_pages = pages;
        self
    }

    /// `PM_SCAN_WP_MATCHING`: write-protects (userfaultfd wp-async) the
    /// reported pages that are written, in the same walk. VMAs without
    /// wp-async are skipped.
    pub fn write_protect(mut self) -> Query {
        self.flags |= PM_SCAN_WP_MATCHING;
        self
    }

    /// `PM_SCAN_CHECK_WPASYNC`: fails with `EPERM` on a VMA without
    /// userfaultfd wp-async.
    pub fn check_wpasync(mut self) -> Query {
        self.flags |= PM_SCAN_CHECK_WPASYNC;
        self
    }

    /// The same query over another range.
    pub fn with_range(mut self, range: Range<u64>) -> Query {
        self.start = range.start;
        self.end = range.end;
        self
    }

    /// The scanned range.
    pub fn range(&self) -> Range<u64> {
        self.start..self.end
    }

    /// The page limit (0: none).
    pub fn page_limit(&self) -> u64 {
        self.max_pages
    }

    /// The `PM_SCAN_*` flags.
    pub fn flags(&self) -> u64 {
        self.flags
    }

    /// The categories reported in regions: `None` for every category the
    /// scanner knows.
    pub fn reported(&self) -> Option<Categories> {
        self.reported
    }

    /// The argument of one call to a scanner that knows the categories
    /// `known` ([`crate::Scanner::categories`]), without an output vector
    /// (`vec` and `vec_len` 0; the scanner sets them).
    pub fn arg_for(&self, known: Categories) -> PmScanArg {
        PmScanArg {
            size: core::mem::size_of::<PmScanArg>() as u64,
            flags: self.flags,
            start: self.start,
            end: self.end,
            walk_end: 0,
            vec: 0,
            vec_len: 0,
            max_pages: self.max_pages,
            category_inverted: self.inverted.bits(),
            category_mask: self.required.bits(),
            category_anyof_mask: self.any_of.bits(),
            return_mask: self.reported.unwrap_or(known).bits(),
        }
    }
}

impl From<Query> for PmScanArg {
    fn from(q: Query) -> PmScanArg {
        q.arg_for(Categories::ALL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uapi::*;

    #[test]
    fn default_reports_everything_and_matches_every_page() {
        let a = Query::new(0x1000..0x3000).arg_for(Categories::ALL);
        assert_eq!(
            a,
            PmScanArg {
                size: 96,
                start: 0x1000,
                end: 0x3000,
                return_mask: PM_SCAN_CATEGORIES,
                ..Default::default()
            }
        );
    }

    #[test]
    fn masks_accumulate() {
        let q = Query::new(0..0x1000)
            .require(Categories::PRESENT)
            .require(Categories::WRITTEN)
            .any_of(Categories::FILE)
            .any_of(Categories::HUGE)
            .inverted(Categories::SWAPPED)
            .exclude(Categories::PFNZERO)
            .report(Categories::HUGE)
            .report(Categories::PRESENT)
            .check_wpasync()
            .write_protect()
            .max_pages(7);
        let a = q.arg_for(Categories::ALL);
        assert_eq!(
            a.category_mask,
            PAGE_IS_PRESENT | PAGE_IS_WRITTEN | PAGE_IS_PFNZERO
        );
        assert_eq!(a.category_anyof_mask, PAGE_IS_FILE | PAGE_IS_HUGE);
        assert_eq!(a.category_inverted, PAGE_IS_SWAPPED | PAGE_IS_PFNZERO);
        assert_eq!(a.return_mask, PAGE_IS_PRESENT);
        assert_eq!(a.flags, PM_SCAN_FLAGS);
        assert_eq!(a.max_pages, 7);
        assert_eq!(q.page_limit(), 7);
        assert_eq!(q.reported(), Some(Categories::PRESENT));
        assert_eq!(PmScanArg::from(q), a);
    }

    #[test]
    fn with_range_keeps_the_masks() {
        let q = Query::new(0..0x1000).require(Categories::FILE);
        let r = q.with_range(0x5000..0x9000);
        assert_eq!(r.range(), 0x5000..0x9000);
        assert_eq!(r.arg_for(Categories::ALL).category_mask, PAGE_IS_FILE);
        assert_eq!(q.range(), 0..0x1000);
    }
}
