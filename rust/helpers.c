// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of pagemap_scan: only what Rust cannot reach.
 *
 * - Wrappers of static inline functions and macros (locks, untagged_addr,
 *   access_ok, CPU features, kprobes) the kernel crate has no helper for.
 *   (What only 6.12's crate lacks is in compat/v6_12/helpers.c.)
 * - The page-walk ops table, whose callbacks are Rust functions (walk.rs),
 *   and decoders of architecture-specific page-table entries into the
 *   PMS_F_* facts that category.rs turns into PAGE_IS_* categories.
 * - The non-exported kernel functions, called through pointers that ksym.rs
 *   fills in at load.
 *
 * No policy lives here; the Rust side (sys.rs) declares every function.
 */
#include <linux/version.h>
#include <linux/anon_inodes.h>
#include <linux/mm.h>
#include <linux/fs.h>
#include <linux/huge_mm.h>
#include <linux/hugetlb.h>
#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/mmu_notifier.h>
#include <linux/pagewalk.h>
#include <linux/ptrace.h>
#include <linux/sched/task.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/static_call.h>
#include <linux/swapops.h>
#include <linux/uaccess.h>
#include <linux/userfaultfd_k.h>
/* Included after <linux/fs.h>: building this file proves the header's guard works. */
#include <uapi/linux/pagemap_scan.h>

/*
 * The kernels this is written for: 7.3.y, in whose page-table vocabulary this
 * file is written, and 6.12.y through compat/v6_12/pgtable.h. The mm API
 * changed too much in between to claim the versions in between untested.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 3, 0) && LINUX_VERSION_CODE < KERNEL_VERSION(7, 4, 0)
#include <linux/leafops.h>
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0) && LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
#include "compat/v6_12/pgtable.h"
#else
#error "pagemap_scan supports Linux 6.12.y and 7.3.y"
#endif

/*
 * The Rust side (args.rs, walk.rs, category.rs) assumes x86-64; it checks
 * its page and page-table sizes against the kernel's bindings at compile
 * time, and takes the facts below (facts.h) from the header's text.
 */
#ifndef CONFIG_X86_64
#error "pagemap_scan supports x86-64 only"
#endif

#include "helpers.h"

#ifdef CONFIG_ADDRESS_MASKING
unsigned long pms_untagged_addr(unsigned long addr)
{
	return untagged_addr(addr);
}
#endif

bool pms_ibt_enforced(void)
{
#ifdef CONFIG_X86_KERNEL_IBT
	return cpu_feature_enabled(X86_FEATURE_IBT);
#else
	return false;
#endif
}

bool pms_kcfi_enabled(void)
{
	return IS_ENABLED(CONFIG_CFI_CLANG);
}

/* Where a kprobe on @name lands, or 0 when it cannot be placed. */
unsigned long pms_kprobe_address(const char *name)
{
	struct kprobe kp = { .symbol_name = name };
	unsigned long addr;

	if (register_kprobe(&kp))
		return 0;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
	return addr;
}

/*
 * Non-exported kernel functions, each called only through a static call
 * that ksym.rs points at the function's address at load, before the device
 * exists; a missing one refuses the load. A static call is patched into a
 * direct call at every call site (a direct jump where call sites cannot be
 * patched), so no call into the kernel is indirect: x86 IBT does not require
 * an ENDBR at the target, and the functions whose ENDBR the kernel sealed at
 * boot are reachable. Each is declared from the kernel's own prototype
 * (DEFINE_STATIC_CALL takes typeof(func)), so a changed prototype fails the
 * build, not the kernel.
 */
#define PMS_KSYM_FUNC(sym)							\
	DEFINE_STATIC_CALL_NULL(pms_##sym, sym);				\
	static void pms_set_##sym(unsigned long addr)				\
	{									\
		static_call_update(pms_##sym, (typeof(&sym))addr);		\
	}
#define PMS_KSYM_DATA(sym)							\
	static typeof(sym) *pms_##sym;						\
	static void pms_set_##sym(unsigned long addr)				\
	{									\
		pms_##sym = (typeof(sym) *)addr;				\
	}

PMS_KSYM_FUNC(kallsyms_lookup_name)
PMS_KSYM_FUNC(walk_page_range)
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 3, 0)
PMS_KSYM_FUNC(pte_offset_map_lock)
#else
PMS_KSYM_FUNC(__pte_offset_map_lock)
#define pms_pte_offset_map_lock pms___pte_offset_map_lock
#endif
PMS_KSYM_FUNC(vm_normal_page)
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
PMS_KSYM_FUNC(__pmd_trans_huge_lock)
PMS_KSYM_FUNC(vm_normal_page_pmd)
PMS_KSYM_DATA(huge_zero_pfn)
PMS_KSYM_FUNC(pmdp_invalidate_ad)
PMS_KSYM_FUNC(__split_huge_pmd)
#endif
#ifdef CONFIG_USERFAULTFD
PMS_KSYM_FUNC(userfaultfd_wp_async)
PMS_KSYM_FUNC(userfaultfd_wp_unpopulated)
PMS_KSYM_FUNC(uffd_wp_range)
#endif
/*
 * <asm/tlbflush.h> declares it only for built-in code (#ifndef MODULE): its
 * prototype is restated here, one of two declarations not taken from the kernel.
 */
void flush_tlb_mm_range(struct mm_struct *mm, unsigned long start, unsigned long end,
			unsigned int stride_shift, bool freed_tables);
PMS_KSYM_FUNC(flush_tlb_mm_range)
/* mm/internal.h's, which a module cannot include: restated as well. */
extern unsigned long highest_memmap_pfn;
PMS_KSYM_DATA(highest_memmap_pfn)
#ifdef CONFIG_HUGETLB_PAGE
PMS_KSYM_FUNC(huge_pte_alloc)
#endif
#ifdef CONFIG_MMU_NOTIFIER
PMS_KSYM_FUNC(__mmu_notifier_invalidate_range_start)
PMS_KSYM_FUNC(__mmu_notifier_invalidate_range_end)
#ifdef CONFIG_LOCKDEP
PMS_KSYM_DATA(__mmu_notifier_invalidate_range_start_map)
#endif
#endif
PMS_KSYM_FUNC(pidfd_get_task)
PMS_KSYM_FUNC(mm_access)

#define PMS_FUNC(sym) { #sym, pms_set_##sym, true }
#define PMS_DATA(sym) { #sym, pms_set_##sym, false }
static const struct pms_ksym_slot pms_ksym_table[] = {
	PMS_FUNC(walk_page_range),
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 3, 0)
	PMS_FUNC(pte_offset_map_lock),
#else
	PMS_FUNC(__pte_offset_map_lock),
#endif
	PMS_FUNC(vm_normal_page),
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	PMS_FUNC(__pmd_trans_huge_lock),
	PMS_FUNC(vm_normal_page_pmd),
	PMS_DATA(huge_zero_pfn),
	PMS_FUNC(pmdp_invalidate_ad),
	PMS_FUNC(__split_huge_pmd),
#endif
#ifdef CONFIG_USERFAULTFD
	PMS_FUNC(userfaultfd_wp_async),
	PMS_FUNC(userfaultfd_wp_unpopulated),
	PMS_FUNC(uffd_wp_range),
#endif
	PMS_FUNC(flush_tlb_mm_range),
	PMS_DATA(highest_memmap_pfn),
#ifdef CONFIG_HUGETLB_PAGE
	PMS_FUNC(huge_pte_alloc),
#endif
#ifdef CONFIG_MMU_NOTIFIER
	PMS_FUNC(__mmu_notifier_invalidate_range_start),
	PMS_FUNC(__mmu_notifier_invalidate_range_end),
#ifdef CONFIG_LOCKDEP
	PMS_DATA(__mmu_notifier_invalidate_range_start_map),
#endif
#endif
	PMS_FUNC(pidfd_get_task),
	PMS_FUNC(mm_access),
};

const struct pms_ksym_slot *pms_ksym_slots(size_t *len)
{
	*len = ARRAY_SIZE(pms_ksym_table);
	return pms_ksym_table;
}

/* kallsyms_lookup_name(), once pms_set_kallsyms_lookup_name() gave its address. */
void pms_set_kallsyms_lookup(unsigned long addr)
{
	pms_set_kallsyms_lookup_name(addr);
}

unsigned long pms_kallsyms_lookup(const char *name)
{
	return static_call(pms_kallsyms_lookup_name)(name);
}

/* Whether calls through the static calls above are direct (see above). */
bool pms_direct_calls(void)
{
	return IS_ENABLED(CONFIG_HAVE_STATIC_CALL);
}

/* Attach by pidfd: the rule of /proc/PID/pagemap, with its non-exported helpers. */
struct task_struct *pms_pidfd_get_task(int pidfd)
{
	unsigned int flags;

	return static_call(pms_pidfd_get_task)(pidfd, &flags);
}

struct mm_struct *pms_mm_access(struct task_struct *task, unsigned int mode)
{
	return static_call(pms_mm_access)(task, mode);
}

void pms_put_task(struct task_struct *task)
{
	put_task_struct(task);
}

/*
 * The fd attach returns: a new file with the file operations of @like (an
 * open file of the device, so they hold the module: fops->owner) and @priv
 * as its private data, read-only and close-on-exec as an open of
 * /proc/PID/pagemap. The fd is reserved before the file is made: on error
 * no file was made and @priv is still the caller's.
 */
int pms_new_fd(const struct file *like, void *priv)
{
	return anon_inode_getfd("[pagemap_scan]", like->f_op, priv, O_RDONLY | O_CLOEXEC);
}

#ifdef CONFIG_MMU_NOTIFIER
/*
 * mmu_notifier_invalidate_range_start/end(), inline on non-exported functions
 * and, with lockdep, on the non-exported lockdep map that C acquires around
 * every start, notifiers or not: lockdep learns of the scan's invalidations
 * as it does of C's. The map is the kernel's own (resolved at load, as the
 * functions are), valid for the kernel's lifetime.
 */
static void pms_mmu_notifier_start(struct mmu_notifier_range *range)
{
	might_sleep();
#ifdef CONFIG_LOCKDEP
	lock_map_acquire(pms___mmu_notifier_invalidate_range_start_map);
#endif
	if (mm_has_notifiers(range->mm)) {
		range->flags |= MMU_NOTIFIER_RANGE_BLOCKABLE;
		static_call(pms___mmu_notifier_invalidate_range_start)(range);
	}
#ifdef CONFIG_LOCKDEP
	lock_map_release(pms___mmu_notifier_invalidate_range_start_map);
#endif
}

static void pms_mmu_notifier_end(struct mmu_notifier_range *range)
{
	if (mmu_notifier_range_blockable(range))
		might_sleep();
	if (mm_has_notifiers(range->mm))
		static_call(pms___mmu_notifier_invalidate_range_end)(range);
}
#else
#define pms_mmu_notifier_start mmu_notifier_invalidate_range_start
#define pms_mmu_notifier_end mmu_notifier_invalidate_range_end
#endif


/* flush_tlb_range(), a macro on the non-exported flush_tlb_mm_range(), as it passes it. */
void pms_flush_tlb_range(struct vm_area_struct *vma, unsigned long start, unsigned long end)
{
	unsigned int shift = PAGE_SHIFT;

#ifdef CONFIG_HUGETLB_PAGE
	if (vma->vm_flags & VM_HUGETLB)
		shift = huge_page_shift(hstate_vma(vma));
#endif
	static_call(pms_flush_tlb_mm_range)(vma->vm_mm, start, end, shift, true);
}

/* kmalloc_array(n, size, GFP_KERNEL): the bounce buffer, allocated as C's. */
void *pms_kmalloc_array(size_t n, size_t size)
{
	return kmalloc_array(n, size, GFP_KERNEL);
}

bool pms_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

/* The PMS_VMA_* facts of a VMA; inline in the test_walk op, as C's are in its own. */
static __always_inline unsigned int pms_vma_facts(struct vm_area_struct *vma)
{
	unsigned int facts = 0;

	if (vma->vm_flags & VM_PFNMAP)
		facts |= PMS_VMA_PFNMAP;
	if (vma->vm_flags & VM_SOFTDIRTY)
		facts |= PMS_VMA_SOFT_DIRTY;
	if (is_vm_hugetlb_page(vma))
		facts |= PMS_VMA_HUGETLB;
	if (vma_is_anonymous(vma) && !vma->vm_file)
		facts |= PMS_VMA_ANON;
#ifdef CONFIG_USERFAULTFD
	/*
	 * userfaultfd_wp() and userfaultfd_rwp() as the vm_flags bits they
	 * test: 7.3's build vma_flags_t masks, which gcc keeps on the stack,
	 * behind a stack canary, in this op called once a VMA.
	 */
	if (vma->vm_flags & VM_UFFD_WP) {
		facts |= PMS_VMA_UFFD_WP;
		/* userfaultfd_wp_use_markers(), which is inline on non-exported functions. */
		if (static_call(pms_userfaultfd_wp_async)(vma) &&
		    (!vma_is_anonymous(vma) ||
		     static_call(pms_userfaultfd_wp_unpopulated)(vma)))
			facts |= PMS_VMA_WP_ASYNC;
	}
	if (IS_ENABLED(CONFIG_ARCH_HAS_PTE_PROTNONE) && (vma->vm_flags & VM_UFFD_RWP))
		facts |= PMS_VMA_UFFD_RWP;
#endif
	return facts;
}

/* A migration (or device) entry of a page that is not anonymous. */
static __always_inline bool pms_leaf_is_file(softleaf_t entry)
{
	return softleaf_has_pfn(entry) && !folio_test_anon(softleaf_to_folio(entry));
}

/* Neither empty nor present: swap, migration, hwpoison or a marker. */
static __always_inline bool pms_pte_is_leaf(pte_t pte)
{
	return !pte_none(pte) && !pte_present(pte);
}

/*
 * The facts of a present or leaf pte that do not depend on what maps it;
 * soft-dirty and zero only if in @want.
 */
static __always_inline u8 pms_pte_common_facts(pte_t pte, u8 want)
{
	u8 facts = 0;

	if (pte_present(pte)) {
		facts |= PMS_F_PRESENT;
		if ((want & PMS_F_SOFT_DIRTY) && pte_soft_dirty(pte))
			facts |= PMS_F_SOFT_DIRTY;
		if ((want & PMS_F_ZERO) && is_zero_pfn(pte_pfn(pte)))
			facts |= PMS_F_ZERO;
	} else if (pms_pte_is_leaf(pte)) {
		facts |= PMS_F_SWAP;
		if (pte_swp_uffd_any(pte))
			facts |= PMS_F_UFFD;
		if ((want & PMS_F_SOFT_DIRTY) && pte_swp_soft_dirty(pte))
			facts |= PMS_F_SOFT_DIRTY;
	}
	return facts;
}

/*
 * Whether a present pte maps a page that is not anonymous: C's
 * vm_normal_page() and !PageAnon(). vm_normal_page() of a pte that is not
 * special is pfn_to_page() of its pfn when the pfn is at most
 * highest_memmap_pfn (6.12 and 7.3 alike; above it, a bad pte it reports):
 * done here, the call, the costliest part of a scan of file pages, is left
 * to special ptes (the zero page, raw-PFN and find_special_page mappings)
 * and bad ones.
 */
static __always_inline bool pms_pte_maps_file(struct vm_area_struct *vma, unsigned long addr,
					      pte_t pte)
{
	struct page *page;

	if (likely(!pte_special(pte) && pte_pfn(pte) <= READ_ONCE(*pms_highest_memmap_pfn)))
		page = pte_page(pte);
	else
		page = static_call(pms_vm_normal_page)(vma, addr, pte);
	return page && !PageAnon(page);
}

/* @present_file: whether a present pte may map a file page (not in an anonymous VMA). */
static __always_inline u8 pms_pte_facts_one(struct vm_area_struct *vma, unsigned long addr,
					    pte_t pte, u8 want, bool present_file)
{
	u8 facts = pms_pte_common_facts(pte, want);

	if (facts & PMS_F_PRESENT) {
		if (pte_uffd(pte))
			facts |= PMS_F_UFFD;
		if ((want & PMS_F_FILE) && present_file && pms_pte_maps_file(vma, addr, pte))
			facts |= PMS_F_FILE;
	} else if (facts & PMS_F_SWAP) {
		softleaf_t entry = softleaf_from_pte(pte);

		/* As C: a guard marker is never file-backed. */
		if (softleaf_is_guard_marker(entry))
			facts |= PMS_F_GUARD;
		else if ((want & PMS_F_FILE) && pms_leaf_is_file(entry))
			facts |= PMS_F_FILE;
	}
	return facts;
}

/* Only whether a pte carries the uffd bit (a uffd-wp marker counts). */
static __always_inline u8 pms_pte_uffd_facts(pte_t pte)
{
	if (pte_present(pte))
		return pte_uffd(pte) ? PMS_F_UFFD : 0;
	return pte_swp_uffd_any(pte) ? PMS_F_UFFD : 0;
}

/* Only whether a pte is present, a leaf or empty, and its uffd bit. */
static __always_inline u8 pms_pte_lean_facts(pte_t pte)
{
	if (pte_present(pte))
		return PMS_F_PRESENT | (pte_uffd(pte) ? PMS_F_UFFD : 0);
	if (pte_none(pte))
		return 0;
	return PMS_F_SWAP | (pte_swp_uffd_any(pte) ? PMS_F_UFFD : 0);
}

/* A walk's private state (walk->private): see the walk, below. */
struct pms_walk {
	void *scan;		/* the Rust side's state (struct Scan) */
	u8 want;		/* the facts to decode */
	unsigned int tier;	/* how to decode ptes (PMS_DECODE_*), set per VMA */
	bool wp;		/* write-protecting: lazy MMU mode, hugetlb locks */
};

/* Whether the seven ptes from @ptep are all zero (empty). */
static __always_inline bool pms_ptes_zero7(pte_t *ptep)
{
	return !(native_pte_val(ptep_get(ptep)) | native_pte_val(ptep_get(ptep + 1)) |
		 native_pte_val(ptep_get(ptep + 2)) | native_pte_val(ptep_get(ptep + 3)) |
		 native_pte_val(ptep_get(ptep + 4)) | native_pte_val(ptep_get(ptep + 5)) |
		 native_pte_val(ptep_get(ptep + 6)));
}

/*
 * A page table's runs of equal facts, handed to Rust (pms_walk_ptes())
 * PMS_RUNS at a time: a small buffer on the stack, where one byte a pte
 * would take PTRS_PER_PTE.
 */
struct pms_runs {
	unsigned int n;		/* closed runs in @run */
	unsigned int first;	/* the index of run[0]'s first pte */
	unsigned int next;	/* the index of the open run's first pte */
	u16 run[PMS_RUNS];
};

/*
 * Hands the closed runs over (@last: the table's last, PMS_RUNS_LAST);
 * Rust's answer: 0 to go on, else the walk stops there (the output is full,
 * or an error).
 */
static __always_inline int pms_runs_hand(struct pms_walk *w, struct vm_area_struct *vma,
					 pte_t *ptep, unsigned long addr, struct pms_runs *r,
					 unsigned int last)
{
	unsigned int first = r->first;

	r->first = r->next;
	return pms_walk_ptes(w->scan, vma, ptep + first, addr + first * PAGE_SIZE, r->run,
			     r->n | last);
}

/*
 * The decoders above are __always_inline: gcc (Debian's kernels) otherwise
 * makes each one a call, once per pte.
 *
 * Decodes ptes [0, n) with @decode(pte, index) into runs of equal facts.
 * The open run's facts are @same, one copy a byte, and it is @len ptes long
 * so far (at least one: the first pte opens it). Eight ptes a loop
 * iteration are decoded into a byte each and compared with @same as one
 * word: in a dense table that and the loop's own compare and branch are
 * all a pte costs beyond its decoding. A word that differs closes runs where its bytes change (PMS_RUNS_WORD; a closed run
 * that fills the buffer has it handed to Rust, which may stop the walk).
 * With @skip_empty, eight all-zero entries (a sparse table) are eight empty
 * ones, which have no facts whatever is asked: tested as a group when the
 * first is not present (a test the decoder repeats: gcc merges the two, so
 * a dense table pays nothing; clang tests the zero first and a dense table
 * pays two instructions every eight entries, which is why the uffd-bit loop,
 * where an empty pte is as cheap to decode as to skip, does not do it).
 */
#define PMS_CLOSE_RUN()								\
	do {									\
		r.run[r.n++] = (same & 0xff) + (len - 1) * PMS_RUN_LEN;		\
		r.next += len;							\
		if (r.n == PMS_RUNS) {						\
			ret = pms_runs_hand(w, vma, ptep, addr, &r, 0);		\
			r.n = 0;						\
			if (ret)						\
				return ret;					\
		}								\
	} while (0)
/* The facts of eight ptes, a byte each from the lowest, in @word. */
#define PMS_RUNS_WORD(word)							\
	do {									\
		u64 w_ = (word), mask_ = ~0ULL, diff_;				\
		unsigned int left_ = 8;						\
										\
		while ((diff_ = (w_ ^ same) & mask_)) {				\
			unsigned int k_ = __ffs64(diff_) / 8;			\
										\
			len += k_;						\
			PMS_CLOSE_RUN();					\
			w_ >>= 8 * k_;						\
			mask_ >>= 8 * k_;					\
			left_ -= k_;						\
			same = (w_ & 0xff) * 0x0101010101010101ULL;		\
			len = 0;						\
		}								\
		len += left_;							\
	} while (0)
#define PMS_DECODE_PTES(decode, skip_empty)					\
	do {									\
		/* The first pte opens the first run (n > 0). */		\
		same = decode(ptep_get(ptep), 0) * 0x0101010101010101ULL;	\
		len = 1;							\
		for (i = 1; i + 8 <= n; i += 8) {				\
			pte_t first = ptep_get(ptep + i);			\
			u8 oct[8] __uninitialized;				\
			u64 word;						\
										\
			if ((skip_empty) && !pte_present(first) &&		\
			    !native_pte_val(first) &&				\
			    pms_ptes_zero7(ptep + i + 1)) {			\
				word = 0;					\
			} else {						\
				oct[0] = decode(first, i);			\
				oct[1] = decode(ptep_get(ptep + i + 1), i + 1);	\
				oct[2] = decode(ptep_get(ptep + i + 2), i + 2);	\
				oct[3] = decode(ptep_get(ptep + i + 3), i + 3);	\
				oct[4] = decode(ptep_get(ptep + i + 4), i + 4);	\
				oct[5] = decode(ptep_get(ptep + i + 5), i + 5);	\
				oct[6] = decode(ptep_get(ptep + i + 6), i + 6);	\
				oct[7] = decode(ptep_get(ptep + i + 7), i + 7);	\
				/* Stored and loaded as one: gcc would assemble	\
				 * the word in a register, several instructions	\
				 * a byte. */					\
				barrier_data(oct);				\
				memcpy(&word, oct, sizeof(word));		\
			}							\
			if (word == same) {					\
				len += 8;					\
				continue;					\
			}							\
			PMS_RUNS_WORD(word);					\
		}								\
		for (; i < n; i++) {						\
			u8 f_ = decode(ptep_get(ptep + i), i);			\
										\
			if (f_ != (u8)same) {					\
				PMS_CLOSE_RUN();				\
				same = f_ * 0x0101010101010101ULL;		\
				len = 0;					\
			}							\
			len++;							\
		}								\
	} while (0)
#define PMS_UFFD(pte, j)	pms_pte_uffd_facts(pte)
#define PMS_KIND(pte, j)	pms_pte_lean_facts(pte)
#define PMS_FULL(pte, j)	pms_pte_facts_one(vma, addr + (j) * PAGE_SIZE, pte, want, true)
#define PMS_FULL_ANON(pte, j)	pms_pte_facts_one(vma, addr + (j) * PAGE_SIZE, pte, want, false)

/*
 * Decodes @n ptes from @ptep (mapped and locked) for addresses from @addr
 * with the loop @w->tier (a PMS_DECODE_* that Rust chose,
 * Facts::decode_tier()): the uffd bit alone (a GET of written pages), the
 * kind of entry too, or the @w->want facts (Facts::needed_for()); and hands
 * the runs to Rust. Returns Rust's answer: 0, or why the walk stops.
 */
static __always_inline int pms_pte_runs(struct pms_walk *w, struct vm_area_struct *vma,
					unsigned long addr, pte_t *ptep, unsigned int n)
{
	unsigned int i, len;
	u64 same;
	struct pms_runs r __uninitialized;
	u8 want = w->want;
	int ret;

	r.n = 0;
	r.first = 0;
	r.next = 0;
	switch (w->tier) {
	case PMS_DECODE_UFFD:
		PMS_DECODE_PTES(PMS_UFFD, false);
		break;
	case PMS_DECODE_KIND:
		PMS_DECODE_PTES(PMS_KIND, true);
		break;
	case PMS_DECODE_FULL_ANON:
		PMS_DECODE_PTES(PMS_FULL_ANON, true);
		break;
	default:
		PMS_DECODE_PTES(PMS_FULL, true);
	}
	/* The open run is the last; PMS_CLOSE_RUN left room for it. */
	r.run[r.n++] = (same & 0xff) + (len - 1) * PMS_RUN_LEN;
	return pms_runs_hand(w, vma, ptep, addr, &r, PMS_RUNS_LAST);
}

/*
 * make_uffd_wp_pte() of ptes @index..@index + @n of a locked table, for
 * addresses from @addr: the uffd bit, a marker on an empty one. The caller
 * flushes the TLB once for the table (walk.rs).
 */
void pms_pte_make_wp(struct vm_area_struct *vma, unsigned long addr, pte_t *table,
		     unsigned int index, unsigned int n)
{
	pte_t *pte = table + index;

	for (; n; n--, pte++, addr += PAGE_SIZE) {
		pte_t ptent = ptep_get(pte);

		if (pte_present(ptent)) {
			pte_t old = ptep_modify_prot_start(vma, addr, pte);

			ptep_modify_prot_commit(vma, addr, pte, old, pte_mkuffd(old));
		} else if (pte_none(ptent)) {
			set_pte_at(vma->vm_mm, addr, pte, make_pte_marker(PTE_MARKER_UFFD_WP));
		} else {
			set_pte_at(vma->vm_mm, addr, pte, pte_swp_mkuffd(ptent));
		}
	}
}

/* Decodes a locked THP pmd: the @want facts (Facts::needed_for()), and maybe more. */
static __always_inline u8 pms_thp_facts(struct vm_area_struct *vma, unsigned long addr,
					pmd_t *pmdp, u8 want)
{
	u8 facts = 0;
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	pmd_t pmd = *pmdp;

	if (pmd_none(pmd))
		return 0;
	if (pmd_present(pmd)) {
		facts |= PMS_F_PRESENT;
		if (pmd_uffd(pmd))
			facts |= PMS_F_UFFD;
		if ((want & PMS_F_SOFT_DIRTY) && pmd_soft_dirty(pmd))
			facts |= PMS_F_SOFT_DIRTY;
		/* is_huge_zero_pmd(), inline on a non-exported variable */
		if ((want & PMS_F_ZERO) &&
		    READ_ONCE(*pms_huge_zero_pfn) == (pmd_pfn(pmd) & ~(HPAGE_PMD_NR - 1)))
			facts |= PMS_F_ZERO;
		if (want & PMS_F_FILE) {
			struct page *page = static_call(pms_vm_normal_page_pmd)(vma, addr, pmd);

			if (page && !PageAnon(page))
				facts |= PMS_F_FILE;
		}
	} else {
		facts |= PMS_F_SWAP;
		if (pmd_swp_uffd(pmd))
			facts |= PMS_F_UFFD;
		if ((want & PMS_F_SOFT_DIRTY) && pmd_swp_soft_dirty(pmd))
			facts |= PMS_F_SOFT_DIRTY;
		if ((want & PMS_F_FILE) && pms_leaf_is_file(softleaf_from_pmd(pmd)))
			facts |= PMS_F_FILE;
	}
#endif
	return facts;
}

/* make_uffd_wp_pmd() of a locked THP pmd; the caller flushes the TLB. */
void pms_thp_make_wp(struct vm_area_struct *vma, unsigned long addr, pmd_t *pmdp)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	pmd_t pmd = *pmdp;

	if (pmd_present(pmd)) {
		pmd_t old = static_call(pms_pmdp_invalidate_ad)(vma, addr, pmdp);

		set_pmd_at(vma->vm_mm, addr, pmdp, pmd_mkuffd(old));
	} else if (pmd_is_migration_entry(pmd)) {
		set_pmd_at(vma->vm_mm, addr, pmdp, pmd_swp_mkuffd(pmd));
	}
#endif
}

