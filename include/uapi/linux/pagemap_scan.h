/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * /dev/pagemap_scan: the PAGEMAP_SCAN ioctl of /proc/PID/pagemap on a misc
 * device. An fd is bound to the mm of the process that opened it, and takes
 * the same ioctl number and the same struct pm_scan_arg.
 *
 * The ABI below is the one of <linux/fs.h> (Linux >= 6.7). It is guarded on
 * PAGEMAP_SCAN, so include <linux/fs.h> first when you use both; on older
 * headers this file supplies the definitions.
 */
#ifndef _UAPI_LINUX_PAGEMAP_SCAN_H
#define _UAPI_LINUX_PAGEMAP_SCAN_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define PAGEMAP_SCAN_DEVICE "/dev/pagemap_scan"

#ifndef PAGEMAP_SCAN

#define PAGEMAP_IOCTL_MAGIC	'f'

/* Pagemap ioctl */
#define PAGEMAP_SCAN	_IOWR(PAGEMAP_IOCTL_MAGIC, 16, struct pm_scan_arg)

/* Bitmasks provided in pm_scan_args masks and reported in page_region.categories. */
#define PAGE_IS_WPALLOWED	(1 << 0)
#define PAGE_IS_WRITTEN		(1 << 1)
#define PAGE_IS_FILE		(1 << 2)
#define PAGE_IS_PRESENT		(1 << 3)
#define PAGE_IS_SWAPPED		(1 << 4)
#define PAGE_IS_PFNZERO		(1 << 5)
#define PAGE_IS_HUGE		(1 << 6)
#define PAGE_IS_SOFT_DIRTY	(1 << 7)

/*
 * struct page_region - Page region with flags
 * @start:	Start of the region
 * @end:	End of the region (exclusive)
 * @categories:	PAGE_IS_* category bitmask for the region
 */
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

/* Flags for PAGEMAP_SCAN ioctl */
#define PM_SCAN_WP_MATCHING	(1 << 0)	/* Write protect the pages matched. */
#define PM_SCAN_CHECK_WPASYNC	(1 << 1)	/* Abort the scan when a non-WP-enabled page is found. */

/*
 * struct pm_scan_arg - Pagemap ioctl argument
 * @size:		Size of the structure
 * @flags:		Flags for the IOCTL
 * @start:		Starting address of the region
 * @end:		Ending address of the region
 * @walk_end		Address where the scan stopped (written by kernel).
 *			walk_end == end (address tags cleared) informs that the scan completed on entire range.
 * @vec:		Address of page_region struct array for output
 * @vec_len:		Length of the page_region struct array
 * @max_pages:		Optional limit for number of returned pages (0 = disabled)
 * @category_inverted:	PAGE_IS_* categories which values match if 0 instead of 1
 * @category_mask:	Skip pages for which any category doesn't match
 * @category_anyof_mask: Skip pages for which no category matches
 * @return_mask:	PAGE_IS_* categories that are to be reported in `page_region`s returned
 */
struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#endif /* PAGEMAP_SCAN */

/*
 * Categories of Linux 7.3 (PM_SCAN_CATEGORIES there includes them; a 6.12
 * <linux/fs.h> does not define them). PMS_IOC_GET_FEATURES says which the
 * running module reports: those of the kernel it was built for.
 */
#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD		(1 << 8)	/* a guard region (MADV_GUARD_INSTALL) */
#endif
#ifndef PAGE_IS_ACCESSED
#define PAGE_IS_ACCESSED	(1 << 9)	/* not read-write-protected by userfaultfd */
#endif

/*
 * Extra ioctls of /dev/pagemap_scan (not on /proc/PID/pagemap). They are
 * device-private: the numbers mean nothing on another fd.
 */
#define PMS_IOCTL_MAGIC		0xB8

/*
 * struct pms_features - What this module supports (PMS_IOC_GET_FEATURES)
 * @size:	In: the size of the caller's struct, at least
 *		PMS_FEATURES_SIZE_VER0. Out: the bytes the module filled in,
 *		min(caller's size, module's size). Bytes past that up to the
 *		caller's size are zeroed, so a newer caller on an older module
 *		reads 0 (unsupported) in the fields the module does not know.
 * @categories:	PAGE_IS_* categories the module reports and matches.
 * @flags:	PM_SCAN_* flags the module accepts.
 * @ioctls:	PMS_FEATURE_* extra ioctls the module implements.
 */
struct pms_features {
	__u64 size;
	__u64 categories;
	__u64 flags;
	__u64 ioctls;
};

#define PMS_FEATURES_SIZE_VER0		32

#define PMS_FEATURE_GET_FEATURES	(1 << 0)
#define PMS_FEATURE_ATTACH_PIDFD	(1 << 1)
/*
 * PMS_IOC_ATTACH_PIDFD returns a new fd and leaves the fd it is called on as
 * it was. Modules without this bit rebind the fd it is called on instead
 * (and return 0): do not attach on those.
 */
#define PMS_FEATURE_ATTACH_NEW_FD	(1 << 2)

/*
 * Fills struct pms_features. Errors: EFAULT, EINVAL (size below
 * PMS_FEATURES_SIZE_VER0 or above 4096).
 */
#define PMS_IOC_GET_FEATURES	_IOWR(PMS_IOCTL_MAGIC, 0x40, struct pms_features)

/*
 * Returns a new fd bound to the mm of the process a pidfd refers to, as an
 * open of /proc/PID/pagemap is; the argument is the pidfd itself (by value).
 * The new fd is read-only and close-on-exec (set FD_CLOEXEC off to pass it
 * across execve) and takes the same ioctls; the fd the ioctl is called on
 * stays bound as it was. Allowed only when the caller may ptrace-read the
 * target (PTRACE_MODE_READ_FSCREDS), the rule that guards opening
 * /proc/PID/pagemap. Errors: EBADF (not a pidfd), ESRCH (the process is gone
 * or has no mm), EACCES (not allowed), EINTR, EMFILE, ENFILE, ENOMEM.
 * Needs PMS_FEATURE_ATTACH_NEW_FD (see above).
 */
#define PMS_IOC_ATTACH_PIDFD	_IO(PMS_IOCTL_MAGIC, 0x41)

#endif /* _UAPI_LINUX_PAGEMAP_SCAN_H */
