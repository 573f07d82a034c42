// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of pagemap_scan: only what Rust cannot reach on Linux 6.12.
 *
 * - The misc device: 6.12's kernel crate has no miscdevice or file
 *   abstraction, so the file_operations here are trampolines into Rust.
 * - Wrappers of static inline functions and macros (mm reference counts,
 *   locks, untagged_addr, access_ok, CPU features, kprobes).
 * - The page-walk ops table, whose callbacks are Rust functions (walk.rs),
 *   and decoders of architecture-specific page-table entries into the
 *   PMS_F_* facts that category.rs turns into PAGE_IS_* categories.
 * - The non-exported kernel functions, called through pointers that ksym.rs
 *   fills in at load.
 *
 * No policy lives here; the Rust side (sys.rs) declares every function.
 */
#include <linux/mm.h>
#include <linux/fs.h>
#include <linux/huge_mm.h>
#include <linux/hugetlb.h>
#include <linux/kprobes.h>
#include <linux/miscdevice.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/pagewalk.h>
#include <linux/ptrace.h>
#include <linux/sched/task.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/swapops.h>
#include <linux/uaccess.h>
#include <linux/userfaultfd_k.h>
/* Included after <linux/fs.h>: building this file proves the header's guard works. */
#include <uapi/linux/pagemap_scan.h>

#include "helpers.h"

static int pms_fop_open(struct inode *inode, struct file *file)
{
	void *state = pms_open();

	if (IS_ERR(state))
		return PTR_ERR(state);
	/* misc_open() left the miscdevice here; the fd's state replaces it. */
	file->private_data = state;
	return 0;
}

static int pms_fop_release(struct inode *inode, struct file *file)
{
	pms_release(file->private_data);
	return 0;
}

static long pms_fop_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return pms_ioctl(file->private_data, cmd, arg);
}

static const struct file_operations pms_fops = {
	.owner = THIS_MODULE,
	.open = pms_fop_open,
	.release = pms_fop_release,
	.unlocked_ioctl = pms_fop_ioctl,
	/* The ABI has only __u64 fields: compat callers use it unchanged, as in C. */
	.compat_ioctl = pms_fop_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice pms_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "pagemap_scan",
	.fops = &pms_fops,
	/* An fd only ever reaches the mm of the process that opened it. */
	.mode = 0666,
};

int pms_misc_register(void)
{
	return misc_register(&pms_miscdev);
}

void pms_misc_deregister(void)
{
	misc_deregister(&pms_miscdev);
}

struct mm_struct *pms_current_mm(void)
{
	return current->mm;
}

void pms_mmgrab(struct mm_struct *mm)
{
	mmgrab(mm);
}

void pms_mmdrop(struct mm_struct *mm)
{
	mmdrop(mm);
}

void pms_mmget(struct mm_struct *mm)
{
	mmget(mm);
}

bool pms_mmget_not_zero(struct mm_struct *mm)
{
	return mmget_not_zero(mm);
}

unsigned long pms_untagged_addr(unsigned long addr)
{
	return untagged_addr(addr);
}

bool pms_access_ok(unsigned long addr, unsigned long size)
{
	return access_ok((void __user *)addr, size);
}

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
 * Non-exported kernel functions (and one variable), used only through these
 * pointers. ksym.rs fills them in at load, after checking each function may
 * be called, before the device exists; a missing one refuses the load.
 */