#ifdef CONFIG_HUGETLB_PAGE
/*
 * Decodes a hugetlb entry: the @want facts (Facts::needed_for()), and maybe
 * more. C reports every present hugetlb page as file-backed: PageAnon() is
 * false for hugetlb pages, even private ones, and they cannot be swapped.
 */
static __always_inline u8 pms_hugetlb_facts(struct vm_area_struct *vma, unsigned long addr,
					    pte_t *ptep, u8 want)
{
	u8 facts;
	pte_t pte = huge_ptep_get(vma->vm_mm, addr, ptep);

	facts = pms_pte_common_facts(pte, want);
	if (facts & PMS_F_PRESENT) {
		if (huge_pte_uffd(pte))
			facts |= PMS_F_UFFD;
		if ((want & PMS_F_FILE) && !PageAnon(pte_page(pte)))
			facts |= PMS_F_FILE;
	}
	return facts;
}

/* The locks C holds to write-protect a hugetlb entry. */
spinlock_t *pms_hugetlb_lock(struct vm_area_struct *vma, pte_t *ptep)
{
	i_mmap_lock_write(vma->vm_file->f_mapping);
	return huge_pte_lock(hstate_vma(vma), vma->vm_mm, ptep);
}

void pms_hugetlb_unlock(struct vm_area_struct *vma, spinlock_t *ptl)
{
	spin_unlock(ptl);
	i_mmap_unlock_write(vma->vm_file->f_mapping);
}

