// SPDX-License-Identifier: GPL-2.0

//! [`Regions`]: the regions of a [`Query`], from as many `PAGEMAP_SCAN`
//! calls as a vector of the chosen size needs.
//!
//! Pure over [`RawScan`] (one call), so the refill and merge rules are
//! tested on the host against a fake with the C semantics.
//!
//! How a call ends, in C (`do_pagemap_scan()`): a call stops early only when
//! the vector is full (the next matching page could not be stored: it does
//! not continue the last region) or when `max_pages` pages were found; then
//! `walk_end` is where to resume. Otherwise it walked the whole range, but
//! `walk_end` may still lie before its end (a call of more than 512 regions
//! keeps the stopping point of a chunk; with `PM_SCAN_WP_MATCHING` a hugetlb
//! page that could not be protected whole leaves `walk_end` at that page and
//! the walk goes on). So:
//!
//! - fewer regions than the vector holds, and page budget left: the range is
//!   done, whatever `walk_end` says (re-scanning from a stale `walk_end`
//!   would report regions twice);
//! - a full vector: the next call starts at the later of `walk_end` and the
//!   end of the last region, with the pages already returned taken off
//!   `max_pages`, as the same walk would go on with one larger vector;
//! - a region that continues the last one of the previous call with the same
//!   categories is merged with it.

use crate::uapi::{PageRegion, PmScanArg};
use crate::{page_size, Categories, Error, Query};
use core::ops::Range;

/// The vector length [`crate::Scanner::regions`] uses: 256 regions.
pub const DEFAULT_VEC_LEN: usize = 256;

/// One `PAGEMAP_SCAN` call: what [`Regions`] needs of a scanner.
///
/// [`crate::Scanner`] implements it with the ioctl; a test double can
/// implement it with a model of the kernel.
pub trait RawScan {
    /// Issues `PAGEMAP_SCAN` with `arg`, its `vec` and `vec_len` set to
    /// `vec` (0 and 0 when `vec` is empty): the number of regions written to
    /// `vec`; `arg.walk_end` is written back.
    fn scan_into(&self, arg: &mut PmScanArg, vec: &mut [PageRegion]) -> Result<usize, Error>;

    /// The categories the scanner's `PAGEMAP_SCAN` knows (that of the
    /// kernel it runs on): what a query reports by default.
    fn categories(&self) -> Result<Categories, Error>;
}

impl<T: RawScan + ?Sized> RawScan for &T {
    fn scan_into(&self, arg: &mut PmScanArg, vec: &mut [PageRegion]) -> Result<usize, Error> {
        (**self).scan_into(arg, vec)
    }

    fn categories(&self) -> Result<Categories, Error> {
        (**self).categories()
    }
}

/// A region of matching pages with equal reported categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    /// First address.
    pub start: u64,
    /// End address (exclusive).
    pub end: u64,
    /// The categories, masked by the query's reported categories.
    pub categories: Categories,
}

impl Region {
    /// The addresses of the region.
    pub fn range(&self) -> Range<u64> {
        self.start..self.end
    }

    /// The number of pages.
    pub fn pages(&self) -> u64 {
        (self.end - self.start) / page_size()
    }
}

impl From<PageRegion> for Region {
    fn from(r: PageRegion) -> Region {
        Region {
            start: r.start,
            end: r.end,
            categories: Categories::from_bits_truncate(r.categories),
        }
    }
}