static struct {
	int (*walk_page_range)(struct mm_struct *mm, unsigned long start, unsigned long end,
			       const struct mm_walk_ops *ops, void *private);
	pte_t *(*__pte_offset_map_lock)(struct mm_struct *mm, pmd_t *pmd, unsigned long addr,
					spinlock_t **ptlp);
	struct page *(*vm_normal_page)(struct vm_area_struct *vma, unsigned long addr, pte_t pte);
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	spinlock_t *(*__pmd_trans_huge_lock)(pmd_t *pmd, struct vm_area_struct *vma);
	struct page *(*vm_normal_page_pmd)(struct vm_area_struct *vma, unsigned long addr,
					   pmd_t pmd);
	unsigned long *huge_zero_pfn;
#endif
#ifdef CONFIG_USERFAULTFD
	bool (*userfaultfd_wp_async)(struct vm_area_struct *vma);
	bool (*userfaultfd_wp_unpopulated)(struct vm_area_struct *vma);
	long (*uffd_wp_range)(struct vm_area_struct *vma, unsigned long start, unsigned long len,
			      bool enable_wp);
#endif
	void (*flush_tlb_mm_range)(struct mm_struct *mm, unsigned long start, unsigned long end,
				   unsigned int stride_shift, bool freed_tables);
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	pmd_t (*pmdp_invalidate_ad)(struct vm_area_struct *vma, unsigned long address,
				    pmd_t *pmdp);
	void (*__split_huge_pmd)(struct vm_area_struct *vma, pmd_t *pmd, unsigned long address,
				 bool freeze, struct folio *folio);
#endif
#ifdef CONFIG_HUGETLB_PAGE
	pte_t *(*huge_pte_alloc)(struct mm_struct *mm, struct vm_area_struct *vma,
				 unsigned long addr, unsigned long sz);
	bool (*is_hugetlb_entry_migration)(pte_t pte);
	bool (*is_hugetlb_entry_hwpoisoned)(pte_t pte);
#endif
#ifdef CONFIG_MMU_NOTIFIER
	int (*__mmu_notifier_invalidate_range_start)(struct mmu_notifier_range *range);
	void (*__mmu_notifier_invalidate_range_end)(struct mmu_notifier_range *range);
#endif
	struct task_struct *(*pidfd_get_task)(int pidfd, unsigned int *flags);
	struct mm_struct *(*mm_access)(struct task_struct *task, unsigned int mode);
} pms_ksyms;

#define PMS_FUNC(sym) { #sym, (void **)&pms_ksyms.sym, true }
#define PMS_DATA(sym) { #sym, (void **)&pms_ksyms.sym, false }
static const struct pms_ksym_slot pms_ksym_table[] = {
	PMS_FUNC(walk_page_range),
	PMS_FUNC(__pte_offset_map_lock),
	PMS_FUNC(vm_normal_page),
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	PMS_FUNC(__pmd_trans_huge_lock),
	PMS_FUNC(vm_normal_page_pmd),
	PMS_DATA(huge_zero_pfn),
#endif
#ifdef CONFIG_USERFAULTFD
	PMS_FUNC(userfaultfd_wp_async),
	PMS_FUNC(userfaultfd_wp_unpopulated),
	PMS_FUNC(uffd_wp_range),
#endif
	PMS_FUNC(flush_tlb_mm_range),
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	PMS_FUNC(pmdp_invalidate_ad),
	PMS_FUNC(__split_huge_pmd),
#endif
#ifdef CONFIG_HUGETLB_PAGE
	PMS_FUNC(huge_pte_alloc),
	PMS_FUNC(is_hugetlb_entry_migration),
	PMS_FUNC(is_hugetlb_entry_hwpoisoned),
#endif
#ifdef CONFIG_MMU_NOTIFIER
	PMS_FUNC(__mmu_notifier_invalidate_range_start),
	PMS_FUNC(__mmu_notifier_invalidate_range_end),
#endif
	PMS_FUNC(pidfd_get_task),
	PMS_FUNC(mm_access),
};

const struct pms_ksym_slot *pms_ksym_slots(size_t *len)
{
	*len = ARRAY_SIZE(pms_ksym_table);
	return pms_ksym_table;
}

/* Attach by pidfd: the rule of /proc/PID/pagemap, with its non-exported helpers. */
struct task_struct *pms_pidfd_get_task(int pidfd)
{
	unsigned int flags;

	return pms_ksyms.pidfd_get_task(pidfd, &flags);
}

struct mm_struct *pms_mm_access_read(struct task_struct *task)
{
	/* The mode /proc/PID/pagemap is opened with (proc_mem_open() adds FSCREDS). */
	return pms_ksyms.mm_access(task, PTRACE_MODE_READ_FSCREDS);
}

