// SPDX-License-Identifier: GPL-2.0
/*
 * pms_notifier_probe: a test-only helper of the pagemap_scan kselftest.
 *
 * An fd of /dev/pms_notifier_probe registers an mmu notifier on its opener's
 * mm. Between PMS_NP_START and PMS_NP_STOP it records, in order, every
 * invalidate_range_start and invalidate_range_end over a range that overlaps
 * the window given to PMS_NP_START, with the range, its event and its flags.
 * Only what the thread that called PMS_NP_START raises is recorded (the scan
 * under test runs in it); what other tasks raise in the window (khugepaged,
 * reclaim, NUMA balancing) is only counted. At most PMS_NP_MAX records are
 * kept; the rest are counted as overflow. PMS_NP_READ copies them out once
 * recording has stopped.
 *
 * The kselftest compares what PAGEMAP_SCAN on /dev/pagemap_scan announces
 * with what the C ioctl on /proc/self/pagemap announces on a twin region.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "pms_notifier_probe.h"

struct pms_np {
	struct mmu_notifier mn;
	/* The opener's mm, on which mn is registered (which holds a reference). */
	struct mm_struct *mm;
	/* Serialises the ioctls. */
	struct mutex ioctl_lock;
	/* Protects what follows against the notifier callbacks. */
	spinlock_t lock;
	bool recording;
	/* The thread that called PMS_NP_START (a reference), or NULL. */
	struct task_struct *task;
	u64 wstart, wend;
	u32 count;
	u64 overflow;
	u64 foreign;
	struct pms_np_record rec[PMS_NP_MAX];
};

static void pms_np_note(struct mmu_notifier *mn, const struct mmu_notifier_range *range,
			u32 kind)
{
	struct pms_np *np = container_of(mn, struct pms_np, mn);
	struct pms_np_record *r;

	spin_lock(&np->lock);
	if (!np->recording || range->end <= np->wstart || np->wend <= range->start)
		goto out;
	if (current != np->task) {
		np->foreign++;
		goto out;
	}
	if (np->count == PMS_NP_MAX) {
		np->overflow++;
		goto out;
	}
	r = &np->rec[np->count++];
	r->start = range->start;
	r->end = range->end;
	r->event = range->event;
	r->flags = range->flags;
	r->kind = kind;
	r->pad = 0;
out:
	spin_unlock(&np->lock);
}

static int pms_np_invalidate_range_start(struct mmu_notifier *mn,
					 const struct mmu_notifier_range *range)
{
	pms_np_note(mn, range, PMS_NP_KIND_START);
	return 0;
}

static void pms_np_invalidate_range_end(struct mmu_notifier *mn,
					const struct mmu_notifier_range *range)
{
	pms_np_note(mn, range, PMS_NP_KIND_END);
}

static const struct mmu_notifier_ops pms_np_ops = {
	.invalidate_range_start = pms_np_invalidate_range_start,
	.invalidate_range_end = pms_np_invalidate_range_end,
};

static int pms_np_open(struct inode *inode, struct file *file)
{
	struct pms_np *np;
	int ret;

	if (!current->mm)
		return -EINVAL;
	np = vzalloc(sizeof(*np));
	if (!np)
		return -ENOMEM;
	mutex_init(&np->ioctl_lock);
	spin_lock_init(&np->lock);
	np->mm = current->mm;
	np->mn.ops = &pms_np_ops;
	ret = mmu_notifier_register(&np->mn, np->mm);
	if (ret) {
		vfree(np);
		return ret;
	}
	file->private_data = np;
	return 0;
}

static int pms_np_release(struct inode *inode, struct file *file)
{
	struct pms_np *np = file->private_data;

	/* Waits for callbacks in flight; drops the mm reference register took. */
	mmu_notifier_unregister(&np->mn, np->mm);
	if (np->task)
		put_task_struct(np->task);
	vfree(np);
	return 0;
}

static long pms_np_start(struct pms_np *np, void __user *uarg)
{
	struct pms_np_window w;
	struct task_struct *old;

	if (copy_from_user(&w, uarg, sizeof(w)))
		return -EFAULT;
	if (w.start >= w.end)
		return -EINVAL;
	get_task_struct(current);
	spin_lock(&np->lock);
	old = np->task;
	np->task = current;
	np->wstart = w.start;
	np->wend = w.end;
	np->count = 0;
	np->overflow = 0;
	np->foreign = 0;
	np->recording = true;
	spin_unlock(&np->lock);
	if (old)
		put_task_struct(old);
	return 0;
}

static long pms_np_read(struct pms_np *np, void __user *uarg)
{
	struct pms_np_read rd;
	u32 n;

	if (copy_from_user(&rd, uarg, sizeof(rd)))
		return -EFAULT;
	/* Records change only while recording: then they are not read. */
	if (READ_ONCE(np->recording))
		return -EBUSY;
	n = min(rd.cap, np->count);
	if (copy_to_user(u64_to_user_ptr(rd.buf), np->rec, n * sizeof(np->rec[0])))
		return -EFAULT;
	rd.count = np->count;
	rd.overflow = np->overflow;
	rd.foreign = np->foreign;
	if (copy_to_user(uarg, &rd, sizeof(rd)))
		return -EFAULT;
	return n;
}

static long pms_np_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct pms_np *np = file->private_data;
	void __user *uarg = (void __user *)arg;
	long ret;

	if (current->mm != np->mm)
		return -EINVAL;
	mutex_lock(&np->ioctl_lock);
	switch (cmd) {
	case PMS_NP_START:
		ret = pms_np_start(np, uarg);
		break;
	case PMS_NP_STOP:
		spin_lock(&np->lock);
		np->recording = false;
		spin_unlock(&np->lock);
		ret = 0;
		break;
	case PMS_NP_READ:
		ret = pms_np_read(np, uarg);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&np->ioctl_lock);
	return ret;
}

static const struct file_operations pms_np_fops = {
	.owner = THIS_MODULE,
	.open = pms_np_open,
	.release = pms_np_release,
	.unlocked_ioctl = pms_np_ioctl,
};

static struct miscdevice pms_np_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "pms_notifier_probe",
	.fops = &pms_np_fops,
	.mode = 0600,
};

module_misc_device(pms_np_dev);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pagemap_scan kselftest helper: records mmu-notifier invalidations of the opener's mm");