/// An iterator over the regions of a [`Query`]: the regions one call with
/// an unbounded vector returns, read with a vector of a given size that is
/// refilled by calls from where the previous one stopped.
///
/// The query's `max_pages` is a budget over all calls. An error ends the
/// iteration, after the regions read before it.
///
/// ```no_run
/// use pagemap_scan::{Categories, Query, Scanner};
///
/// let scanner = Scanner::open()?;
/// let q = Query::new(0x7f00_0000_0000..0x7f00_4000_0000)
///     .require(Categories::PRESENT)
///     .max_pages(1000);
/// let mut regions = scanner.regions_with_vec(&q, 16);
/// for r in regions.by_ref() {
///     println!("{:?}", r?);
/// }
/// println!("{} calls; resume at {:?}", regions.calls(), regions.resume_at());
/// # Ok::<(), pagemap_scan::Error>(())
/// ```
pub struct Regions<S> {
    scanner: S,
    /// The next call's argument; `start` is where it begins.
    arg: PmScanArg,
    /// The end of the range as the kernel takes it (rounded up to a page).
    end: u64,
    vec: Vec<PageRegion>,
    /// `vec[next..len]` is still to be yielded (the last one is held back).
    next: usize,
    len: usize,
    /// The last region of the previous call: the next may continue it.
    held: Option<Region>,
    /// A held region that the next call did not continue.
    ready: Option<Region>,
    /// Pages still to report, when the query has a limit.
    budget: Option<u64>,
    /// No more calls.
    done: bool,
    error: Option<Error>,
    calls: usize,
    /// Where the iteration stopped early, if it did.
    resume: Option<u64>,
}

impl<S: RawScan> Regions<S> {
    /// The regions of `query` through `scanner`, with a vector of `vec_len`
    /// regions (at least 1) per call. Nothing is called before the first
    /// [`Iterator::next`].
    pub fn new(scanner: S, query: &Query, vec_len: usize) -> Regions<S> {
        // A scanner that cannot say falls back to every category; its first
        // call then fails as the kernel sees fit.
        let arg = query.arg_for(scanner.categories().unwrap_or(Categories::ALL));
        let page = page_size();
        Regions {
            scanner,
            arg,
            end: arg.end.checked_next_multiple_of(page).unwrap_or(arg.end),
            vec: vec![PageRegion::default(); vec_len.max(1)],
            next: 0,
            len: 0,
            held: None,
            ready: None,
            budget: (arg.max_pages != 0).then_some(arg.max_pages),
            done: false,
            error: None,
            calls: 0,
            resume: None,
        }
    }

    /// The number of `PAGEMAP_SCAN` calls made so far.
    pub fn calls(&self) -> usize {
        self.calls
    }

    /// Once the iteration is over: where a new query must start to see the
    /// rest of the range, when the page limit stopped it (`None` when the
    /// whole range was scanned, or after an error).
    pub fn resume_at(&self) -> Option<u64> {
        self.resume
    }

    /// One call from `arg.start`; sets what is to be yielded and whether
    /// another call is needed.
    fn fill(&mut self) {
        let start = self.arg.start;
        self.arg.max_pages = self.budget.unwrap_or(0);
        self.arg.walk_end = 0;
        self.calls += 1;
        let n = match self.scanner.scan_into(&mut self.arg, &mut self.vec) {
            Ok(n) => n.min(self.vec.len()),
            Err(e) => {
                self.error = Some(e);
                self.done = true;
                return;
            }
        };
        let got = &mut self.vec[..n];
        let page = page_size();
        let pages: u64 = got.iter().map(|r| (r.end - r.start) / page).sum();
        if let Some(budget) = &mut self.budget {
            *budget = budget.saturating_sub(pages);
        }
        let last_end = got.last().map_or(start, |r| r.end);
        if let Some(first) = got.first_mut() {
            if let Some(held) = self.held.take() {
                if held.end == first.start && held.categories.bits() == first.categories {
                    first.start = held.start;
                } else {
                    self.ready = Some(held);
                }
            }
        }
        self.next = 0;
        self.len = n;

        let resume = self.arg.walk_end.max(last_end);
        let vec_full = n == self.vec.len();
        let out_of_pages = self.budget == Some(0);
        // A call that did not fill the vector scanned the rest of the range.
        // A full vector guarantees progress (`last_end` > `start`); the last
        // test only guards against a scanner that breaks that rule.
        let finished = !vec_full || resume <= start;
        // The loop's decision is the kernel's own chunk loop's.
        self.done =
            pagemap_scan_core::output::resume(finished, out_of_pages, resume, self.end).is_none();
        if out_of_pages && resume < self.end {
            self.resume = Some(resume);
        }
        self.arg.start = resume;
    }
}

impl<S: RawScan> Iterator for Regions<S> {
    type Item = Result<Region, Error>;