void pms_put_task(struct task_struct *task)
{
	put_task_struct(task);
}

/*
 * The walk. Each op passes the walk's state and VMA to its Rust callback
 * (walk.rs), so that the callbacks need no calls back to read them.
 */
static int pms_op_test_walk(unsigned long start, unsigned long end, struct mm_walk *walk)
{
	return pms_walk_test_vma(walk->private, walk->vma);
}

static int pms_op_pmd_entry(pmd_t *pmd, unsigned long start, unsigned long end,
			    struct mm_walk *walk)
{
	return pms_walk_pmd(walk->private, walk->vma, pmd, start, end, walk);
}

static int pms_op_pte_hole(unsigned long start, unsigned long end, int depth,
			   struct mm_walk *walk)
{
	return pms_walk_hole(walk->private, walk->vma, start, end);
}

#ifdef CONFIG_HUGETLB_PAGE
static int pms_op_hugetlb_entry(pte_t *pte, unsigned long hmask, unsigned long start,
				unsigned long end, struct mm_walk *walk)
{
	return pms_walk_hugetlb(walk->private, pte, start, end, walk);
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
			void *private)
{
	return pms_ksyms.walk_page_range(mm, start, end, &pms_scan_ops, private);
}

#ifdef CONFIG_MMU_NOTIFIER
/* mmu_notifier_invalidate_range_start/end(), inline on non-exported functions. */
static void pms_mmu_notifier_start(struct mmu_notifier_range *range)
{
	might_sleep();
	if (mm_has_notifiers(range->mm)) {
		range->flags |= MMU_NOTIFIER_RANGE_BLOCKABLE;
		pms_ksyms.__mmu_notifier_invalidate_range_start(range);
	}
}

static void pms_mmu_notifier_end(struct mmu_notifier_range *range)
{
	might_sleep();
	if (mm_has_notifiers(range->mm))
		pms_ksyms.__mmu_notifier_invalidate_range_end(range);
}
#else
#define pms_mmu_notifier_start mmu_notifier_invalidate_range_start
#define pms_mmu_notifier_end mmu_notifier_invalidate_range_end
#endif

/*
 * A write-protecting walk: the protection change of [start, end) is announced
 * to mmu notifiers around it. The range is this chunk's, set anew per call.
 */
int pms_walk_page_range_wp(struct mm_struct *mm, unsigned long start, unsigned long end,
			   void *private)
{
	struct mmu_notifier_range range;
	int ret;

	mmu_notifier_range_init(&range, MMU_NOTIFY_PROTECTION_VMA, 0, mm, start, end);
	pms_mmu_notifier_start(&range);
	ret = pms_walk_page_range(mm, start, end, private);
	pms_mmu_notifier_end(&range);
	return ret;
}

/* flush_tlb_range(), a macro on the non-exported flush_tlb_mm_range(). */
void pms_flush_tlb_range(struct vm_area_struct *vma, unsigned long start, unsigned long end)
{
	unsigned int shift = PAGE_SHIFT;

#ifdef CONFIG_HUGETLB_PAGE
	if (vma->vm_flags & VM_HUGETLB)
		shift = huge_page_shift(hstate_vma(vma));
#endif
	pms_ksyms.flush_tlb_mm_range(vma->vm_mm, start, end, shift, false);
}

void pms_walk_again(struct mm_walk *walk)
{
	walk->action = ACTION_AGAIN;
}

void pms_cond_resched(void)
{
	cond_resched();
}

void pms_lazy_mmu_enter(void)
{
	arch_enter_lazy_mmu_mode();
}

void pms_lazy_mmu_leave(void)
{
	arch_leave_lazy_mmu_mode();
}

int pms_mmap_read_lock_killable(struct mm_struct *mm)
{
	return mmap_read_lock_killable(mm);
}

void pms_mmap_read_unlock(struct mm_struct *mm)
{
	mmap_read_unlock(mm);
}

bool pms_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

void pms_spin_unlock(spinlock_t *ptl)
{
	spin_unlock(ptl);
}

