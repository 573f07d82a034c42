// SPDX-License-Identifier: GPL-2.0

//! kselftest for /dev/pagemap_scan. Run as root in the test VM with the module
//! loaded; every test compares the device with `/proc/self/pagemap`.

use pagemap_scan_selftests::layout::Kind;
use pagemap_scan_selftests::tap::{self, Test};

mod api;
mod differential;
mod extra_ioctls;
mod failnth;
mod faults;
mod fuzz;
mod hinting;
mod hwpoison;
mod ksm;
mod la57;
mod lifecycle;
mod memory;
mod mthp;
mod notifier;
mod numa;
mod reclaim;
mod rwp;
mod validation;
mod vma_lock;
mod writeprotect;

#[rustfmt::skip]
const TESTS: &[Test] = &[
    ("invalid arguments: same errno as the C ioctl", validation::invalid_args),
    ("valid arguments: same result and walk_end", validation::valid_args),
    ("walk_end is written back", validation::walk_end_writeback),
    ("unknown ioctl gives ENOTTY", lifecycle::unknown_ioctl),
    ("fork: child's fd stays bound to the opener's mm", lifecycle::fork_keeps_binding),
    ("opener exited: ESRCH as in C", lifecycle::dead_mm_is_esrch),
    ("hostile arguments: same answer as the C ioctl", fuzz::hostile_args),
    ("anon private: written, zero page, DONTNEED, untouched", memory::anon_private),
    ("shared anon (shmem)", memory::shmem),
    ("memfd mapped shared and private", memory::memfd_private_and_shared),
    ("THP: whole, partial, max_pages", memory::thp),
    ("hugetlb: MAP_HUGETLB, whole and partial", memory::hugetlb_map),
    ("hugetlb: memfd MFD_HUGETLB", memory::hugetlb_memfd),
    ("hugetlb: SysV SHM_HUGETLB", memory::hugetlb_shm),
    ("swapped out with MADV_PAGEOUT", memory::swapped),
    ("soft-dirty after clear_refs", memory::soft_dirty),
    ("PROT_NONE, gaps and 64 VMAs", memory::prot_none_gaps_and_many_vmas),
    ("vec_len and max_pages boundaries", memory::vec_len_and_max_pages),
    ("CRIU pre-dump loop on walk_end", memory::criu_predump_loop),
    ("Wine GetWriteWatch GET loop on walk_end", memory::wine_get_loop),
    ("more regions than the 512-entry bounce buffer", memory::more_regions_than_the_bounce_buffer),
    ("differential: random layouts and arguments, device equals C", differential::random_calls),
    ("WP: without wp-async, skipped or EPERM", writeprotect::without_wp_async),
    ("WP twin: anon", || writeprotect::twin_kind(Kind::Anon)),
    ("WP twin: shmem", || writeprotect::twin_kind(Kind::Shmem)),
    ("WP twin: THP, whole and split", || writeprotect::twin_kind(Kind::Thp)),
    ("WP twin: hugetlb, whole and partial", || writeprotect::twin_kind(Kind::Hugetlb)),
    ("WP: the Wine GetWriteWatch loop", writeprotect::wine_loop),
    ("WP: concurrent writers lose no write", writeprotect::concurrent_writers),
    ("notifier: GET scans announce nothing, device and C", notifier::get_is_silent),
    ("notifier: WP twin anon, device announces what C does", || notifier::twin_kind(Kind::Anon)),
    ("notifier: WP twin shmem, device announces what C does", || notifier::twin_kind(Kind::Shmem)),
    ("notifier: WP twin THP, device announces what C does", || notifier::twin_kind(Kind::Thp)),
    ("notifier: WP twin hugetlb, device announces what C does", || notifier::twin_kind(Kind::Hugetlb)),
    ("notifier: WP over holes, unpopulated, in chunks, as C", notifier::holes_and_chunks),
    ("RWP: ACCESSED on anon: reads, writes, zero page, re-protect, lifted", rwp::anon),
    ("RWP: ACCESSED on shmem", rwp::shmem),
    ("RWP: ACCESSED on THP, a pmd protected and resolved whole", rwp::thp),
    ("RWP: ACCESSED on hugetlb", rwp::hugetlb),
    ("RWP: no WRITTEN, WP_MATCHING skips, CHECK_WPASYNC EPERM", rwp::not_write_protect),
    ("guard regions: GUARD|SWAPPED; WRITTEN in uffd-wp, ACCESSED in RWP VMAs", rwp::guard),
    ("fatal signal while the scan's copy-out is blocked", faults::killed_while_blocked),
    ("fatal signal while scanning in a loop", faults::killed_while_looping),
    ("output vector read-only or unmapped: EFAULT as in C", faults::vector_read_only_or_unmapped),
    ("output vector revoked by another thread mid-scan", faults::vector_revoked_by_another_thread),
    ("fd passed by SCM_RIGHTS: opener's mm, then ESRCH", faults::fd_passed_by_scm_rights),
    ("rmmod refused while an fd is open", faults::rmmod_refused_while_open),
    ("fail-nth: GET with each fault injected: ENOMEM or EFAULT, then as C", failnth::get),
    ("fail-nth: GET+WP with each fault injected: the protection left behind as C's", failnth::write_protect),
    ("features: versioned by size", extra_ioctls::features),
    ("attach: own child, then dead pidfd (unprivileged)", extra_ioctls::attach_own_child),
    ("attach: the new fd scans the target as /proc/PID/pagemap does", extra_ioctls::attach_new_fd_scans_like_proc),
    ("attach: a forked child's copy of the fd still scans the opener", extra_ioctls::attach_leaves_the_shared_fd),
    ("attach: closing either fd leaves the other working", extra_ioctls::attach_fds_are_independent),
    ("attach: the new fd is close-on-exec and read-only", extra_ioctls::attach_new_fd_is_cloexec_and_read_only),
    ("attach: zombie gives ESRCH as /proc does", extra_ioctls::attach_zombie),
    ("attach: another user's process refused as /proc does", extra_ioctls::attach_refused_for_another_user),
    ("attach: not a pidfd gives EBADF", extra_ioctls::attach_needs_a_pidfd),
    ("attach: rmmod refused while only an attached fd is open", extra_ioctls::attach_fd_holds_the_module),
    ("API: regions iterator, small vectors and max_pages, equals one C call", api::iterator_small_vectors),
    ("API: regions iterator with GET+WP equals one C call (twins)", api::iterator_write_protect),
    ("API: features() lists the C ioctl's categories, flags 3, ioctls 7", api::features),
    ("API: attach_pidfd()'s new scanner scans the child as /proc/PID/pagemap; EBADF", api::attach_pidfd),
    ("pmscan --json --pid: the child's regions, device equals --proc", api::cli),
    // A distribution's mm (issue 13): NUMA migration and hinting, KSM, hwpoison,
    // reclaim, 5-level, mTHP, per-VMA locks.
    ("distro: NUMA migration: THP, anon, shmem moved by move_pages and mbind, then scanned", numa::moved),
    ("distro: NUMA migration: scans while the pages move between nodes", numa::churn),
    ("distro: NUMA migration: GET+WP in uffd-wp while the pages move", numa::write_protect_while_moving),
    ("distro: NUMA hinting: protnone entries of numa_balancing, GET and GET+WP", hinting::hinting),
    ("distro: KSM: merged pages, a THP split to merge, GET+WP, COW", ksm::merged_pages),
    ("distro: KSM: zero-filled pages merged into the zero page", ksm::zero_pages),
    ("distro: hwpoison: MADV_HWPOISON on anon, shmem, THP, hugetlb", hwpoison::hard),
    ("distro: hwpoison: MADV_SOFT_OFFLINE on anon, shmem, THP, hugetlb", hwpoison::soft),
    ("distro: 5-level paging: above 128 TiB, across 1 << 47, argument checks", la57::high),
    ("distro: reclaim: memcg memory.max pushes anon to swap, scans during and after", reclaim::swap),
    ("distro: reclaim: memcg memory.max pushes anon to zswap, scans during and after", reclaim::zswap),
    ("distro: mTHP 64kB and 16kB: pte-mapped folios, no HUGE, partial GET+WP", mthp::sizes),
    ("distro: per-VMA locks: faults and zaps racing with GET and GET+WP, no write lost", vma_lock::faults_race_scans),
];

fn main() {
    std::process::exit(tap::run(TESTS));
}
