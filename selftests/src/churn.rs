// SPDX-License-Identifier: GPL-2.0

//! Scans of an address space that something else keeps changing (migration,
//! reclaim, ksmd, NUMA hinting, faults under the VMA lock), compared where
//! the state held still: each round asks C, then the device, then C again,
//! and compares the device with C only when C's two answers are equal. A
//! [`Tally`] counts what was reached, so a test that never saw the state it
//! is about says so instead of passing quietly.
//!
//! A state a page passes through and leaves with the categories it had (a
//! migrating page: present, a migration entry, present again at another
//! pfn) can come and go between C's two scans: C answers the same twice and
//! the device, asked in between, saw the page in passing.
//! [`Tally::round_passing`] tells that apart from a mismatch.

use crate::mem::PAGE;
use crate::scanner::{Reply, Scanner};
use crate::uapi::{PageRegion, PmScanArg};

/// What a run of [`Tally::round`]s reached.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Rounds made (each is three scans: C, device, C).
    pub scans: u64,
    /// Rounds where either C answer showed the state (the test's predicate).
    pub saw: u64,
    /// Rounds where C's two answers were equal, so the device's was compared.
    pub compared: u64,
    /// Compared rounds where the device differed from C.
    pub mismatches: u64,
    /// Rounds where C answered the same twice and the device differed only
    /// in pages it saw in passing (see [`Tally::round_passing`]): not compared.
    pub in_passing: u64,
}

/// One answer: the reply and the regions.
type Answer = (Reply, Vec<PageRegion>);

impl Tally {
    /// One round of `a` (its `vec` and `vec_len` are set here) with room for
    /// `vec_len` regions; `saw` tells whether an answer of C's shows the
    /// state. Returns the first mismatch as an error, with the three answers.
    pub fn round(
        &mut self,
        dev: &Scanner,
        proc: &Scanner,
        a: PmScanArg,
        vec_len: usize,
        saw: impl Fn(&[PageRegion]) -> bool,
    ) -> Result<(), String> {
        self.round_passing(dev, proc, a, vec_len, saw, |c| c)
    }

    /// [`round`](Self::round) where a page of categories `c` may pass
    /// through a state C reports as `passing(c)`: when C's two answers are
    /// equal and the device's differs from them only in pages it reports as
    /// `passing` of C's, the page changed and came back between C's scans,
    /// and the round is counted `in_passing`, not compared. The whole range
    /// must fit in `vec_len` regions.
    pub fn round_passing(
        &mut self,
        dev: &Scanner,
        proc: &Scanner,
        a: PmScanArg,
        vec_len: usize,
        saw: impl Fn(&[PageRegion]) -> bool,
        passing: impl Fn(u64) -> u64,
    ) -> Result<(), String> {
        let before: Answer = proc.regions(a, vec_len);
        let device: Answer = dev.regions(a, vec_len);
        let after: Answer = proc.regions(a, vec_len);
        self.scans += 1;
        if saw(&before.1) || saw(&after.1) {
            self.saw += 1;
        }
        if before != after {
            return Ok(());
        }
        if device != before && seen_in_passing(&before, &device, &passing) {
            self.in_passing += 1;
            return Ok(());
        }
        self.compared += 1;
        if device != before {
            self.mismatches += 1;
            return Err(format!(
                "{a:x?}, vec_len {vec_len}: C twice {:x?} {:x?}\n  device {:x?} {:x?}",
                before.0, before.1, device.0, device.1
            ));
        }
        Ok(())
    }

    /// A [`round`](Tally::round) on memory that nothing changes any more:
    /// C's two answers must be equal, so the device's is compared.
    pub fn settled(
        &mut self,
        dev: &Scanner,
        proc: &Scanner,
        a: PmScanArg,
        vec_len: usize,
        saw: impl Fn(&[PageRegion]) -> bool,
    ) -> Result<(), String> {
        let compared = self.compared;
        self.round(dev, proc, a, vec_len, saw)?;
        if self.compared == compared {
            return Err(format!(
                "{a:x?}: C answered differently twice on settled memory"
            ));
        }
        Ok(())
    }