unsigned int pms_vma_facts(struct vm_area_struct *vma)
{
	unsigned int facts = 0;

	if (vma->vm_flags & VM_PFNMAP)
		facts |= PMS_VMA_PFNMAP;
	if (vma->vm_flags & VM_SOFTDIRTY)
		facts |= PMS_VMA_SOFT_DIRTY;
	if (is_vm_hugetlb_page(vma))
		facts |= PMS_VMA_HUGETLB;
#ifdef CONFIG_USERFAULTFD
	if (userfaultfd_wp(vma)) {
		facts |= PMS_VMA_UFFD_WP;
		/* userfaultfd_wp_use_markers(), which is inline on non-exported functions. */
		if (pms_ksyms.userfaultfd_wp_async(vma) &&
		    (!vma_is_anonymous(vma) || pms_ksyms.userfaultfd_wp_unpopulated(vma)))
			facts |= PMS_VMA_WP_ASYNC;
	}
#endif
	return facts;
}

/* pte_offset_map_lock(); NULL when the page table went away (retry). */
pte_t *pms_pte_map_lock(struct vm_area_struct *vma, pmd_t *pmd, unsigned long addr,
			spinlock_t **ptl)
{
	return pms_ksyms.__pte_offset_map_lock(vma->vm_mm, pmd, addr, ptl);
}

void pms_pte_unmap_unlock(pte_t *pte, spinlock_t *ptl)
{
	pte_unmap_unlock(pte, ptl);
}

static bool pms_swap_entry_is_file(swp_entry_t swp)
{
	return is_pfn_swap_entry(swp) && !folio_test_anon(pfn_swap_entry_folio(swp));
}

/*
 * The facts of a present or swap pte that do not depend on what maps it;
 * soft-dirty and zero only if in @want.
 */
static u8 pms_pte_common_facts(pte_t pte, u8 want)
{
	u8 facts = 0;

	if (pte_present(pte)) {
		facts |= PMS_F_PRESENT;
		if ((want & PMS_F_SOFT_DIRTY) && pte_soft_dirty(pte))
			facts |= PMS_F_SOFT_DIRTY;
		if ((want & PMS_F_ZERO) && is_zero_pfn(pte_pfn(pte)))
			facts |= PMS_F_ZERO;
	} else if (is_swap_pte(pte)) {
		facts |= PMS_F_SWAP;
		if (pte_swp_uffd_wp_any(pte))
			facts |= PMS_F_UFFD_WP;
		if ((want & PMS_F_SOFT_DIRTY) && pte_swp_soft_dirty(pte))
			facts |= PMS_F_SOFT_DIRTY;
	}
	return facts;
}

static u8 pms_pte_facts_one(struct vm_area_struct *vma, unsigned long addr, pte_t pte,
			    u8 want)
{
	bool want_file = want & PMS_F_FILE;
	u8 facts = pms_pte_common_facts(pte, want);

	if (facts & PMS_F_PRESENT) {
		if (pte_uffd_wp(pte))
			facts |= PMS_F_UFFD_WP;
		if (want_file) {
			struct page *page = pms_ksyms.vm_normal_page(vma, addr, pte);

			if (page && !PageAnon(page))
				facts |= PMS_F_FILE;
		}
	} else if ((facts & PMS_F_SWAP) && want_file &&
		   pms_swap_entry_is_file(pte_to_swp_entry(pte))) {
		facts |= PMS_F_FILE;
	}
	return facts;
}

/* Only whether a pte is write-protected by userfaultfd (a marker counts). */
static u8 pms_pte_wp_facts(pte_t pte)
{
	if (pte_present(pte))
		return pte_uffd_wp(pte) ? PMS_F_UFFD_WP : 0;
	return pte_swp_uffd_wp_any(pte) ? PMS_F_UFFD_WP : 0;
}

/* Only whether a pte is present, swap (or a marker) or empty, and uffd-wp. */
static u8 pms_pte_lean_facts(pte_t pte)
{
	if (pte_present(pte))
		return PMS_F_PRESENT | (pte_uffd_wp(pte) ? PMS_F_UFFD_WP : 0);
	if (pte_none(pte))
		return 0;
	return PMS_F_SWAP | (pte_swp_uffd_wp_any(pte) ? PMS_F_UFFD_WP : 0);
}

