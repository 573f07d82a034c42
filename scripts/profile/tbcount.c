// SPDX-License-Identifier: GPL-2.0
/*
 * A QEMU TCG plugin that counts the guest instructions executed per
 * translation block, and writes the counts out each time the guest executes
 * the marker instruction `xchg %r13,%r13` (4d 87 ed), which compilers do not
 * emit: the difference of two snapshots is what ran between two markers.
 * scripts/profile.sh loads it, the benchmark's --profile mode executes the
 * markers, and scripts/profile-report.py names the blocks' functions.
 *
 *   -plugin scripts/profile/tbcount.so,out=PREFIX
 *
 * writes PREFIX.N (N = 0, 1, ...): one line per block that ran, "vaddr
 * instructions executions" in hex, hex and decimal. A block is counted
 * whole when it is entered (an interrupt inside it is rare enough).
 *
 * QEMU installs no plugin header (Debian's QEMU 7.2 included): the few
 * declarations of its plugin API (version 1) this uses are below.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
					   void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
					      void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
					    void (*cb)(unsigned int vcpu, void *udata),
					    enum qemu_plugin_cb_flags flags, void *udata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

/* One block: where it starts, how long it is, how often it ran. */
struct block {
	uint64_t vaddr;
	uint64_t insns;
	uint64_t count;
};

/*
 * Open addressing on (vaddr, insns): a block translated again (after a TLB
 * or code-cache flush) keeps its counter. Never shrinks; 1 << 20 blocks is
 * far more than a boot and a benchmark translate.
 */
#define SLOTS (1u << 20)
static struct block *table;
static size_t used;
static const char *prefix;
static unsigned int snapshots;

static struct block *lookup(uint64_t vaddr, uint64_t insns)
{
	size_t i = (vaddr * 0x9e3779b97f4a7c15ull ^ insns) >> 44;

	for (;; i = (i + 1) & (SLOTS - 1)) {
		struct block *b = &table[i];

		if (b->insns == 0) {
			if (++used > SLOTS / 2) {
				qemu_plugin_outs("tbcount: table full\n");
				abort();
			}
			b->vaddr = vaddr;
			b->insns = insns;
			return b;
		}
		if (b->vaddr == vaddr && b->insns == insns)
			return b;
	}
}

static void snapshot(unsigned int vcpu, void *udata)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s.%u", prefix, snapshots++);
	f = fopen(path, "w");
	if (!f) {
		qemu_plugin_outs("tbcount: cannot write a snapshot\n");
		return;
	}
	for (size_t i = 0; i < SLOTS; i++)
		if (table[i].count)
			fprintf(f, "%llx %llx %llu\n", (unsigned long long)table[i].vaddr,
				(unsigned long long)table[i].insns,
				(unsigned long long)table[i].count);
	fclose(f);
}

static const unsigned char marker[] = { 0x4d, 0x87, 0xed };

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);
	struct block *b = lookup(qemu_plugin_tb_vaddr(tb), n);

	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->count, 1);
	for (size_t i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);

		if (qemu_plugin_insn_size(insn) == sizeof(marker) &&
		    !memcmp(qemu_plugin_insn_data(insn), marker, sizeof(marker)))
			qemu_plugin_register_vcpu_insn_exec_cb(insn, snapshot,
							       QEMU_PLUGIN_CB_NO_REGS, NULL);
	}
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
					   int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			prefix = argv[i] + 4;
	if (!prefix) {
		qemu_plugin_outs("tbcount: out=PREFIX is required\n");
		return -1;
	}
	table = calloc(SLOTS, sizeof(*table));
	if (!table)
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	return 0;
}