unsigned long pms_hugetlb_page_size(struct vm_area_struct *vma)
{
	return huge_page_size(hstate_vma(vma));
}

/* make_uffd_wp_huge_pte(). */
static void pms_make_uffd_wp_huge_pte(struct vm_area_struct *vma, unsigned long addr,
				      pte_t *ptep, pte_t ptent)
{
	unsigned long psize = huge_page_size(hstate_vma(vma));
	softleaf_t entry;

	if (huge_pte_none(ptent)) {
		set_huge_pte_at(vma->vm_mm, addr, ptep, make_pte_marker(PTE_MARKER_UFFD_WP), psize);
		return;
	}
	entry = softleaf_from_pte(ptent);
	if (softleaf_is_hwpoison(entry) || softleaf_is_marker(entry))
		return;
	if (softleaf_is_migration(entry)) {
		set_huge_pte_at(vma->vm_mm, addr, ptep, pte_swp_mkuffd(ptent), psize);
	} else {
		pte_t old = huge_ptep_modify_prot_start(vma, addr, ptep);

		huge_ptep_modify_prot_commit(vma, addr, ptep, old, huge_pte_mkuffd(old));
	}
}

/*
 * Write-protects the whole hugetlb page at @addr, locked by pms_hugetlb_lock();
 * the caller flushes the TLB. Returns whether the entry was populated (an
 * empty one has no TLB entry to flush).
 */