/*
 * Decodes @n ptes from @ptep (mapped and locked) for addresses from @addr;
 * @want are the PMS_F_* facts the scan needs (Facts::needed_for()). The
 * fewer, the leaner the loop: uffd-wp alone (a GET of written pages), the
 * kind of entry too, or everything.
 */
/*
 * Decodes ptes [i, n) with @decode, four a loop iteration: in a dense scan
 * the loop's own compare and branch are a fifth of the work per pte.
 */
#define PMS_DECODE_PTES(decode)							\
	do {									\
		for (; i + 4 <= n; i += 4) {					\
			facts[i] = decode(ptep_get(ptep + i));			\
			facts[i + 1] = decode(ptep_get(ptep + i + 1));		\
			facts[i + 2] = decode(ptep_get(ptep + i + 2));		\
			facts[i + 3] = decode(ptep_get(ptep + i + 3));		\
		}								\
		for (; i < n; i++)						\
			facts[i] = decode(ptep_get(ptep + i));			\
	} while (0)

void pms_pte_facts(struct vm_area_struct *vma, unsigned long addr, pte_t *ptep,
		   unsigned int n, u8 want, u8 *facts)
{
	unsigned int i = 0;

	if (want == PMS_F_UFFD_WP) {
		PMS_DECODE_PTES(pms_pte_wp_facts);
		return;
	}
	if (!(want & (PMS_F_SOFT_DIRTY | PMS_F_ZERO | PMS_F_FILE))) {
		PMS_DECODE_PTES(pms_pte_lean_facts);
		return;
	}
	for (i = 0; i < n; i++, addr += PAGE_SIZE)
		facts[i] = pms_pte_facts_one(vma, addr, ptep_get(ptep + i), want);
}

/* Sets uffd-wp on pte @index of a locked table: present, swap, or empty (a marker). */
void pms_pte_make_wp(struct vm_area_struct *vma, unsigned long addr, pte_t *table,
		     unsigned int index)
{
	pte_t *pte = table + index;
	pte_t ptent = ptep_get(pte);

	if (pte_present(ptent)) {
		pte_t old = ptep_modify_prot_start(vma, addr, pte);

		ptep_modify_prot_commit(vma, addr, pte, old, pte_mkuffd_wp(old));
	} else if (is_swap_pte(ptent)) {
		set_pte_at(vma->vm_mm, addr, pte, pte_swp_mkuffd_wp(ptent));
	} else {
		set_pte_at(vma->vm_mm, addr, pte, make_pte_marker(PTE_MARKER_UFFD_WP));
	}
}

static u8 pms_thp_facts(struct vm_area_struct *vma, unsigned long addr, pmd_t *pmdp,
			u8 want);

/*
 * pmd_trans_huge_lock(): the pmd lock if @pmd maps a THP (or a swap entry),
 * else NULL; with the lock, the locked pmd (which maps @addr) decoded into @facts.
 */
spinlock_t *pms_thp_lock(pmd_t *pmd, struct vm_area_struct *vma, unsigned long addr,
			 u8 want, u8 *facts)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	pmd_t val = pmdp_get_lockless(pmd);
	spinlock_t *ptl;

	if (!is_swap_pmd(val) && !pmd_trans_huge(val) && !pmd_devmap(val))
		return NULL;
	ptl = pms_ksyms.__pmd_trans_huge_lock(pmd, vma);
	if (ptl)
		*facts = pms_thp_facts(vma, addr, pmd, want);
	return ptl;
#else
	return NULL;
#endif
}

