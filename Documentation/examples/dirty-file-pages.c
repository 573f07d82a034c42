// SPDX-License-Identifier: GPL-2.0
/*
 * Which pages of a shared file mapping were written through the mapping
 * since the soft-dirty bits were last cleared?
 *
 *   cc -Wall -Iinclude/uapi -o dirty-file-pages Documentation/examples/dirty-file-pages.c
 *   ./dirty-file-pages [FILE]      (default: a 64-page memfd)
 *
 * "Dirty" here is soft-dirty: written through a page table entry since
 * `echo 4 > /proc/PID/clear_refs`, not the page cache's dirty flag (writeback
 * may have cleaned the page since, and write(2) does not count).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/pagemap_scan.h>

/* The device, or the proc file: both take the same ioctl (Linux >= 6.7). */
static int open_scanner(void)
{
	int fd = open(PAGEMAP_SCAN_DEVICE, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	return fd;
}

/* Clears the soft-dirty bit of every pte, and VM_SOFTDIRTY of every VMA. */
static int clear_soft_dirty(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	int ok = fd >= 0 && write(fd, "4", 1) == 1;

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = 64 * page;
	struct page_region regions[16];
	unsigned long found = 0;
	struct stat st;
	int file, scanner;
	char *map;

	if (argc > 1) {
		file = open(argv[1], O_RDWR | O_CLOEXEC);
		if (file < 0 || fstat(file, &st) < 0 || st.st_size < page) {
			fprintf(stderr, "%s: cannot use (need a writable file of a page or more)\n", argv[1]);
			return 1;
		}
		len = st.st_size / page * page;
	} else {
		file = memfd_create("dirty-file-pages", MFD_CLOEXEC);
		if (file < 0 || ftruncate(file, len) < 0) {
			perror("memfd");
			return 1;
		}
	}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
	scanner = open_scanner();
	if (map == MAP_FAILED || scanner < 0) {
		perror(map == MAP_FAILED ? "mmap" : "open " PAGEMAP_SCAN_DEVICE);
		return 1;
	}

	/* Map every page, then start the interval: nothing is soft-dirty now. */
	for (size_t off = 0; off < len; off += page)
		(void)*(volatile char *)(map + off);
	if (clear_soft_dirty() < 0) {
		perror("/proc/self/clear_refs");
		return 1;
	}
	/* The "program": it writes a few pages. */
	for (size_t i = 3; i < len / page; i += 10)
		map[i * page] = 1;

	/*
	 * Present file pages that are soft-dirty. A vec_len of at most 512 keeps
	 * walk_end exact (see "Surprises" in abi.rst); loop on it until the end.
	 */
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = (uintptr_t)map,
		.end = (uintptr_t)map + len,
		.vec = (uintptr_t)regions,
		.vec_len = sizeof(regions) / sizeof(regions[0]),
		.category_mask = PAGE_IS_FILE | PAGE_IS_PRESENT | PAGE_IS_SOFT_DIRTY,
		.return_mask = PAGE_IS_SOFT_DIRTY,
	};
	while (arg.start < arg.end) {
		long n = ioctl(scanner, PAGEMAP_SCAN, &arg);

		if (n < 0) {
			fprintf(stderr, "PAGEMAP_SCAN: %s\n", strerror(errno));
			return 1;
		}
		for (long i = 0; i < n; i++) {
			printf("dirty: pages %llu-%llu\n",
			       (unsigned long long)(regions[i].start - (uintptr_t)map) / page,
			       (unsigned long long)(regions[i].end - (uintptr_t)map) / page - 1);
			found += (regions[i].end - regions[i].start) / page;
		}
		if (arg.walk_end <= arg.start) /* no progress: cannot happen here */
			break;
		arg.start = arg.walk_end;
	}
	/* A kernel without CONFIG_MEM_SOFT_DIRTY never reports the category. */
	printf("%lu dirty pages%s\n", found, found ? "" : " (is CONFIG_MEM_SOFT_DIRTY set?)");
	return 0;
}