bool pms_hugetlb_make_wp(struct vm_area_struct *vma, unsigned long addr, pte_t *ptep)
{
	pte_t pte = huge_ptep_get(vma->vm_mm, addr, ptep);

	pms_make_uffd_wp_huge_pte(vma, addr, ptep, pte);
	return !huge_pte_none(pte);
}

/*
 * huge_pte_alloc() of the entry of @addr: an unpopulated hugetlb range is
 * write-protected with markers in place, as the C scan does (uffd_wp_range()
 * would take the hugetlb VMA lock the walker already holds for reading).
 */
pte_t *pms_huge_pte_alloc(struct vm_area_struct *vma, unsigned long addr)
{
	return static_call(pms_huge_pte_alloc)(vma->vm_mm, vma, addr,
					       huge_page_size(hstate_vma(vma)));
}
#else
/* Never called: without hugetlb there is no hugetlb_entry op and no hugetlb VMA. */
spinlock_t *pms_hugetlb_lock(struct vm_area_struct *vma, pte_t *ptep) { return NULL; }
void pms_hugetlb_unlock(struct vm_area_struct *vma, spinlock_t *ptl) {}
unsigned long pms_hugetlb_page_size(struct vm_area_struct *vma) { return 0; }
bool pms_hugetlb_make_wp(struct vm_area_struct *vma, unsigned long addr, pte_t *ptep)
{
	return false;
}
pte_t *pms_huge_pte_alloc(struct vm_area_struct *vma, unsigned long addr) { return NULL; }
#endif /* CONFIG_HUGETLB_PAGE */