/* Decodes a locked THP pmd: the @want facts (Facts::needed_for()), and maybe more. */
static u8 pms_thp_facts(struct vm_area_struct *vma, unsigned long addr, pmd_t *pmdp,
			u8 want)
{
	bool want_file = want & PMS_F_FILE;
	u8 facts = 0;
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	pmd_t pmd = *pmdp;

	if (pmd_none(pmd))
		return 0;
	if (pmd_present(pmd)) {
		facts |= PMS_F_PRESENT;
		if (pmd_uffd_wp(pmd))
			facts |= PMS_F_UFFD_WP;
		if ((want & PMS_F_SOFT_DIRTY) && pmd_soft_dirty(pmd))
			facts |= PMS_F_SOFT_DIRTY;
		/* is_huge_zero_pmd(), inline on a non-exported variable */
		if ((want & PMS_F_ZERO) && READ_ONCE(*pms_ksyms.huge_zero_pfn) == pmd_pfn(pmd))
			facts |= PMS_F_ZERO;
		if (want_file) {
			struct page *page = pms_ksyms.vm_normal_page_pmd(vma, addr, pmd);

			if (page && !PageAnon(page))
				facts |= PMS_F_FILE;
		}
	} else {
		facts |= PMS_F_SWAP;
		if (pmd_swp_uffd_wp(pmd))
			facts |= PMS_F_UFFD_WP;
		if ((want & PMS_F_SOFT_DIRTY) && pmd_swp_soft_dirty(pmd))
			facts |= PMS_F_SOFT_DIRTY;
		if (want_file && pms_swap_entry_is_file(pmd_to_swp_entry(pmd)))
			facts |= PMS_F_FILE;
	}
#endif
	return facts;
}

/* Sets uffd-wp on a locked THP pmd and flushes [addr, end). */
void pms_thp_make_wp(struct vm_area_struct *vma, unsigned long addr, unsigned long end,
		     pmd_t *pmdp)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	pmd_t pmd = *pmdp;

	if (pmd_present(pmd)) {
		pmd_t old = pms_ksyms.pmdp_invalidate_ad(vma, addr, pmdp);

		set_pmd_at(vma->vm_mm, addr, pmdp, pmd_mkuffd_wp(old));
	} else if (is_migration_entry(pmd_to_swp_entry(pmd))) {
		set_pmd_at(vma->vm_mm, addr, pmdp, pmd_swp_mkuffd_wp(pmd));
	}
	pms_flush_tlb_range(vma, addr, end);
#endif
}

/* split_huge_pmd(), a macro on the non-exported __split_huge_pmd(). Unlocked. */
void pms_thp_split(struct vm_area_struct *vma, pmd_t *pmd, unsigned long addr)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	pmd_t val = pmdp_get_lockless(pmd);

	if (is_swap_pmd(val) || pmd_trans_huge(val) || pmd_devmap(val))
		pms_ksyms.__split_huge_pmd(vma, pmd, addr, false, NULL);
#endif
}

/*
 * Decodes a hugetlb entry: the @want facts (Facts::needed_for()), and maybe
 * more. C reports every present hugetlb page as file-backed: PageAnon() is
 * false for hugetlb pages, even private ones, and they cannot be swapped.
 */
u8 pms_hugetlb_facts(struct mm_walk *walk, unsigned long addr, pte_t *ptep, u8 want)
{
	u8 facts = 0;
#ifdef CONFIG_HUGETLB_PAGE
	pte_t pte = huge_ptep_get(walk->mm, addr, ptep);

	facts = pms_pte_common_facts(pte, want);
	if (facts & PMS_F_PRESENT) {
		if (huge_pte_uffd_wp(pte))
			facts |= PMS_F_UFFD_WP;
		if ((want & PMS_F_FILE) && !PageAnon(pte_page(pte)))
			facts |= PMS_F_FILE;
	}
#endif
	return facts;
}

#ifdef CONFIG_HUGETLB_PAGE
/* The locks C holds to write-protect a hugetlb entry. */
spinlock_t *pms_hugetlb_lock(struct mm_walk *walk, pte_t *ptep)
{
	struct vm_area_struct *vma = walk->vma;

	i_mmap_lock_write(vma->vm_file->f_mapping);
	return huge_pte_lock(hstate_vma(vma), vma->vm_mm, ptep);
}

void pms_hugetlb_unlock(struct mm_walk *walk, spinlock_t *ptl)
{
	spin_unlock(ptl);
	i_mmap_unlock_write(walk->vma->vm_file->f_mapping);
}

