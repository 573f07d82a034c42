#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots a kernel (PMS_KERNEL: debian, the default, 6.12 or debug; see
# scripts/kernel.sh) with virtme-ng and runs scripts/guest.sh in it, with the
# module built for that kernel ($PMS_CACHE/module-<kernel>/pagemap_scan.ko)
# and, when PMS_NOTIFIER_KO names it, the kselftest's helper pms_notifier_probe.ko.
#   vm-run.sh test   the kselftest and load/unload cycles; judges the results
#   vm-run.sh demo   one real call, printed
#   vm-run.sh bench  two boots of the benchmark (wall time; QEMU icount, one CPU),
#                    then the report in bench-results/<kernel>/ (PMS_BENCH_OUT=)
#   vm-run.sh profile  one icount boot with the instruction-counting plugin
#                    (scripts/profile/tbcount.c): the instructions of each
#                    function in the module's and C's ioctl, per unit, for the
#                    workloads PMS_BENCH_ONLY names (Documentation/performance.rst)
# TCG by default: KVM on these machines cannot boot a stock kernel. PMS_KVM=1
# uses KVM where it is known to work. Exit status 0 only if everything passed.
#
# A boot that dies before the guest script starts (the stock image sometimes
# oopses under TCG while patching its text, before any module is loaded), or
# whose kernel reported a splat before it started (the debug kernel, twice in
# 32 boots: KASAN on an interrupt during identify_cpu(), hrtimer_forward()'s
# warning from dl_task_timer() in systemd-tmpfiles), is retried, up to
# PMS_BOOT_TRIES (3) boots, and the reason printed; anything after the guest
# script started counts, an oops included.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/dmesg-judge.sh"
cd "$here/.."

mode=${1:-test}
kernel=${PMS_KERNEL:-debian}
image=$("$here/kernel.sh" "$kernel" image)
vng_args=$("$here/kernel.sh" "$kernel" vng-args)
ko=${PMS_KO:-$PMS_CACHE/module-$kernel/pagemap_scan.ko}
[ -f "$image" ] || die "no kernel at $image: run 'make kernel'"
[ -f "$ko" ] || die "no module at $ko: run 'make module'"
[ -x "$PMS_VENV/bin/vng" ] || die "virtme-ng missing: run scripts/setup.sh"

kvm=--disable-kvm
[ "${PMS_KVM:-0}" = 1 ] && kvm=
# What boot() gives the guest; bench mode changes them. vm_nodes NUMA nodes
# (the migration tests need two) share the memory and CPUs evenly.
vm_memory=2G vm_cpus=2 vm_qemu_extra= vm_nodes=2

# topology: vng's --cpus, --numa and --append options. With vm_nodes nodes,
# each is a socket (cores sharing a cache on different nodes upset the
# kernel's topology checks) with an equal share of the CPUs and of the
# memory; with fewer CPUs than nodes, the nodes past them have memory only.
# The kernel distrusts the TSC of several sockets of an AMD CPU (TCG's);
# QEMU's are one clock: tsc=reliable keeps the clocksource of one socket.
topology() {
	local mib node per=$((vm_cpus / vm_nodes)) cpus
	if [ "$vm_nodes" -le 1 ]; then
		echo "--cpus $vm_cpus"
		return
	fi
	case $vm_memory in
	*G) mib=$((${vm_memory%G} * 1024)) ;;
	*M) mib=${vm_memory%M} ;;
	*) die "vm_memory $vm_memory: not in M or G" ;;
	esac
	if [ "$per" -ge 1 ] && [ $((vm_cpus % vm_nodes)) = 0 ]; then
		printf -- '--cpus %s,sockets=%s --append tsc=reliable ' "$vm_cpus" "$vm_nodes"
	else
		per=1
		printf -- '--cpus %s ' "$vm_cpus"
	fi
	for node in $(seq 0 $((vm_nodes - 1))); do
		cpus=
		[ $((node * per)) -lt "$vm_cpus" ] && cpus=,cpus=$((node * per))-$(((node + 1) * per - 1))
		printf -- '--numa %sM%s ' $((mib / vm_nodes)) "$cpus"
	done
}

