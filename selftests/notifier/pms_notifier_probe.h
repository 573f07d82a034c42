/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The ioctls of /dev/pms_notifier_probe, a test-only helper: an fd registers
 * an mmu notifier on its opener's mm at open and, between PMS_NP_START and
 * PMS_NP_STOP, records every invalidate_range_start/end that the thread
 * which called PMS_NP_START raises over a range overlapping the window.
 * Mirrored in selftests/src/bin/pagemap_scan_test/notifier.rs.
 */
#ifndef _PMS_NOTIFIER_PROBE_H
#define _PMS_NOTIFIER_PROBE_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define PMS_NP_KIND_START	1
#define PMS_NP_KIND_END		2

struct pms_np_record {
	__u64 start;		/* range->start */
	__u64 end;		/* range->end */
	__u32 event;		/* range->event (enum mmu_notifier_event) */
	__u32 flags;		/* range->flags (MMU_NOTIFIER_RANGE_BLOCKABLE) */
	__u32 kind;		/* PMS_NP_KIND_* */
	__u32 pad;
};

/* PMS_NP_START: the window; records are cleared. */
struct pms_np_window {
	__u64 start;
	__u64 end;
};

/* PMS_NP_READ: copies up to @cap records to @buf. */
struct pms_np_read {
	__u64 buf;		/* in: struct pms_np_record[cap] */
	__u32 cap;		/* in */
	__u32 count;		/* out: records kept (at most PMS_NP_MAX) */
	__u64 overflow;		/* out: records dropped, the ring being full */
	__u64 foreign;		/* out: in the window, raised by another task */
};

#define PMS_NP_MAX	4096

#define PMS_NP_START	_IOW('N', 0x41, struct pms_np_window)
#define PMS_NP_STOP	_IO('N', 0x42)
#define PMS_NP_READ	_IOWR('N', 0x43, struct pms_np_read)

#endif /* _PMS_NOTIFIER_PROBE_H */