/* uffd_wp_range(vma, start, len, true): markers over an unpopulated range. */
long pms_uffd_wp_range(struct vm_area_struct *vma, unsigned long start, unsigned long len)
{
#ifdef CONFIG_USERFAULTFD
	return static_call(pms_uffd_wp_range)(vma, start, len, true);
#else
	return 0;
#endif
}

/*
 * The walk. The ops lock and decode entries as the Rust side asked (@want
 * and @tier, from Facts::needed_for() and Facts::decode_tier(); the locks
 * write-protection needs only in a write-protecting walk) and hand the
 * facts, the walk's state and VMA to its callbacks (walk.rs), which decide
 * everything: what matches, what is reported and protected, the TLB
 * flushes. An entry is locked and unlocked by the same op, around one call
 * into Rust (a page table: one every PMS_RUNS runs of equal facts, one for a
 * dense table): each crossing between the languages is a call that C's own
 * pagemap_scan_pmd_entry() does not make (Documentation/performance.rst).
 * (struct pms_walk, the walk's private state, is above.)
 */

static int pms_op_test_walk(unsigned long start, unsigned long end, struct mm_walk *walk)
{
	struct pms_walk *w = walk->private;

	return pms_walk_test_vma(w->scan, pms_vma_facts(walk->vma), &w->tier);
}

