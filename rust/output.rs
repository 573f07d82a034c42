// SPDX-License-Identifier: GPL-2.0

//! Matching pages become coalesced regions in a bounce buffer, within the
//! request's `max_pages` and `vec_len`; the caller flushes the buffer to user
//! memory between walk chunks.
//!
//! Pure. The rules, including where `walk_end` lands, are those of the C
//! `pagemap_scan_output()`, `pagemap_scan_push_range()` and
//! `pagemap_scan_flush_buffer()`, so a caller looping on `walk_end` sees the
//! same sequence from both ioctls.

use crate::args::PAGE_SIZE;
use crate::uapi::PageRegion;
use core::mem::MaybeUninit;

/// Regions in the bounce buffer at most: one walk chunk's worth (a PMD of pages).
pub const BOUNCE_REGIONS: u64 = 512;

/// The walk must stop: `max_pages` reached or the buffer is full (`-ENOSPC` in C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// Collects the output of one `PAGEMAP_SCAN`.
///
/// # Invariants
///
/// `index < buf.len()` whenever `buf` is not empty, and `buf[..=index]` is
/// initialised; `usable <= buf.len()`; `found_pages <= max_pages`.
pub struct Collector<'a> {
    /// The bounce buffer; empty when the request has no output vector. Left
    /// uninitialised beyond the current region, as C leaves its buffer: it
    /// is up to a page of memory per call.
    buf: &'a mut [MaybeUninit<PageRegion>],
    /// How many entries of `buf` may be used before a flush.
    usable: usize,
    /// The region being extended.
    index: usize,
    /// Regions still free in the user's vector.
    vec_left: u64,
    return_mask: u64,
    max_pages: u64,
    found_pages: u64,
    walk_end: Option<u64>,
}

impl<'a> Collector<'a> {
    /// How large a bounce buffer a request with `vec_len` regions needs.
    pub fn buffer_len(vec_len: u64) -> usize {
        vec_len.min(BOUNCE_REGIONS) as usize
    }

    /// A collector over `buf`, of [`Collector::buffer_len`] entries, for the
    /// given request limits.
    pub fn new(
        buf: &'a mut [MaybeUninit<PageRegion>],
        vec_len: u64,
        return_mask: u64,
        max_pages: u64,
    ) -> Self {
        let usable = buf.len();
        if let Some(first) = buf.first_mut() {
            first.write(PageRegion::default());
        }
        // INVARIANT: `index` is 0 and `buf[0]` initialised (if any), `usable`
        // is `buf.len()`, nothing found yet.
        Collector {
            buf,
            usable,
            index: 0,
            vec_left: vec_len,
            return_mask,
            max_pages,
            found_pages: 0,
            walk_end: None,
        }
    }