# boot_once RES MODE: runs scripts/guest.sh MODE in the VM, with a swap disk
# and RES shared read-write; the console goes to RES/console.log.
boot_once() {
	# A sparse disk for the guest's swap (tests page memory out with MADV_PAGEOUT).
	# PMS_VM_NOSWAP=1 boots without it: the swap tests then SKIP.
	local disk=
	if [ "${PMS_VM_NOSWAP:-0}" != 1 ]; then
		truncate -s 512M "$1/swap.img"
		disk="-drive file=$1/swap.img,if=virtio,format=raw,cache=unsafe"
	fi
	# shellcheck disable=SC2086,SC2046 # vng_args and topology are lists of words
	PATH=$PMS_VENV/bin:$PATH timeout "${PMS_VM_TIMEOUT:-1200}" vng -v $kvm $vng_args --run "$image" \
		--memory "$vm_memory" $(topology) \
		--qemu-opts="$disk${vm_qemu_extra:+ $vm_qemu_extra}" \
		--rwdir "$1" --exec "scripts/guest.sh $2 $1 ${PMS_TEST_TIMEOUT:-900} ${PMS_STRESS_SECS:-20} ${PMS_CYCLES:-20}" </dev/null >"$1/console.log" 2>&1
	local status=$?
	rm -f "$1/swap.img"
	return $status
}

# boot RES MODE: boot_once, again while the guest script never started.
# virtme-ng's own exit status says nothing (255 on success): the files the
# guest script writes do.
boot() {
	local try tries=${PMS_BOOT_TRIES:-3} status
	echo "PMS_KO=$ko" >>"$1/env"
	# >>> notifier: the kselftest's helper module, when built (scripts/build-test-modules.sh)
	[ -n "${PMS_NOTIFIER_KO:-}" ] && echo "PMS_NOTIFIER_KO=$PMS_NOTIFIER_KO" >>"$1/env"
	# <<< notifier
	echo "PMS_UPSTREAM=$PWD/target/upstream-$kernel/pagemap_ioctl" >>"$1/env"
	for try in $(seq "$tries"); do
		rm -f "$1/started" "$1/boot-splat"
		boot_once "$@"
		status=$?
		[ -f "$1/started" ] && return $status
		if [ -s "$1/boot-splat" ]; then
			phase "vm: the kernel reported a splat while it booted, before the module or any test ran ($try of $tries): $(head -n 1 "$1/boot-splat")"
			mv "$1/dmesg-boot.txt" "$1/dmesg-failed-boot-$try.txt"
		else
			why=$(grep -m1 -E 'Oops|BUG:|Kernel panic|general protection' "$1/console.log" || echo "no guest script, no oops in the console")
			phase "vm: the boot failed before the guest script started ($try of $tries): $why"
		fi
		cp "$1/console.log" "$1/console-failed-boot-$try.log"
	done
	return $status
}

