// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of pagemap_scan: only what Rust cannot reach on Linux 6.12.
 *
 * - The misc device: 6.12's kernel crate has no miscdevice or file
 *   abstraction, so the file_operations here are trampolines into Rust.
 * - Wrappers of static inline functions and macros (mm reference counts,
 *   untagged_addr, access_ok, CPU features, kprobes).
 *
 * No policy lives here; the Rust side (sys.rs) declares every function.
 */
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pagewalk.h>
#include <linux/sched/mm.h>
#include <linux/uaccess.h>
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
 * Non-exported kernel functions, called only through these pointers. ksym.rs
 * fills them in at load, after checking each may be called, before the device
 * exists; a missing one refuses the load.
 */
static struct {
	int (*walk_page_range)(struct mm_struct *mm, unsigned long start, unsigned long end,
			       const struct mm_walk_ops *ops, void *private);
} pms_ksyms;

#define PMS_KSYM(fn) { #fn, (void **)&pms_ksyms.fn }
static const struct pms_ksym_slot pms_ksym_table[] = {
	PMS_KSYM(walk_page_range),
};

const struct pms_ksym_slot *pms_ksym_slots(size_t *len)
{
	*len = ARRAY_SIZE(pms_ksym_table);
	return pms_ksym_table;
}