    /// Whether output is collected at all (the request has a vector).
    pub fn has_vector(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Reports `[addr, *end)` with `categories`. On [`Full`], `*end` is cut
    /// back to what fit (possibly `addr`) and the walk stops there.
    ///
    /// Inlined: it runs once per THP, hugetlb page or run of ptes, where a
    /// call costs a good part of the work (a plain `#[inline]` left it out
    /// of line).
    #[inline(always)]
    pub fn output(&mut self, categories: u64, addr: u64, end: &mut u64) -> Result<(), Full> {
        if !self.has_vector() {
            return Ok(());
        }
        let categories = categories & self.return_mask;
        let mut pages = (*end - addr) / PAGE_SIZE;
        let mut ret = Ok(());

        let (total, overflow) = self.found_pages.overflowing_add(pages);
        if overflow || total > self.max_pages {
            let too_many = total.wrapping_sub(self.max_pages);
            *end -= too_many * PAGE_SIZE;
            pages -= too_many;
            ret = Err(Full);
        }
        if !self.push(categories, addr, *end) {
            *end = addr;
            pages = 0;
            ret = Err(Full);
        }
        self.found_pages += pages;
        if ret.is_err() {
            self.walk_end = Some(*end);
        }
        ret
    }

    /// The region being extended (the buffer is not empty).
    fn current(&mut self) -> &mut PageRegion {
        // SAFETY: `buf[index]` is initialised (type invariant).
        unsafe { self.buf[self.index].assume_init_mut() }
    }

    /// Extends the current region or starts the next; false when the buffer is full.
    #[inline(always)]
    fn push(&mut self, categories: u64, addr: u64, end: u64) -> bool {
        let cur = self.current();
        if addr == cur.end && categories == cur.categories {
            cur.end = end;
            return true;
        }
        if cur.end != 0 {
            if self.index + 1 >= self.usable {
                return false;
            }
            self.index += 1;
        }
        // INVARIANT: the new current region is initialised here.
        self.buf[self.index].write(PageRegion {
            start: addr,
            end,
            categories,
        });
        true
    }

    /// Takes back `[addr, end)`, just reported by [`Collector::output`], when it
    /// could not be write-protected as a whole.
    pub fn backout(&mut self, addr: u64, end: u64) {
        if !self.has_vector() {
            return;
        }
        let cur = self.current();
        if cur.start != addr {
            cur.end = addr;
        } else {
            cur.start = 0;
            cur.end = 0;
        }
        self.found_pages -= (end - addr) / PAGE_SIZE;
    }

    /// Records that the walk must resume at `addr` (a hugetlb page that could
    /// not be protected whole).
    pub fn stop_at(&mut self, addr: u64) {
        self.walk_end = Some(addr);
    }

    /// The regions ready to be copied to the user's vector.
    pub fn pending(&self) -> &[PageRegion] {
        let Some(cur) = self.buf.get(self.index) else {
            return &[];
        };
        // SAFETY: `buf[index]` is initialised (type invariant).
        let cur = unsafe { cur.assume_init_ref() };
        let n = self.index + usize::from(cur.end != cur.start);
        // SAFETY: `buf[..n]` is within `buf[..=index]`, initialised (type
        // invariant); `MaybeUninit<T>` has the layout of `T`.
        unsafe { core::slice::from_raw_parts(self.buf.as_ptr().cast::<PageRegion>(), n) }
    }

    /// Records that [`Collector::pending`] was copied out, and empties the buffer.
    pub fn flushed(&mut self) {
        let n = self.pending().len();
        if n == 0 {
            return;
        }
        self.vec_left -= n as u64;
        self.index = 0;
        self.usable = self.usable.min(self.vec_left as usize);
        // INVARIANT: `index` is 0 and `buf[0]` (re)initialised, empty.
        self.buf[0].write(PageRegion::default());
    }

    /// Whether another walk chunk could report anything.
    pub fn exhausted(&self) -> bool {
        self.vec_left == 0 || self.found_pages == self.max_pages
    }

    /// Where the walk was stopped by [`Full`], if it was.
    pub fn walk_end(&self) -> Option<u64> {
        self.walk_end
    }

    /// The chunk loop's decision after a walk of the range up to `end` and
    /// the flush of its regions: `None` when the scan is done (the walk
    /// reached `end`, or the output is exhausted: `vec_len` regions or
    /// `max_pages` pages), else where the next walk starts (the bounce
    /// buffer filled first).
    pub fn resume_at(&self, walk_completed: bool, end: u64) -> Option<u64> {
        // A walk stopped by `Full` always recorded where.
        resume(
            walk_completed,
            self.exhausted(),
            self.walk_end.unwrap_or(end),
            end,
        )
    }
}

/// The decision of a loop over `PAGEMAP_SCAN`'s range in pieces, the
/// kernel's over walk chunks ([`Collector::resume_at`]) as a caller's over
/// calls (the API crate's regions iterator): `None` when it is done (the
/// piece `finished` the range, or the output is `exhausted`), else where
/// the next piece starts, `stopped_at`, if that is before `end`.
pub fn resume(finished: bool, exhausted: bool, stopped_at: u64, end: u64) -> Option<u64> {
    if finished || exhausted {
        return None;
    }
    Some(stopped_at).filter(|&at| at < end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = PAGE_SIZE;

    fn region(start: u64, end: u64, categories: u64) -> PageRegion {
        PageRegion {
            start: start * P,
            end: end * P,
            categories,
        }
    }

    /// Feeds single pages `(page, categories)` and flushes into a "user" vector
    /// like the ioctl's chunk loop; returns the vector and `walk_end`.
    fn scan(pages: &[(u64, u64)], vec_len: u64, max_pages: u64) -> (Vec<PageRegion>, Option<u64>) {
        let mut buf = vec![MaybeUninit::uninit(); Collector::buffer_len(vec_len)];
        let mut c = Collector::new(&mut buf, vec_len, !0, max_pages);
        let mut user = Vec::new();
        let mut i = 0;
        loop {
            let mut stopped = false;
            while i < pages.len() {
                let (page, cats) = pages[i];
                let mut end = (page + 1) * P;
                if c.output(cats, page * P, &mut end).is_err() {
                    stopped = true;
                    if end != page * P {
                        i += 1;
                    }
                    break;
                }
                i += 1;
            }
            user.extend_from_slice(c.pending());
            c.flushed();
            if c.resume_at(!stopped, u64::MAX).is_none() {
                return (user, c.walk_end());
            }
        }
    }

    #[test]
    fn the_chunk_loop_resumes_where_the_buffer_filled() {
        let mut buf = vec![MaybeUninit::uninit(); Collector::buffer_len(1024)];
        let mut c = Collector::new(&mut buf, 1024, !0, u64::MAX);
        // A walk that reached its end is done, whatever was collected.
        assert_eq!(c.resume_at(true, 100 * P), None);
        // More regions than the bounce buffer holds: the walk stops at the
        // first page that did not fit, and the next chunk starts there.
        let mut page = 0;
        loop {
            let mut end = (page + 1) * P;
            if c.output(page % 2, page * P, &mut end).is_err() {
                break;
            }
            page += 1;
        }
        assert_eq!(c.resume_at(false, 10_000 * P), Some(page * P));
        // Past the end of the range there is nothing to resume.
        assert_eq!(c.resume_at(false, page * P), None);
        c.flushed();
        // An exhausted vector (or max_pages) ends the scan.
        let mut buf = vec![MaybeUninit::uninit(); Collector::buffer_len(1)];
        let mut c = Collector::new(&mut buf, 1, !0, u64::MAX);
        let mut end = P;
        c.output(1, 0, &mut end).unwrap();
        let mut end = 2 * P;
        assert!(c.output(2, P, &mut end).is_err());
        // The loop flushes before it decides.
        c.flushed();
        assert!(c.exhausted());
        assert_eq!(c.resume_at(false, 100 * P), None);
    }

    #[test]
    fn coalesces_adjacent_pages_of_equal_categories() {
        let (v, end) = scan(&[(1, 8), (2, 8), (3, 2), (5, 2), (6, 2)], 8, u64::MAX);
        assert_eq!(v, [region(1, 3, 8), region(3, 4, 2), region(5, 7, 2)]);
        assert_eq!(end, None);
    }

    #[test]
    fn return_mask_applies_before_coalescing() {
        let mut buf = vec![MaybeUninit::uninit(); 4];
        let mut c = Collector::new(&mut buf, 4, 8, u64::MAX);
        for (page, cats) in [(1, 8 | 2), (2, 8)] {
            let mut end = (page + 1) * P;
            c.output(cats, page * P, &mut end).unwrap();
        }
        assert_eq!(c.pending(), [region(1, 3, 8)]);
    }

    #[test]
    fn max_pages_splits_the_last_region() {
        let mut buf = vec![MaybeUninit::uninit(); 4];
        let mut c = Collector::new(&mut buf, 4, !0, 5);
        let mut end = 4 * P;
        assert_eq!(c.output(1, P, &mut end), Ok(()));
        let mut end = 20 * P;
        assert_eq!(c.output(1, 10 * P, &mut end), Err(Full));
        assert_eq!(end, 12 * P);
        assert_eq!(c.pending(), [region(1, 4, 1), region(10, 12, 1)]);
        assert_eq!(c.walk_end(), Some(12 * P));
        assert!(c.exhausted());
    }

    #[test]
    fn max_pages_reached_exactly_stops_at_the_next_match() {
        let (v, end) = scan(&[(1, 1), (2, 1), (7, 1)], 8, 2);
        assert_eq!(v, [region(1, 3, 1)]);
        // C stops the walk at the first page that no longer fits.
        assert_eq!(end, Some(7 * P));
    }

    #[test]
    fn vec_len_exhaustion_stops_at_the_first_region_that_does_not_fit() {
        let (v, end) = scan(&[(1, 1), (3, 1), (5, 1), (7, 1)], 2, u64::MAX);
        assert_eq!(v, [region(1, 2, 1), region(3, 4, 1)]);
        assert_eq!(end, Some(5 * P));
    }

    #[test]
    fn full_bounce_buffer_continues_in_the_next_chunk() {
        // 600 separate regions need two chunks of the 512-entry buffer.
        let pages: Vec<_> = (0..600).map(|i| (2 * i + 1, 1)).collect();
        let (v, end) = scan(&pages, 1000, u64::MAX);
        assert_eq!(v.len(), 600);
        assert!(v
            .iter()
            .zip(&pages)
            .all(|(r, &(p, _))| r.start == p * P && r.end == (p + 1) * P));
        // walk_end keeps the first chunk's stop, as in C (the caller sets it to
        // `end` only when nothing set it).
        assert_eq!(end, Some(1025 * P));
    }

    #[test]
    fn backout_trims_or_drops_the_last_region() {
        let mut buf = vec![MaybeUninit::uninit(); 4];
        let mut c = Collector::new(&mut buf, 4, !0, u64::MAX);
        let mut end = 3 * P;
        c.output(1, P, &mut end).unwrap();
        // A huge page that extended the region is taken back off its end...
        let mut end = 515 * P;
        c.output(1, 3 * P, &mut end).unwrap();
        c.backout(3 * P, 515 * P);
        assert_eq!(c.pending(), [region(1, 3, 1)]);
        // ...and one that started a region of its own goes entirely.
        let mut end = 1024 * P;
        c.output(2, 512 * P, &mut end).unwrap();
        c.backout(512 * P, 1024 * P);
        assert_eq!(c.pending(), [region(1, 3, 1)]);
        // The pages are no longer counted against max_pages.
        assert_eq!(c.found_pages, 2);
    }

    #[test]
    fn no_vector_collects_nothing_and_never_stops() {
        let mut buf = [];
        let mut c = Collector::new(&mut buf, 0, !0, 1);
        let mut end = 100 * P;
        assert_eq!(c.output(1, 0, &mut end), Ok(()));
        assert_eq!(end, 100 * P);
        assert!(c.pending().is_empty());
        assert!(c.exhausted());
    }

    #[test]
    fn flush_shrinks_the_buffer_to_what_is_left_of_the_vector() {
        let pages: Vec<_> = (0..520).map(|i| (2 * i + 1, 1)).collect();
        let (v, end) = scan(&pages, 515, u64::MAX);
        assert_eq!(v.len(), 515);
        assert_eq!(end, Some(1031 * P));
    }
}
