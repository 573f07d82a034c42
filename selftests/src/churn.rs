// SPDX-License-Identifier: GPL-2.0

//! Scans of an address space that something else keeps changing (migration,
//! reclaim, ksmd, NUMA hinting, faults under the VMA lock), compared where
//! the state held still: each round asks C, then the device, then C again,
//! and compares the device with C only when C's two answers are equal. A
//! [`Tally`] counts what was reached, so a test that never saw the state it
//! is about says so instead of passing quietly.

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
    }

    /// Prints the counts as a TAP diagnostic line, `# STATE: scans …`, the
    /// line the closing figures are read from.
    pub fn report(&self, state: &str) {
        println!(
            "# {state}: scans {}, saw the state {}, compared {}, mismatches {}",
            self.scans, self.saw, self.compared, self.mismatches
        );
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn add_sums_every_count() {
        let mut t = Tally {
            scans: 3,
            saw: 1,
            compared: 2,
            mismatches: 0,
        };
        t.add(Tally {
            scans: 4,
            saw: 4,
            compared: 1,
            mismatches: 1,
        });
        assert_eq!(
            t,
            Tally {
                scans: 7,
                saw: 5,
                compared: 3,
                mismatches: 1
            }
        );
    }
}