/*
 * A THP pmd: locked (pmd_trans_huge_lock()), decoded and handed over whole;
 * -ENOENT when the pmd maps no THP (any more), or when the Rust side asked
 * for it to be split (PMS_WALK_SPLIT) and the split was done. Inline: a
 * call here is one more per THP (clang made one).
 */
static __always_inline int pms_thp_entry(struct pms_walk *w, struct vm_area_struct *vma,
					 pmd_t *pmd, unsigned long start, unsigned long end)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	spinlock_t *ptl;
	int ret;

	if (!pmd_is_huge(pmdp_get_lockless(pmd)))
		return -ENOENT;
	ptl = static_call(pms___pmd_trans_huge_lock)(pmd, vma);
	if (!ptl)
		return -ENOENT;
	ret = pms_walk_thp(w->scan, vma, pmd, start, end, pms_thp_facts(vma, start, pmd, w->want));
	spin_unlock(ptl);
	if (ret != PMS_WALK_SPLIT)
		return ret;
	/* split_huge_pmd(), a macro on the non-exported __split_huge_pmd(). */
	if (pmd_is_huge(pmdp_get_lockless(pmd)))
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 3, 0)
		static_call(pms___split_huge_pmd)(vma, pmd, start, false);
#else
		static_call(pms___split_huge_pmd)(vma, pmd, start, false, NULL);