    /// Adds another tally's counts (from another thread, say).
    pub fn add(&mut self, other: Tally) {
        self.scans += other.scans;
        self.saw += other.saw;
        self.compared += other.compared;
        self.mismatches += other.mismatches;
        self.in_passing += other.in_passing;
    }

    /// Prints the counts as a TAP diagnostic line, `# STATE: scans …`, the
    /// line the closing figures are read from.
    pub fn report(&self, state: &str) {
        let passing = match self.in_passing {
            0 => String::new(),
            n => format!(", device saw in passing {n}"),
        };
        println!(
            "# {state}: scans {}, saw the state {}, compared {}, mismatches {}{passing}",
            self.scans, self.saw, self.compared, self.mismatches
        );
    }
}

/// Whether `device` differs from `c` (both complete: not cut short by
/// `vec_len` or `max_pages`) in some pages, and in each only as
/// `passing(C's categories)`. (Regions cut otherwise over the same pages
/// are a mismatch.)
fn seen_in_passing(c: &Answer, device: &Answer, passing: impl Fn(u64) -> u64) -> bool {
    let (c_pages, d_pages) = (pages(&c.1), pages(&device.1));
    let same_pages = c_pages.len() == d_pages.len()
        && c_pages.iter().zip(&d_pages).all(|(&(ca, cc), &(da, dc))| {
            ca == da && (dc == cc || cc != passing(cc) && dc == passing(cc))
        });
    c.0.ret.is_ok()
        && device.0.ret.is_ok()
        && device.0.walk_end == c.0.walk_end
        && same_pages
        && c_pages != d_pages
}

/// The pages of `regions`, each with its categories.
fn pages(regions: &[PageRegion]) -> Vec<(u64, u64)> {
    regions
        .iter()
        .flat_map(|r| (r.start..r.end).step_by(PAGE).map(|p| (p, r.categories)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{seen_in_passing, Answer, Tally};
    use crate::scanner::Reply;
    use crate::uapi::{PageRegion, PAGE_IS_PRESENT as P, PAGE_IS_SWAPPED as S};

    #[test]
    fn add_sums_every_count() {
        let mut t = Tally {
            scans: 3,
            saw: 1,
            compared: 2,
            mismatches: 0,
            in_passing: 1,
        };
        t.add(Tally {
            scans: 4,
            saw: 4,
            compared: 1,
            mismatches: 1,
            in_passing: 2,
        });
        assert_eq!(
            t,
            Tally {
                scans: 7,
                saw: 5,
                compared: 3,
                mismatches: 1,
                in_passing: 3,
            }
        );
    }

    fn answer(regions: &[(u64, u64, u64)]) -> Answer {
        let regions: Vec<_> = regions
            .iter()
            .map(|&(start, end, categories)| PageRegion {
                start: start << 12,
                end: end << 12,
                categories,
            })
            .collect();
        let reply = Reply {
            ret: Ok(regions.len() as i64),
            walk_end: 8 << 12,
        };
        (reply, regions)
    }

    #[test]
    fn in_passing_only_where_each_page_is_passing_of_cs() {
        let migrating = |c: u64| if c & P != 0 { c & !P | S } else { c };
        let c = answer(&[(0, 8, P)]);
        // Pages 2 and 3 were migration entries while the device looked.
        let d = answer(&[(0, 2, P), (2, 4, S), (4, 8, P)]);
        assert!(seen_in_passing(&c, &d, migrating));
        // A page C saw swapped the device saw present: not in passing.
        assert!(!seen_in_passing(&d, &c, migrating));
        // A page missing, or a different walk_end: not in passing.
        assert!(!seen_in_passing(&c, &answer(&[(0, 7, P)]), migrating));
        let mut short = c.clone();
        short.0.walk_end = 4 << 12;
        assert!(!seen_in_passing(&c, &short, migrating));
        // The same pages cut into other regions: a mismatch, not a passing.
        let cut = answer(&[(0, 4, P), (4, 8, P)]);
        assert!(!seen_in_passing(&c, &cut, migrating));
        assert!(!seen_in_passing(&c, &cut, |c| c));
    }
}
