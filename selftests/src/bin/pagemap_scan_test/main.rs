// SPDX-License-Identifier: GPL-2.0

//! kselftest for /dev/pagemap_scan. Run as root in the test VM with the module
//! loaded; every test compares the device with `/proc/self/pagemap`.

use pagemap_scan_selftests::tap::{self, Test};

mod lifecycle;
mod validation;
mod writeprotect;

fn main() {
    let tests = [
        Test {
            name: "invalid arguments: same errno as the C ioctl",
            run: validation::invalid_args,
        },
        Test {
            name: "valid arguments: same result and walk_end",
            run: validation::valid_args,
        },
        Test {
            name: "walk_end is written back",
            run: validation::walk_end_writeback,
        },
        Test {
            name: "unknown ioctl gives ENOTTY",
            run: lifecycle::unknown_ioctl,
        },
        Test {
            name: "fork: child's fd stays bound to the opener's mm",
            run: lifecycle::fork_keeps_binding,
        },
        Test {
            name: "opener exited: ESRCH as in C",
            run: lifecycle::dead_mm_is_esrch,
        },
        Test {
            name: "WP: without wp-async, skipped or EPERM",
            run: writeprotect::without_wp_async,
        },
        Test {
            name: "WP twin: anon",
            run: writeprotect::anon,
        },
        Test {
            name: "WP twin: shmem",
            run: writeprotect::shmem,
        },
        Test {
            name: "WP twin: THP, whole and split",
            run: writeprotect::thp,
        },
        Test {
            name: "WP twin: hugetlb, whole and partial",
            run: writeprotect::hugetlb,
        },
        Test {
            name: "WP: the Wine GetWriteWatch loop",
            run: writeprotect::wine_loop,
        },
        Test {
            name: "WP: concurrent writers lose no write",
            run: writeprotect::concurrent_writers,
        },
    ];
    std::process::exit(tap::run(&tests));
}
