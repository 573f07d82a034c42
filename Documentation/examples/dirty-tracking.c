// SPDX-License-Identifier: GPL-2.0
/*
 * Write tracking with userfaultfd wp-async and PAGEMAP_SCAN: the pattern of
 * Wine's GetWriteWatch(). Each GET call reports the pages written since the
 * previous call and write-protects them again in the same walk, so no write
 * between two calls is lost.
 *
 *   cc -Wall -Iinclude/uapi -o dirty-tracking Documentation/examples/dirty-tracking.c
 *   ./dirty-tracking
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/pagemap_scan.h>
#include <linux/userfaultfd.h>

/* Headers older than Linux 6.4/6.7 lack these; the values are the ABI. */
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

#define PAGES 256

/*
 * UFFD_USER_MODE_ONLY works without privilege even when
 * vm.unprivileged_userfaultfd is 0; wp-async never sends a fault message.
 */
static int uffd_open(void)
{
	return syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
}

/*
 * The two-step handshake. UFFDIO_API succeeds once per fd and fails if a
 * requested feature is missing, so: ask one fd what the kernel supports,
 * then request the supported subset of what we want on a fresh fd.
 */
static int uffd_wp_async(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	__u64 wanted = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED |
		       UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	int probe = uffd_open(), fd;

	if (probe < 0 || ioctl(probe, UFFDIO_API, &api) < 0)
		return -1;
	close(probe);
	if (!(api.features & UFFD_FEATURE_WP_ASYNC)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	fd = uffd_open();
	api = (struct uffdio_api){ .api = UFFD_API, .features = api.features & wanted };
	if (fd < 0 || ioctl(fd, UFFDIO_API, &api) < 0)
		return -1;
	return fd;
}

/*
 * GET+WP: fills addrs with at most max addresses of pages written since the
 * last call and write-protects exactly those pages again. Pages written but
 * not returned (addrs full) stay written and come back next time.
 */
static long get_write_watch(int scanner, char *base, size_t len, uintptr_t *addrs, size_t max)
{
	long page = sysconf(_SC_PAGESIZE);
	struct page_region regions[256];
	size_t found = 0;
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		/* CHECK_WPASYNC: EPERM rather than silently skipping an unregistered VMA. */
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)base,
		.end = (uintptr_t)base + len,
		.vec = (uintptr_t)regions,
		.vec_len = 256,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};

	/* walk_end is where the next call must resume: vec or max_pages ran out. */
	while (arg.start < arg.end && found < max) {
		long n;

		arg.max_pages = max - found;
		n = ioctl(scanner, PAGEMAP_SCAN, &arg);
		if (n < 0)
			return -1;
		for (long i = 0; i < n; i++)
			for (__u64 a = regions[i].start; a < regions[i].end; a += page)
				addrs[found++] = a;
		arg.start = arg.walk_end;
	}
	return found;
}

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = PAGES * page;
	uintptr_t addrs[PAGES];
	int scanner, uffd;
	char *buf;
	long n;

	scanner = open(PAGEMAP_SCAN_DEVICE, O_RDONLY | O_CLOEXEC);
	if (scanner < 0)
		scanner = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uffd = uffd_wp_async();
	if (scanner < 0 || uffd < 0) {
		perror(scanner < 0 ? "open " PAGEMAP_SCAN_DEVICE : "userfaultfd wp-async");
		return 1;
	}

	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	/* As Wine does: a THP only partly protected would be split anyway. */
	madvise(buf, len, MADV_NOHUGEPAGE);

	/* Register for write-protection; the registration lives as long as uffd. */
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)buf, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
		perror("UFFDIO_REGISTER");
		return 1;
	}

	/* Reset: with no vector, write-protect the whole range. */
	struct pm_scan_arg reset = {
		.size = sizeof(reset),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)buf,
		.end = (uintptr_t)buf + len,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	if (ioctl(scanner, PAGEMAP_SCAN, &reset) < 0) {
		perror("PAGEMAP_SCAN (reset)");
		return 1;
	}

	for (int round = 1; round <= 2; round++) {
		/* The "program" writes; wp-async resolves each first write in the kernel. */
		buf[1 * page] = 1;
		buf[(round == 1 ? 5 : 200) * page] = 1;
		buf[6 * page] = 1;

		n = get_write_watch(scanner, buf, len, addrs, PAGES);
		if (n < 0) {
			fprintf(stderr, "PAGEMAP_SCAN: %s\n", strerror(errno));
			return 1;
		}
		printf("round %d: %ld pages written:", round, n);
		for (long i = 0; i < n; i++)
			printf(" %lu", (unsigned long)((addrs[i] - (uintptr_t)buf) / page));
		printf("\n");
	}
	return 0;
}