    fn next(&mut self) -> Option<Result<Region, Error>> {
        loop {
            if let Some(r) = self.ready.take() {
                return Some(Ok(r));
            }
            if self.next < self.len {
                let r = Region::from(self.vec[self.next]);
                self.next += 1;
                if self.next < self.len {
                    return Some(Ok(r));
                }
                self.held = Some(r);
            }
            if self.done {
                if let Some(r) = self.held.take() {
                    return Some(Ok(r));
                }
                return self.error.take().map(Err);
            }
            self.fill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uapi::*;
    use core::cell::RefCell;
    use pagemap_scan_core::output::Collector;

    const P: u64 = 4096;

    /// A model of the C ioctl over a list of page runs: `(first page, pages,
    /// categories)`, in address order, each reported as one unit the way a
    /// THP, a hugetlb page or a hole is. The walk, matching, the chunk loop
    /// on `walk_end` and `walk_end` itself follow `do_pagemap_scan()`; the
    /// output rules are the module's `Collector`, which the kernel tests
    /// hold equal to `pagemap_scan_output()` and `pagemap_scan_push_range()`.
    struct Fake {
        units: Vec<(u64, u64, u64)>,
        calls: RefCell<Vec<PmScanArg>>,
    }

    impl Fake {
        fn new(units: Vec<(u64, u64, u64)>) -> Fake {
            Fake {
                units,
                calls: RefCell::new(Vec::new()),
            }
        }
    }

    /// The module's own matching rule (the kernel's), not a copy of it.
    fn interesting(categories: u64, arg: &PmScanArg) -> bool {
        pagemap_scan_core::category::Matcher {
            inverted: arg.category_inverted,
            required: arg.category_mask,
            anyof: arg.category_anyof_mask,
        }
        .page(categories)
    }

    impl RawScan for Fake {
        fn categories(&self) -> Result<Categories, Error> {
            Ok(Categories::ALL)
        }

        fn scan_into(&self, arg: &mut PmScanArg, vec: &mut [PageRegion]) -> Result<usize, Error> {
            self.calls.borrow_mut().push(*arg);
            if !arg.start.is_multiple_of(P) {
                return Err(Error::new(crate::Op::Scan, libc::EINVAL));
            }
            let end = arg.end.next_multiple_of(P);
            let vec_len = vec.len() as u64;
            let mut bounce = vec![std::mem::MaybeUninit::uninit(); Collector::buffer_len(vec_len)];
            let max = if arg.max_pages == 0 {
                u64::MAX
            } else {
                arg.max_pages
            };
            let mut c = Collector::new(&mut bounce, vec_len, arg.return_mask, max);
            let mut out = 0;
            let mut walk_start = arg.start;
            while walk_start < end {
                let mut full = false;
                for &(first, pages, categories) in &self.units {
                    let from = (first * P).max(walk_start);
                    let mut to = ((first + pages) * P).min(end);
                    if from >= to || !interesting(categories, arg) {
                        continue;
                    }
                    if c.output(categories, from, &mut to).is_err() {
                        full = true;
                        break;
                    }
                }
                let pending = c.pending();
                vec[out..out + pending.len()].copy_from_slice(pending);
                out += pending.len();
                c.flushed();
                if !full || c.exhausted() {
                    break;
                }
                walk_start = c.walk_end().expect("a full walk sets walk_end");
            }
            arg.walk_end = c.walk_end().unwrap_or(end);
            Ok(out)
        }
    }

    /// The regions of one call with a vector larger than any result.
    fn one_call(s: &impl RawScan, q: &Query) -> Vec<Region> {
        let mut vec = vec![PageRegion::default(); 1 << 16];
        let mut arg = q.arg_for(Categories::ALL);
        let n = s.scan_into(&mut arg, &mut vec).unwrap();
        vec[..n].iter().map(|&r| Region::from(r)).collect()
    }

    fn collect(s: &impl RawScan, q: &Query, vec_len: usize) -> (Vec<Region>, usize, Option<u64>) {
        let mut it = Regions::new(s, q, vec_len);
        let v = it.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
        (v, it.calls(), it.resume_at())
    }

    /// SplitMix64, for reproducible layouts.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        }
    }

    fn random_units(r: &mut Rng, pages: u64) -> Vec<(u64, u64, u64)> {
        // Few distinct categories, so that neighbours are often equal.
        let kinds = [
            PAGE_IS_PRESENT | PAGE_IS_WRITTEN,
            PAGE_IS_PRESENT | PAGE_IS_WRITTEN | PAGE_IS_SOFT_DIRTY,
            PAGE_IS_WRITTEN,
            PAGE_IS_PRESENT | PAGE_IS_FILE,
            PAGE_IS_SWAPPED,
            PAGE_IS_PRESENT | PAGE_IS_PFNZERO,
            PAGE_IS_PRESENT | PAGE_IS_HUGE | PAGE_IS_WRITTEN,
            0,
        ];
        let mut units = Vec::new();
        let mut page = r.below(3);
        while page < pages {
            let long = r.below(8) == 0;
            let len = 1 + r.below(if long { 600 } else { 6 });
            units.push((page, len, kinds[r.below(kinds.len() as u64) as usize]));
            let gap = if r.below(4) == 0 { 1 + r.below(3) } else { 0 };
            page += len + gap;
        }
        units
    }

    fn random_query(r: &mut Rng, pages: u64) -> Query {
        let bits = |r: &mut Rng| {
            let mut c = Categories::EMPTY;
            for _ in 0..r.below(3) {
                c |= Categories::from_bits_truncate(1 << r.below(8));
            }
            c
        };
        let start = r.below(pages / 2) * P;
        let odd = if r.below(4) == 0 { 123 } else { 0 };
        let end = start + r.below(pages) * P + odd;
        let mut q = Query::new(start..end)
            .require(bits(r) - Categories::WPALLOWED)
            .any_of(bits(r))
            .inverted(bits(r))
            .report(if r.below(3) == 0 {
                bits(r)
            } else {
                Categories::ALL
            });
        if r.below(2) == 0 {
            q = q.max_pages(1 + r.below(2 * pages));
        }
        q
    }

    #[test]
    fn small_vectors_give_what_one_call_gives() {
        let mut r = Rng(6);
        for round in 0..300 {
            let pages = 64 + r.below(3000);
            let fake = Fake::new(random_units(&mut r, pages));
            for _ in 0..10 {
                let q = random_query(&mut r, pages);
                let want = one_call(&fake, &q);
                for vec_len in [1, 2, 3, 7, 512, 513, 4096] {
                    let (got, calls, resume) = collect(&fake, &q, vec_len);
                    assert_eq!(got, want, "round {round}, vec_len {vec_len}, {q:?}");
                    if want.len() > vec_len {
                        assert!(calls > 1, "round {round}: {calls} calls");
                    }
                    let total: u64 = got.iter().map(|r| r.pages()).sum();
                    assert!(q.page_limit() == 0 || total <= q.page_limit());
                    if resume.is_some() {
                        assert_eq!(total, q.page_limit());
                    }
                }
            }
        }
    }

    #[test]
    fn refills_resume_where_the_vector_filled_and_spend_the_budget() {
        // Pages 0-3 present, 4-5 absent, 6-9 swapped, 10-11 present.
        let fake = Fake::new(vec![
            (0, 4, PAGE_IS_PRESENT),
            (6, 4, PAGE_IS_SWAPPED),
            (10, 2, PAGE_IS_PRESENT),
        ]);
        let q = Query::new(0..12 * P).max_pages(9);
        let (got, calls, resume) = collect(&fake, &q, 1);
        let region = |s, e, c| Region {
            start: s * P,
            end: e * P,
            categories: c,
        };
        assert_eq!(
            got,
            [
                region(0, 4, Categories::PRESENT),
                region(6, 10, Categories::SWAPPED),
                region(10, 11, Categories::PRESENT),
            ]
        );
        assert_eq!(calls, 3);
        assert_eq!(resume, Some(11 * P));
        let args = fake.calls.borrow();
        let starts: Vec<_> = args.iter().map(|a| (a.start / P, a.max_pages)).collect();
        assert_eq!(starts, [(0, 9), (6, 5), (10, 1)]);
    }

    #[test]
    fn a_stale_walk_end_is_not_rescanned() {
        // 600 one-page regions of alternating categories in one call with a
        // vector of 1000: the kernel's 512-region chunks leave walk_end at
        // the second chunk's start although the walk is complete.
        let units: Vec<_> = (0..600)
            .map(|i| (i, 1, if i % 2 == 0 { PAGE_IS_PRESENT } else { 0 }))
            .collect();
        let fake = Fake::new(units);
        let q = Query::new(0..700 * P);
        let mut arg = q.arg_for(Categories::ALL);
        let mut vec = vec![PageRegion::default(); 1000];
        assert_eq!(fake.scan_into(&mut arg, &mut vec).unwrap(), 600);
        assert_eq!(arg.walk_end, 512 * P);
        let (got, calls, resume) = collect(&fake, &q, 1000);
        assert_eq!(got.len(), 600);
        assert_eq!((calls, resume), (1, None));
        // A vector of exactly 600 is full: one more call, from the end of
        // the last region, finds nothing.
        let (got, calls, _) = collect(&fake, &q, 600);
        assert_eq!((got.len(), calls), (600, 2));
    }

    /// Replays fixed calls: (expected start, regions, walk_end).
    struct Script(RefCell<Vec<(u64, Vec<PageRegion>, u64)>>);

    impl RawScan for Script {
        fn categories(&self) -> Result<Categories, Error> {
            Ok(Categories::ALL)
        }

        fn scan_into(&self, arg: &mut PmScanArg, vec: &mut [PageRegion]) -> Result<usize, Error> {
            let mut script = self.0.borrow_mut();
            assert!(!script.is_empty(), "a call too many, at {:#x}", arg.start);
            let (start, regions, walk_end) = script.remove(0);
            assert_eq!(arg.start, start * P);
            if regions.is_empty() && walk_end == 0 {
                return Err(Error::new(crate::Op::Scan, libc::EINTR));
            }
            vec[..regions.len()].copy_from_slice(&regions);
            arg.walk_end = walk_end * P;
            Ok(regions.len())
        }
    }

    fn pr(start: u64, end: u64, categories: u64) -> PageRegion {
        PageRegion {
            start: start * P,
            end: end * P,
            categories,
        }
    }

    #[test]
    fn a_region_split_across_calls_is_merged() {
        let (a, b) = (PAGE_IS_PRESENT, PAGE_IS_SWAPPED);
        let script = Script(RefCell::new(vec![
            (0, vec![pr(0, 1, a), pr(1, 2, b)], 2),
            (2, vec![pr(2, 3, b), pr(3, 5, a)], 5),
            (5, vec![pr(5, 6, a), pr(7, 8, a)], 8),
            (8, vec![pr(9, 10, b)], 10),
        ]));
        let q = Query::new(0..10 * P);
        let (got, calls, _) = collect(&script, &q, 2);
        let want: Vec<Region> = [
            pr(0, 1, a),
            pr(1, 3, b),
            pr(3, 6, a),
            pr(7, 8, a),
            pr(9, 10, b),
        ]
        .into_iter()
        .map(Region::from)
        .collect();
        assert_eq!(got, want);
        assert_eq!(calls, 4);
    }

    #[test]
    fn an_error_ends_the_iteration_after_the_regions_before_it() {
        let a = PAGE_IS_PRESENT;
        let script = Script(RefCell::new(vec![
            (0, vec![pr(0, 1, a), pr(2, 3, a)], 3),
            (3, vec![], 0),
        ]));
        let q = Query::new(0..10 * P);
        let mut it = Regions::new(&script, &q, 2);
        assert_eq!(it.next(), Some(Ok(Region::from(pr(0, 1, a)))));
        assert_eq!(it.next(), Some(Ok(Region::from(pr(2, 3, a)))));
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.errno(), libc::EINTR);
        assert_eq!(it.next(), None);
        assert_eq!(it.calls(), 2);
    }

    #[test]
    fn the_first_call_is_made_even_for_an_empty_range() {
        let fake = Fake::new(vec![(0, 4, PAGE_IS_PRESENT)]);
        let (got, calls, _) = collect(&fake, &Query::new(P..P), 4);
        assert_eq!((got.len(), calls), (0, 1));
        let mut it = Regions::new(&fake, &Query::new(5..P), 4);
        assert_eq!(it.next().unwrap().unwrap_err().errno(), libc::EINVAL);
        assert_eq!(it.next(), None);
    }
}
