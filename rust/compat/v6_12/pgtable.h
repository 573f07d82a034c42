/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Linux 6.12 under the names of Linux 7.3's page-table API, which helpers.c
 * is written in: the uffd bit of a present or swap entry (7.3 shares it with
 * the read-write-protect mode, 6.12 calls it uffd_wp), the software leaf
 * entries (softleaf_*, swp_entry_t in 6.12), lazy MMU mode. Dropping 6.12
 * deletes this file.
 */
#ifndef PAGEMAP_SCAN_V6_12_PGTABLE_H
#define PAGEMAP_SCAN_V6_12_PGTABLE_H

#include <linux/huge_mm.h>
#include <linux/hugetlb.h>
#include <linux/swapops.h>
#include <linux/userfaultfd_k.h>

#define pte_uffd		pte_uffd_wp
#define pte_mkuffd		pte_mkuffd_wp
#define pte_swp_uffd_any	pte_swp_uffd_wp_any
#define pte_swp_mkuffd		pte_swp_mkuffd_wp
#define pmd_uffd		pmd_uffd_wp
#define pmd_mkuffd		pmd_mkuffd_wp
#define pmd_swp_uffd		pmd_swp_uffd_wp
#define pmd_swp_mkuffd		pmd_swp_mkuffd_wp
#define huge_pte_uffd		huge_pte_uffd_wp
#define huge_pte_mkuffd		huge_pte_mkuffd_wp

#define lazy_mmu_mode_enable	arch_enter_lazy_mmu_mode
#define lazy_mmu_mode_disable	arch_leave_lazy_mmu_mode

/* 6.12 has no read-write-protect mode. */
#define VM_UFFD_RWP		VM_NONE

/*
 * Later 6.12.y trees carry the type and a transitional softleaf_from_pte()
 * that is pte_to_swp_entry(), without 7.3's check for present and none
 * entries: replaced here by 7.3's semantics.
 */
#ifdef softleaf_from_pte
#undef softleaf_from_pte
#else
typedef swp_entry_t softleaf_t;
#endif

/* As 7.3's: the empty leaf (value 0: no type matches) for present and none entries. */
static inline softleaf_t softleaf_from_pte(pte_t pte)
{
	if (pte_present(pte) || pte_none(pte))
		return (softleaf_t){ .val = 0 };
	return pte_to_swp_entry(pte);
}

#ifdef CONFIG_TRANSPARENT_HUGEPAGE
static inline softleaf_t softleaf_from_pmd(pmd_t pmd)
{
	if (pmd_present(pmd) || pmd_none(pmd))
		return (softleaf_t){ .val = 0 };
	return pmd_to_swp_entry(pmd);
}

/* What pmd_trans_huge_lock() and split_huge_pmd() test in 6.12. */
static inline bool pmd_is_huge(pmd_t pmd)
{
	return is_swap_pmd(pmd) || pmd_trans_huge(pmd) || pmd_devmap(pmd);
}

#define pmd_is_migration_entry(pmd) is_pmd_migration_entry(pmd)
#endif

#define softleaf_has_pfn(e)		is_pfn_swap_entry(e)
#define softleaf_to_folio(e)		pfn_swap_entry_folio(e)
#define softleaf_is_hwpoison(e)		is_hwpoison_entry(e)
#define softleaf_is_migration(e)	is_migration_entry(e)
#define softleaf_is_marker(e)		is_pte_marker_entry(e)
/* Guard regions arrived in 6.13. */
#define softleaf_is_guard_marker(e)	false

#endif
