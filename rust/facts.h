/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one definition of the bits helpers.c decodes page-table entries and
 * VMAs into, shared by both languages:
 *
 * - C includes it (through helpers.h);
 * - Rust reads it at compile time (include_str!), and category.rs and
 *   walk.rs take their `Facts` and `VmaFacts` constants from it with
 *   c_define::bit(): a name that is missing, or not written as below, fails
 *   the Rust build (host and module alike), so the two cannot drift apart.
 *
 * Every line below must read `#define NAME (1 << N)` with one or more tabs
 * or spaces between the name and the value, and nothing after it but an
 * optional comment.
 */
#ifndef PAGEMAP_SCAN_FACTS_H
#define PAGEMAP_SCAN_FACTS_H

/* Facts of one page-table entry: struct Facts in category.rs (a u8). */
#define PMS_F_PRESENT		(1 << 0)
#define PMS_F_SWAP		(1 << 1)
#define PMS_F_UFFD		(1 << 2)	/* the uffd (-wp or -rwp) bit, or a uffd-wp marker */
#define PMS_F_SOFT_DIRTY	(1 << 3)
#define PMS_F_ZERO		(1 << 4)
#define PMS_F_FILE		(1 << 5)
#define PMS_F_GUARD		(1 << 6)	/* a guard-region marker */

/* Facts of a VMA: struct VmaFacts in walk.rs (an unsigned int). */
#define PMS_VMA_PFNMAP		(1 << 0)
#define PMS_VMA_SOFT_DIRTY	(1 << 1)
#define PMS_VMA_HUGETLB		(1 << 2)
#define PMS_VMA_UFFD_WP		(1 << 3)
#define PMS_VMA_WP_ASYNC	(1 << 4)	/* wp-async with markers */
#define PMS_VMA_UFFD_RWP	(1 << 5)	/* registered for read-write protection */
#define PMS_VMA_ANON		(1 << 6)	/* private anonymous: no file, no vm_ops */

/*
 * How a table of ptes is decoded: the loop of pms_pte_runs() that gives at
 * least the facts asked for (DecodeTier in category.rs, which chooses it).
 */
#define PMS_DECODE_UFFD		(1 << 0)	/* the uffd bit only */
#define PMS_DECODE_KIND		(1 << 1)	/* present, leaf or empty, and the uffd bit */
#define PMS_DECODE_FULL		(1 << 2)	/* every fact asked for */
#define PMS_DECODE_FULL_ANON	(1 << 3)	/* the same, no present pte file-backed */

/*
 * What pms_walk_thp() returns, besides 0 and a negative errno, to have the
 * THP split (the pmd lock released) and its ptes walked instead.
 */
#define PMS_WALK_SPLIT		(1 << 0)

/*
 * How pms_pte_entry() hands a page table's ptes to pms_walk_ptes(): as runs
 * of equal facts, a u16 each, the facts (PMS_F_*, below PMS_RUN_LEN) plus
 * (length - 1) * PMS_RUN_LEN; up to PMS_RUNS runs a call, their count in
 * the low bits of its last argument, with PMS_RUNS_LAST when the call
 * hands over the table's last run. A dense table is one run, one call.
 */
#define PMS_RUN_LEN		(1 << 7)
#define PMS_RUNS		(1 << 4)
#define PMS_RUNS_LAST		(1 << 8)

#endif