if [ "$mode" = bench ]; then
	# Two boots: wall time (interleaved repetitions), then guest instructions
	# with -icount shift=0 (the guest clock advances 1 ns per instruction;
	# TCG only, one CPU). Each writes a CSV; the host merges them.
	out=${PMS_BENCH_OUT:-$PWD/bench-results/$kernel}
	mkdir -p "$out" || die "cannot create $out"
	rm -f "$out"/wall.csv "$out"/icount.csv
	"$here/kernel.sh" "$kernel" release >"$out/kernel"
	# One node: the benchmark measures the scan, not remote memory.
	vm_memory=${PMS_BENCH_MEMORY:-4G} vm_nodes=1
	for measure in wall icount; do
		if [ "$measure" = icount ]; then
			[ -z "$kvm" ] && { phase "vm: icount needs TCG: skipped under KVM"; continue; }
			vm_cpus=1 vm_qemu_extra="-icount shift=0,sleep=off" reps=${PMS_BENCH_ICOUNT_REPS:-3}
		else
			vm_cpus=${PMS_BENCH_CPUS:-2} vm_qemu_extra= reps=${PMS_BENCH_REPS:-15}
		fi
		res=$(mktemp -d "${TMPDIR:-/tmp}/pagemap_scan-bench.XXXXXX")
		args="--reps $reps${PMS_BENCH_QUICK:+ --quick}${PMS_BENCH_ONLY:+ --only $PMS_BENCH_ONLY}"
		echo "PMS_BENCH_ARGS='$args'" >"$res/env"
		phase "vm: bench ($measure: $vm_cpus CPU, $vm_memory, $args), results in $res"
		PMS_VM_TIMEOUT=${PMS_VM_TIMEOUT:-2400} PMS_TEST_TIMEOUT=${PMS_BENCH_TIMEOUT:-2100} boot "$res" bench
		phase "vm: done"
		[ -f "$res/guest.log" ] && sed 's/^/guest: /' "$res/guest.log"
		finished=$(cat "$res/finished" 2>/dev/null || echo "never finished")
		if [ "$finished" != ok ] || [ "$(cat "$res/bench.rc" 2>/dev/null)" != 0 ]; then
			tail -n 30 "$res/bench.log" "$res/console.log" >&2
			die "vm: bench ($measure): guest script: $finished, bench exit $(cat "$res/bench.rc" 2>/dev/null)"
		fi
		s=$(splats "$res/dmesg.txt")
		[ -z "$s" ] || { echo "$s"; die "vm: kernel splat in dmesg"; }
		cp "$res/bench.csv" "$out/$measure.csv"
		cp "$res/bench.log" "$out/$measure.log"
	done
	target/release/pagemap_scan_bench --report "$out" || die "bench report failed"
	phase "vm: bench results in $out"
	exit 0
fi

if [ "$mode" = profile ]; then
	# One CPU, as the icount bench; the plugin snapshots its counters at
	# each of the benchmark's markers, into the results directory.
	res=$(mktemp -d "${TMPDIR:-/tmp}/pagemap_scan-profile.XXXXXX")
	gcc -O2 -shared -fPIC -Wall -Werror -o "$res/tbcount.so" scripts/profile/tbcount.c || die "cannot build the QEMU plugin"
	vm_memory=${PMS_BENCH_MEMORY:-4G} vm_nodes=1 vm_cpus=1
	vm_qemu_extra="-icount shift=0,sleep=off -plugin $res/tbcount.so,out=$res/snap"
	echo "PMS_BENCH_ARGS='${PMS_BENCH_QUICK:+--quick}${PMS_BENCH_ONLY:+ --only $PMS_BENCH_ONLY}'" >"$res/env"
	phase "vm: profile ($PMS_BENCH_ONLY), results in $res"
	PMS_VM_TIMEOUT=${PMS_VM_TIMEOUT:-2400} PMS_TEST_TIMEOUT=${PMS_BENCH_TIMEOUT:-2100} boot "$res" profile
	[ "$(cat "$res/finished" 2>/dev/null)" = ok ] && [ "$(cat "$res/bench.rc" 2>/dev/null)" = 0 ] ||
		{ tail -n 30 "$res/bench.log" "$res/console.log" >&2; die "vm: profile: the guest run failed"; }
	python3 scripts/profile/report.py "$res" | tee "$res/report.txt"
	phase "vm: profile in $res/report.txt"
	exit 0
fi