#endif
#endif
	return -ENOENT;
}

/*
 * The ptes under a pmd, decoded and handed over as runs of equal facts
 * (pms_pte_runs()), under one lock and one lazy MMU section. Out of line, as
 * the decode loops would otherwise weigh on every THP's call.
 */
static noinline int pms_pte_entry(struct pms_walk *w, struct vm_area_struct *vma, pmd_t *pmd,
				  unsigned long start, unsigned long end, struct mm_walk *walk)
{
	spinlock_t *ptl;
	pte_t *pte;
	int ret;

	pte = static_call(pms_pte_offset_map_lock)(vma->vm_mm, pmd, start, &ptl);
	if (!pte) {
		/* The page table changed under us: look at the pmd again. */
		walk->action = ACTION_AGAIN;
		return 0;
	}
	if (w->wp)
		lazy_mmu_mode_enable();
	ret = pms_pte_runs(w, vma, start, pte, (end - start) >> PAGE_SHIFT);
	if (w->wp)
		lazy_mmu_mode_disable();
	pte_unmap_unlock(pte, ptl);
	cond_resched();
	return ret;
}

/* A THP as a whole, else the ptes under the pmd. */
static int pms_op_pmd_entry(pmd_t *pmd, unsigned long start, unsigned long end,
			    struct mm_walk *walk)
{
	struct pms_walk *w = walk->private;
	int ret;

