// SPDX-License-Identifier: GPL-2.0

//! kselftest for /dev/pagemap_scan. Run as root in the test VM with the module
//! loaded; every test compares the device with `/proc/self/pagemap`.

use pagemap_scan_selftests::tap::{self, Test};

mod fuzz;
mod lifecycle;
mod validation;
mod writeprotect;

const TESTS: &[Test] = &[
    (
        "invalid arguments: same errno as the C ioctl",
        validation::invalid_args,
    ),
    (
        "valid arguments: same result and walk_end",
        validation::valid_args,
    ),
    ("walk_end is written back", validation::walk_end_writeback),
    ("unknown ioctl gives ENOTTY", lifecycle::unknown_ioctl),
    (
        "fork: child's fd stays bound to the opener's mm",
        lifecycle::fork_keeps_binding,
    ),
    ("opener exited: ESRCH as in C", lifecycle::dead_mm_is_esrch),
    (
        "hostile arguments: same answer as the C ioctl",
        fuzz::hostile_args,
    ),
    (
        "WP: without wp-async, skipped or EPERM",
        writeprotect::without_wp_async,
    ),
    ("WP twin: anon", writeprotect::anon),
    ("WP twin: shmem", writeprotect::shmem),
    ("WP twin: THP, whole and split", writeprotect::thp),
    ("WP twin: hugetlb, whole and partial", writeprotect::hugetlb),
    ("WP: the Wine GetWriteWatch loop", writeprotect::wine_loop),
    (
        "WP: concurrent writers lose no write",
        writeprotect::concurrent_writers,
    ),
];

fn main() {
    std::process::exit(tap::run(TESTS));
}
