/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The boundary between the Rust crate and helpers.c. sys.rs declares the
 * helpers for Rust; the Rust side defines the trampoline targets.
 */
#ifndef PAGEMAP_SCAN_HELPERS_H
#define PAGEMAP_SCAN_HELPERS_H

#include <linux/types.h>

struct mm_struct;

/* Defined in Rust (pagemap_scan_main.rs). */
void *pms_open(void);
void pms_release(void *state);
long pms_ioctl(void *state, unsigned int cmd, unsigned long arg);

/* Defined in helpers.c. */
int pms_misc_register(void);
void pms_misc_deregister(void);
struct mm_struct *pms_current_mm(void);
void pms_mmgrab(struct mm_struct *mm);
void pms_mmdrop(struct mm_struct *mm);
void pms_mmget(struct mm_struct *mm);
bool pms_mmget_not_zero(struct mm_struct *mm);
unsigned long pms_untagged_addr(unsigned long addr);
bool pms_access_ok(unsigned long addr, unsigned long size);
bool pms_ibt_enforced(void);
bool pms_kcfi_enabled(void);
unsigned long pms_kprobe_address(const char *name);

struct pms_ksym_slot {
	const char *name;
	void **addr;
};
const struct pms_ksym_slot *pms_ksym_slots(size_t *len);

#endif