res=$(mktemp -d "${TMPDIR:-/tmp}/pagemap_scan-vm.XXXXXX")
phase "vm: booting $kernel ($("$here/kernel.sh" "$kernel" release), ${kvm:-KVM}${kvm:+TCG}), results in $res"
# Seeds and lengths of the randomized tests reach the guest through a file.
env | grep -E '^PMS_(SEED|CALLS|TESTS)=' >"$res/env"
boot "$res" "$mode"
phase "vm: done"

finished=$(cat "$res/finished" 2>/dev/null || echo "never finished")
[ -f "$res/guest.log" ] && sed 's/^/guest: /' "$res/guest.log"
if [ "$finished" != ok ]; then
	tail -n 30 "$res/console.log" >&2
	die "vm: guest script: $finished"
fi

# dmesg of the whole boot: any of these fails the run.
splats=$(splats "$res/dmesg.txt")
if [ "$mode" = demo ]; then
	cat "$res/demo.txt"
	[ -z "$splats" ] || { echo "$splats"; die "vm: kernel splat in dmesg"; }
	exit 0
fi

# >>> ibt: vm-run.sh ibt (scripts/ibt-check.sh): judge the dump of the loaded module
if [ "$mode" = ibt ]; then
	"$here/ibt-check.sh" "$res" "$ko"
	status=$?
	[ -z "$splats" ] || { echo "$splats"; die "vm: kernel splat in dmesg"; }
	exit $status
fi
# <<< ibt
cat "$res/tap.txt"
fail=0
totals=$(grep '^# Totals:' "$res/tap.txt") || { echo "vm: no TAP totals"; fail=1; }
[ "$(cat "$res/selftest.rc")" = 0 ] || { echo "vm: kselftest exit status $(cat "$res/selftest.rc")"; fail=1; }
if [ -f "$res/upstream.rc" ]; then
	up=$(grep '^# Totals:' "$res/upstream.txt" || echo "no totals")
	echo "vm: upstream pagemap_ioctl selftest via the device: ${up#\# } (exit $(cat "$res/upstream.rc"))"
	[ "$(cat "$res/upstream.rc")" = 0 ] || { grep -E '^not ok|Bail' "$res/upstream.txt"; fail=1; }
fi
grep '^# stress: ' "$res/stress.txt" | sed 's/^# /vm: /' || echo "vm: stress: no summary"
echo "vm: stress: exit $(cat "$res/stress.rc")"
[ "$(cat "$res/stress.rc")" = 0 ] || { tail -5 "$res/stress.txt"; fail=1; }
cycles=$(cat "$res/cycles")
echo "vm: load/unload cycles: $cycles of ${PMS_CYCLES:-20}"
[ "$cycles" = "${PMS_CYCLES:-20}" ] || fail=1
if [ -f "$res/kmemleak.txt" ]; then
	leaks=$(grep -c 'unreferenced object' "$res/kmemleak.txt")
	echo "vm: kmemleak: $leaks unreferenced objects"
	[ "$leaks" = 0 ] || { head -40 "$res/kmemleak.txt"; fail=1; }
fi
# The calls into resolved kernel functions, as the module's loaded code makes them.
if [ -f "$res/ibt/sections.txt" ]; then
	if "$here/ibt-check.sh" "$res" "$ko" >"$res/ibt-check.txt" 2>&1; then
		echo "vm: ibt-check: ok, $(tail -n 1 "$res/ibt-check.txt" | sed 's/^ibt-check: ok: //')"
	else
		cat "$res/ibt-check.txt"
		echo "vm: ibt-check: FAILED"
		fail=1
	fi
else
	echo "vm: ibt-check: skipped: $(head -n 1 "$res/ibt.err" 2>/dev/null)"
fi
known_c_warning "$res/dmesg.txt"
if [ -n "$splats" ]; then
	echo "vm: kernel splats in dmesg:"
	echo "$splats"
	fail=1
else
	echo "vm: dmesg clean ($(wc -l <"$res/dmesg.txt") lines scanned)"
fi
echo "vm: ${totals:-no totals}"
exit $fail
