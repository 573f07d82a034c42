/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The boundary between the Rust crate and helpers.c. sys.rs declares the
 * helpers for Rust; the Rust side defines the trampoline targets.
 */
#ifndef PAGEMAP_SCAN_HELPERS_H
#define PAGEMAP_SCAN_HELPERS_H

#include <linux/mm_types.h>
#include <linux/spinlock_types.h>
#include <linux/types.h>

struct file;
struct mm_struct;
struct task_struct;
struct mm_walk;
struct vm_area_struct;

/*
 * Defined in Rust (walk.rs): the mm_walk_ops callbacks, called by the ops of
 * helpers.c with the walk's private state (@scan) and VMA unpacked, and the
 * entries locked and decoded as Rust asked (pms_walk_page_range()).
 */
int pms_walk_test_vma(void *scan, unsigned int vma_facts, unsigned int *tier);
int pms_walk_thp(void *scan, struct vm_area_struct *vma, pmd_t *pmd, unsigned long start,
		 unsigned long end, u8 facts);
int pms_walk_ptes(void *scan, struct vm_area_struct *vma, pte_t *pte, unsigned long start,
		  const u16 *runs, unsigned int n);
int pms_walk_hole(void *scan, struct vm_area_struct *vma, unsigned long start,
		  unsigned long end);
int pms_walk_hugetlb(void *scan, struct vm_area_struct *vma, pte_t *pte, unsigned long start,
		     unsigned long end, u8 facts);

/* The PMS_F_* and PMS_VMA_* facts, shared with Rust. */
#include "facts.h"

/* Defined in helpers.c. */
struct task_struct *pms_pidfd_get_task(int pidfd);
struct mm_struct *pms_mm_access(struct task_struct *task, unsigned int mode);
void pms_put_task(struct task_struct *task);
int pms_new_fd(const struct file *like, void *priv);
#ifdef CONFIG_ADDRESS_MASKING
unsigned long pms_untagged_addr(unsigned long addr);
#endif
bool pms_ibt_enforced(void);
bool pms_kcfi_enabled(void);
unsigned long pms_kprobe_address(const char *name);

struct pms_ksym_slot {
	const char *name;
	void (*set)(unsigned long addr);	/* points the static call (or pointer) at it */
	bool is_function;	/* else a variable: never called */
};
const struct pms_ksym_slot *pms_ksym_slots(size_t *len);
void pms_set_kallsyms_lookup(unsigned long addr);
unsigned long pms_kallsyms_lookup(const char *name);
bool pms_direct_calls(void);

int pms_walk_page_range(struct mm_struct *mm, unsigned long start, unsigned long end,
			void *scan, u8 want);
void *pms_kmalloc_array(size_t n, size_t size);
bool pms_fatal_signal_pending(void);

/* Write-protection. */
int pms_walk_page_range_wp(struct mm_struct *mm, unsigned long start, unsigned long end,
			   void *scan, u8 want);
void pms_flush_tlb_range(struct vm_area_struct *vma, unsigned long start, unsigned long end);
void pms_pte_make_wp(struct vm_area_struct *vma, unsigned long addr, pte_t *table,
		     unsigned int index, unsigned int n);
void pms_thp_make_wp(struct vm_area_struct *vma, unsigned long addr, pmd_t *pmdp);
spinlock_t *pms_hugetlb_lock(struct vm_area_struct *vma, pte_t *ptep);
void pms_hugetlb_unlock(struct vm_area_struct *vma, spinlock_t *ptl);
unsigned long pms_hugetlb_page_size(struct vm_area_struct *vma);
bool pms_hugetlb_make_wp(struct vm_area_struct *vma, unsigned long addr, pte_t *ptep);
pte_t *pms_huge_pte_alloc(struct vm_area_struct *vma, unsigned long addr);
long pms_uffd_wp_range(struct vm_area_struct *vma, unsigned long start, unsigned long len);

#endif
