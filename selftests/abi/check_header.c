// SPDX-License-Identifier: GPL-2.0
/*
 * Compile-time checks of include/uapi/linux/pagemap_scan.h, run by `make check`:
 * alone, it must define the upstream ABI with the upstream layout; after the
 * kernel's <linux/fs.h> (-DWITH_KERNEL_FS_H), it must add only the device path.
 */
#ifdef WITH_KERNEL_FS_H
#include <linux/fs.h>
#endif
#include <linux/pagemap_scan.h>
#include <stddef.h>

#define SAME(a, b) _Static_assert((a) == (b), #a " == " #b)

SAME(sizeof(struct pm_scan_arg), 96);
SAME(offsetof(struct pm_scan_arg, size), 0);
SAME(offsetof(struct pm_scan_arg, flags), 8);
SAME(offsetof(struct pm_scan_arg, start), 16);
SAME(offsetof(struct pm_scan_arg, end), 24);
SAME(offsetof(struct pm_scan_arg, walk_end), 32);
SAME(offsetof(struct pm_scan_arg, vec), 40);
SAME(offsetof(struct pm_scan_arg, vec_len), 48);
SAME(offsetof(struct pm_scan_arg, max_pages), 56);
SAME(offsetof(struct pm_scan_arg, category_inverted), 64);
SAME(offsetof(struct pm_scan_arg, category_mask), 72);
SAME(offsetof(struct pm_scan_arg, category_anyof_mask), 80);
SAME(offsetof(struct pm_scan_arg, return_mask), 88);
SAME(sizeof(struct page_region), 24);
SAME(offsetof(struct page_region, start), 0);
SAME(offsetof(struct page_region, end), 8);
SAME(offsetof(struct page_region, categories), 16);
/* The values the Rust side (rust/uapi.rs) uses. */
SAME(PAGEMAP_SCAN, 0xc0606610u);
SAME(PAGE_IS_WPALLOWED | PAGE_IS_WRITTEN | PAGE_IS_FILE | PAGE_IS_PRESENT |
     PAGE_IS_SWAPPED | PAGE_IS_PFNZERO | PAGE_IS_HUGE | PAGE_IS_SOFT_DIRTY, 0xff);
SAME(PAGE_IS_SOFT_DIRTY, 1 << 7);
SAME(PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, 3);

static const char device[] = PAGEMAP_SCAN_DEVICE;
SAME(sizeof(device), sizeof("/dev/pagemap_scan"));

/* The device's own ioctls. */
SAME(sizeof(struct pms_features), PMS_FEATURES_SIZE_VER0);
SAME(offsetof(struct pms_features, size), 0);
SAME(offsetof(struct pms_features, categories), 8);
SAME(offsetof(struct pms_features, flags), 16);
SAME(offsetof(struct pms_features, ioctls), 24);
SAME(PMS_IOC_GET_FEATURES, 0xc020b840u);
SAME(PMS_IOC_ATTACH_PIDFD, 0x0000b841u);
SAME(PMS_FEATURE_GET_FEATURES | PMS_FEATURE_ATTACH_PIDFD | PMS_FEATURE_ATTACH_NEW_FD, 7);
