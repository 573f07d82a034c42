// SPDX-License-Identifier: GPL-2.0
/*
 * The device's own ioctls: discover what the module supports, then scan
 * another process through a pidfd and count its present and swapped pages.
 *
 *   cc -Wall -Iinclude/uapi -o attach-pidfd Documentation/examples/attach-pidfd.c
 *   ./attach-pidfd PID
 *
 * Allowed when you could open /proc/PID/pagemap (PTRACE_MODE_READ_FSCREDS).
 * Attach returns a new fd bound to the other process, as opening its
 * /proc/PID/pagemap would; the device fd stays bound to this process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/pagemap_scan.h>

/* The highest user address with 4-level paging on x86-64 (47 bits). */
#define USER_END 0x7ffffffff000ULL

int main(int argc, char **argv)
{
	struct page_region regions[512];
	struct pms_features features = { .size = sizeof(features) };
	unsigned long long present = 0, swapped = 0;
	long page = sysconf(_SC_PAGESIZE);
	int device, scanner, pidfd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PID\n", argv[0]);
		return 2;
	}
	device = open(PAGEMAP_SCAN_DEVICE, O_RDONLY | O_CLOEXEC);
	if (device < 0) {
		perror("open " PAGEMAP_SCAN_DEVICE);
		return 1;
	}

	/*
	 * Versioned by size: the module fills what it knows of our struct and
	 * zeroes the rest. ENOTTY: a module older than the extra ioctls.
	 */
	if (ioctl(device, PMS_IOC_GET_FEATURES, &features) < 0) {
		fprintf(stderr, "PMS_IOC_GET_FEATURES: %s\n", strerror(errno));
		return 1;
	}
	printf("module: categories %#llx, flags %#llx, ioctls %#llx (%llu bytes filled)\n",
	       (unsigned long long)features.categories, (unsigned long long)features.flags,
	       (unsigned long long)features.ioctls, (unsigned long long)features.size);
	/*
	 * Without PMS_FEATURE_ATTACH_NEW_FD, an older module's attach would
	 * rebind the device fd (and every copy of it) and return 0.
	 */
	if (!(features.ioctls & PMS_FEATURE_ATTACH_NEW_FD)) {
		fprintf(stderr, "this module cannot attach to another process with a new fd\n");
		return 1;
	}

	/* A new fd that scans the other process, as its /proc/PID/pagemap would. */
	pidfd = syscall(SYS_pidfd_open, atoi(argv[1]), 0);
	if (pidfd < 0) {
		perror("pidfd_open");
		return 1;
	}
	scanner = ioctl(device, PMS_IOC_ATTACH_PIDFD, pidfd);
	if (scanner < 0) {
		perror("PMS_IOC_ATTACH_PIDFD");
		return 1;
	}
	close(pidfd);  /* the new fd holds the target's mm, not the pidfd */
	close(device); /* the new fd does not need it either */

	/* Present or swapped pages, reported with which of the two they are. */
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = 0,
		.end = USER_END,
		.vec = (uintptr_t)regions,
		.vec_len = 512,
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
	};
	while (arg.start < arg.end) {
		long n = ioctl(scanner, PAGEMAP_SCAN, &arg);

		if (n < 0) {
			fprintf(stderr, "PAGEMAP_SCAN: %s\n", strerror(errno));
			return 1;
		}
		for (long i = 0; i < n; i++) {
			unsigned long long pages = (regions[i].end - regions[i].start) / page;

			if (regions[i].categories & PAGE_IS_PRESENT)
				present += pages;
			else
				swapped += pages;
		}
		arg.start = arg.walk_end;
	}
	printf("pid %s: %llu pages present, %llu swapped\n", argv[1], present, swapped);
	return 0;
}
