// SPDX-License-Identifier: GPL-2.0

//! Page faults served under the per-VMA lock (7.3 takes no mmap_lock for an
//! anonymous fault): writer threads fault fresh pages in (first touches, and
//! pages zapped with `MADV_DONTNEED` just before) while GET+WP rounds,
//! through the device and C in turn, and GETs compared C/device/C race with
//! them on a uffd-wp async area. No write may be lost.

use crate::writeprotect::{race, Race};
use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::tap::Outcome;

pub fn faults_race_scans() -> Outcome {
    let tally = race(
        Race {
            writers: 3,
            rounds: 150,
            zap_one_in: 8,
            with_c: true,
        },
        "per-VMA locks",
    )?;
    tally.report("per-VMA locks: GET during faults");
    ensure!(tally.mismatches == 0, "mismatches: {tally:?}");
    ensure!(
        tally.saw > 0,
        "per-VMA locks: no GET saw a written page: {tally:?}"
    );
    Ok(())
}