unsigned long pms_hugetlb_page_size(struct mm_walk *walk)
{
	return huge_page_size(hstate_vma(walk->vma));
}

static void pms_make_uffd_wp_huge_pte(struct vm_area_struct *vma, unsigned long addr,
				      pte_t *ptep, pte_t ptent)
{
	unsigned long psize;

	if (pms_ksyms.is_hugetlb_entry_hwpoisoned(ptent) || is_pte_marker(ptent))
		return;
	psize = huge_page_size(hstate_vma(vma));
	if (pms_ksyms.is_hugetlb_entry_migration(ptent)) {
		set_huge_pte_at(vma->vm_mm, addr, ptep, pte_swp_mkuffd_wp(ptent), psize);
	} else if (!huge_pte_none(ptent)) {
		pte_t old = huge_ptep_modify_prot_start(vma, addr, ptep);

		huge_ptep_modify_prot_commit(vma, addr, ptep, old, huge_pte_mkuffd_wp(old));
	} else {
		set_huge_pte_at(vma->vm_mm, addr, ptep, make_pte_marker(PTE_MARKER_UFFD_WP), psize);
	}
}

/* Write-protects the whole hugetlb page at @addr, locked by pms_hugetlb_lock(). */
void pms_hugetlb_make_wp(struct mm_walk *walk, unsigned long addr, pte_t *ptep)
{
	struct vm_area_struct *vma = walk->vma;

	pms_make_uffd_wp_huge_pte(vma, addr, ptep, huge_ptep_get(walk->mm, addr, ptep));
	pms_flush_tlb_range(vma, addr, addr + huge_page_size(hstate_vma(vma)));
}

/*
 * Write-protects unpopulated hugetlb entries of [addr, end) with markers, as
 * the C scan does inline (uffd_wp_range() would take the hugetlb VMA lock the
 * walker already holds for reading).
 */
int pms_hugetlb_hole_wp(struct vm_area_struct *vma, unsigned long addr, unsigned long end)
{
	struct hstate *h = hstate_vma(vma);
	unsigned long psize = huge_page_size(h);
	struct mm_struct *mm = vma->vm_mm;

	for (addr = ALIGN_DOWN(addr, psize); addr < end; addr += psize) {
		pte_t *ptep = pms_ksyms.huge_pte_alloc(mm, vma, addr, psize);
		spinlock_t *ptl;
		pte_t pte;

		if (!ptep)
			return -ENOMEM;
		i_mmap_lock_write(vma->vm_file->f_mapping);
		ptl = huge_pte_lock(h, mm, ptep);
		pte = huge_ptep_get(mm, addr, ptep);
		pms_make_uffd_wp_huge_pte(vma, addr, ptep, pte);
		/* A none entry has no TLB entry to flush, unless a fault raced in. */
		if (!huge_pte_none(pte))
			pms_flush_tlb_range(vma, addr, addr + psize);
		spin_unlock(ptl);
		i_mmap_unlock_write(vma->vm_file->f_mapping);
	}
	return 0;
}
#else
/* Never called: without hugetlb there is no hugetlb_entry op and no hugetlb VMA. */
spinlock_t *pms_hugetlb_lock(struct mm_walk *walk, pte_t *ptep) { return NULL; }
void pms_hugetlb_unlock(struct mm_walk *walk, spinlock_t *ptl) {}
unsigned long pms_hugetlb_page_size(struct mm_walk *walk) { return 0; }
void pms_hugetlb_make_wp(struct mm_walk *walk, unsigned long addr, pte_t *ptep) {}
int pms_hugetlb_hole_wp(struct vm_area_struct *vma, unsigned long addr, unsigned long end)
{
	return 0;
}
#endif /* CONFIG_HUGETLB_PAGE */

/* uffd_wp_range(vma, start, len, true): markers over an unpopulated range. */
long pms_uffd_wp_range(struct vm_area_struct *vma, unsigned long start, unsigned long len)
{
#ifdef CONFIG_USERFAULTFD
	return pms_ksyms.uffd_wp_range(vma, start, len, true);
#else
	return 0;
#endif
}
