// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of the Linux 6.12 adapters (rust/compat/v6_12/): static inline
 * functions that 6.12's kernel crate has no rust_helper_* for, and the misc
 * device, whose struct 6.12's bindings lack. Later kernels' crates have all
 * of this; there, this file is not built.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mmap_lock.h>
#include <linux/module.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>

/* Declarations for -Wmissing-prototypes; Rust declares them in sys.rs. */
int pms_misc_register(const struct file_operations *fops, const char *name, void *cookie);
void pms_misc_deregister(void);
void *pms_misc_cookie(void);
struct mm_struct *pms_current_mm(void);
void pms_mmgrab(struct mm_struct *mm);
void pms_mmdrop(struct mm_struct *mm);
void pms_mmget(struct mm_struct *mm);
bool pms_mmget_not_zero(struct mm_struct *mm);
void pms_mmap_read_lock(struct mm_struct *mm);
void pms_mmap_read_unlock(struct mm_struct *mm);

/* mod.rs restates it: 6.12's bindings do not have it. */
static_assert(PTRACE_MODE_READ_FSCREDS == (0x01 | 0x08));

static struct file_operations pms_fops;
static struct miscdevice pms_miscdev = { .minor = MISC_DYNAMIC_MINOR, .fops = &pms_fops };
static void *pms_cookie;

int pms_misc_register(const struct file_operations *fops, const char *name, void *cookie)
{
	pms_fops = *fops;
	pms_fops.owner = THIS_MODULE;
	pms_fops.llseek = noop_llseek;
	pms_miscdev.name = name;
	pms_cookie = cookie;
	return misc_register(&pms_miscdev);
}

void pms_misc_deregister(void)
{
	misc_deregister(&pms_miscdev);
}

void *pms_misc_cookie(void)
{
	return pms_cookie;
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

void pms_mmap_read_lock(struct mm_struct *mm)
{
	mmap_read_lock(mm);
}

void pms_mmap_read_unlock(struct mm_struct *mm)
{
	mmap_read_unlock(mm);
}