	ret = pms_thp_entry(w, walk->vma, pmd, start, end);
	if (ret != -ENOENT)
		return ret;
	return pms_pte_entry(w, walk->vma, pmd, start, end, walk);
}

static int pms_op_pte_hole(unsigned long start, unsigned long end, int depth,
			   struct mm_walk *walk)
{
	struct pms_walk *w = walk->private;

	return pms_walk_hole(w->scan, walk->vma, start, end);
}

#ifdef CONFIG_HUGETLB_PAGE
/* Write-protecting: decoded under the locks C takes. Out of line (below). */
static noinline int pms_hugetlb_entry_wp(struct pms_walk *w, struct vm_area_struct *vma,
					 pte_t *pte, unsigned long start, unsigned long end)
{
	spinlock_t *ptl = pms_hugetlb_lock(vma, pte);
	int ret;

	ret = pms_walk_hugetlb(w->scan, vma, pte, start, end,
			       pms_hugetlb_facts(vma, start, pte, w->want));
	pms_hugetlb_unlock(vma, ptl);
	return ret;
}

/*
 * Decoded unlocked, as C's short route, unless write-protecting; the locked
 * path is a call of its own, so that this one saves no registers for it.
 */
static int pms_op_hugetlb_entry(pte_t *pte, unsigned long hmask, unsigned long start,
				unsigned long end, struct mm_walk *walk)
{
	struct pms_walk *w = walk->private;

	if (w->wp)
		return pms_hugetlb_entry_wp(w, walk->vma, pte, start, end);
	return pms_walk_hugetlb(w->scan, walk->vma, pte, start, end,
				pms_hugetlb_facts(walk->vma, start, pte, w->want));
}
#endif

static const struct mm_walk_ops pms_scan_ops = {
	.test_walk = pms_op_test_walk,
	.pmd_entry = pms_op_pmd_entry,
	.pte_hole = pms_op_pte_hole,
#ifdef CONFIG_HUGETLB_PAGE
	.hugetlb_entry = pms_op_hugetlb_entry,
#endif
};

int pms_walk_page_range(struct mm_struct *mm, unsigned long start, unsigned long end,
			void *scan, u8 want)
{
	struct pms_walk w = { .scan = scan, .want = want };

	return static_call(pms_walk_page_range)(mm, start, end, &pms_scan_ops, &w);
}

/*
 * A write-protecting walk: the protection change of [start, end) is announced
 * to mmu notifiers around it. As in C's do_pagemap_scan(), the range is set
 * anew per chunk, from the chunk's start to the end of the scan (the walk
 * may stop before it); what nests inside (a THP split, uffd_wp_range() over
 * holes) is the kernel's own. The kselftest's notifier tests compare these
 * calls with C's.
 */
int pms_walk_page_range_wp(struct mm_struct *mm, unsigned long start, unsigned long end,
			   void *scan, u8 want)
{
	struct pms_walk w = { .scan = scan, .want = want, .wp = true };
	struct mmu_notifier_range range;
	int ret;

	mmu_notifier_range_init(&range, MMU_NOTIFY_PROTECTION_VMA, 0, mm, start, end);
	pms_mmu_notifier_start(&range);
	ret = static_call(pms_walk_page_range)(mm, start, end, &pms_scan_ops, &w);
	pms_mmu_notifier_end(&range);
	return ret;
}
