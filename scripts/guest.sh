#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the test VM (started by vm-run.sh) from the repo directory.
#   guest.sh test RESULTS [TEST_TIMEOUT [STRESS_SECONDS [LOAD_CYCLES]]]
#                           insmod, kselftest, upstream selftest, stress, rmmod,
#                           load/unload cycles, kmemleak scan if available, dmesg
#   guest.sh demo RESULTS   insmod, one real call through the device and /proc
#   guest.sh bench RESULTS [TIMEOUT]   insmod, 256 hugetlb pages, the benchmark
#                           with $PMS_BENCH_ARGS (from RESULTS/env): bench.csv, bench.log
#   guest.sh profile RESULTS [TIMEOUT]   the same, the benchmark's --profile
#                           mode: profile.csv, kallsyms.txt (the module's too)
# Writes its findings to files in RESULTS; vm-run.sh judges them.
set -u
mode=$1 res=$2 test_timeout=${3:-900} stress_secs=${4:-20} cycles_wanted=${5:-20}
note() { echo "$*" >>"$res/guest.log"; }
finish() { dmesg >"$res/dmesg.txt"; echo "$1" >"$res/finished"; exit 0; }

# A kernel that reported a splat while it booted, before the module or any
# test ran, tests nothing of ours: vm-run.sh boots it again, and says why.
. scripts/dmesg-judge.sh
dmesg >"$res/dmesg-boot.txt"
splats "$res/dmesg-boot.txt" >"$res/boot-splat" && exit 0
echo started >"$res/started"
set -a
. "$res/env"
set +a
echo 64 >/proc/sys/vm/nr_hugepages
# A distribution kernel has virtio_blk as a module (the swap disk).
[ -b /dev/vda ] || modprobe virtio_blk 2>/dev/null
note "hugetlb pages reserved: $(cat /proc/sys/vm/nr_hugepages)"
if mkswap /dev/vda >/dev/null 2>&1 && swapon /dev/vda; then
	note "swap: $(awk 'NR > 1 { print $1, $3 " KiB" }' /proc/swaps)"
else
	note "swap: none (no /dev/vda); the swap tests skip"
fi
note "THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
note "kernel: $(uname -r)"
note "NUMA nodes online: $(cat /sys/devices/system/node/online 2>/dev/null || echo 'none (no CONFIG_NUMA)')"

# bounded SECONDS NAME OUT CMD...: runs CMD with its output in OUT; a run
# still going after SECONDS must not hang the VM: say where its threads are
# (wchan, syscall and kernel stack, in guest.log), then kill it. Returns
# CMD's exit status (137 when killed).
bounded() {
	local secs=$1 name=$2 out=$3 pid t
	shift 3
	"$@" >"$out" 2>&1 &
	pid=$!
	for _ in $(seq "$secs"); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	if kill -0 "$pid" 2>/dev/null; then
		note "$name still running after $secs s; its threads:"
		for t in /proc/"$pid"/task/*; do
			note "  $(basename "$t"): $(awk '{print $3}' "$t/stat") wchan=$(cat "$t/wchan") syscall=$(cut -d' ' -f1 "$t/syscall")"
			sed 's/^/      /' "$t/stack" >>"$res/guest.log" 2>/dev/null
		done
		# A running thread has no stack in /proc: the CPUs' backtraces
		# (dmesg) show it if it is in the kernel, gdb if in user space.
		echo l >/proc/sysrq-trigger 2>/dev/null
		command -v gdb >/dev/null &&
			timeout 60 gdb -p "$pid" -batch -ex 'thread apply all bt' 2>&1 | sed 's/^/      gdb: /' >>"$res/guest.log"
		kill -9 "$pid"
	fi
	wait "$pid"
}

# The module's device is root's (0600); packaging/udev/60-pagemap-scan.rules
# opens it to everyone. The VM has no udev: apply the rule's mode.
load() {
	insmod "$PMS_KO" && chmod 0666 /dev/pagemap_scan
}

if ! load 2>>"$res/guest.log"; then
	note "insmod failed"
	finish insmod-failed
fi
[ -c /dev/pagemap_scan ] || { note "/dev/pagemap_scan missing after insmod"; finish no-device; }
note "module: $(modinfo -F vermagic "$PMS_KO" 2>/dev/null); device $(ls -l /dev/pagemap_scan)"
# >>> notifier: the kselftest's helper (selftests/notifier); its test skips without it
if [ -n "${PMS_NOTIFIER_KO:-}" ]; then
	if insmod "$PMS_NOTIFIER_KO" 2>>"$res/guest.log"; then
		note "helper: pms_notifier_probe loaded"
	else
		note "helper: insmod $PMS_NOTIFIER_KO failed"
	fi
fi
# <<< notifier

case $mode in
test)
	# The loaded module's code, for scripts/ibt-check.sh on the host (needs /proc/kcore).
	scripts/guest-ibt.sh "$res" 2>/dev/null
	bounded "$test_timeout" kselftest "$res/tap.txt" target/release/pagemap_scan_test
	echo $? >"$res/selftest.rc"
	# The kernel's own selftest, its PAGEMAP_SCAN calls sent to the device.
	if [ -x "$PMS_UPSTREAM" ]; then
		# It creates a file in its working directory: give it a writable one.
		(cd /tmp && timeout "$test_timeout" "$PMS_UPSTREAM") >"$res/upstream.txt" 2>&1
		echo $? >"$res/upstream.rc"
	fi
	bounded $((stress_secs + 120)) stress "$res/stress.txt" target/release/pagemap_scan_stress "$stress_secs"
	echo $? >"$res/stress.rc"
	rmmod pagemap_scan || { note "rmmod failed"; finish rmmod-failed; }
	cycles=0
	for _ in $(seq "$cycles_wanted"); do
		load && rmmod pagemap_scan || break
		cycles=$((cycles + 1))
	done
	echo "$cycles" >"$res/cycles"
	# On a kmemleak kernel: collect what is reported after all of the above.
	mount -t debugfs none /sys/kernel/debug 2>/dev/null
	if [ -w /sys/kernel/debug/kmemleak ]; then
		echo scan >/sys/kernel/debug/kmemleak
		sleep 5
		echo scan >/sys/kernel/debug/kmemleak
		cat /sys/kernel/debug/kmemleak >"$res/kmemleak.txt"
	fi
	;;
demo)
	target/release/pagemap_scan_demo >"$res/demo.txt" 2>&1
	# A real process through the device attached to it by pidfd: the pages
	# `sleep` has of its own (present, not file-backed).
	{
		echo '$ pmscan --require present --exclude file -- sleep 30'
		target/release/pmscan --require present --exclude file -- sleep 30
	} >>"$res/demo.txt" 2>&1
	rmmod pagemap_scan
	;;
# >>> ibt: the loaded module's code for scripts/ibt-check.sh (guest-ibt.sh)
ibt)
	scripts/guest-ibt.sh "$res" || note "guest-ibt.sh failed: $(tail -3 "$res/ibt.err")"
	rmmod pagemap_scan
	;;
# <<< ibt
bench)
	# 512 MiB of hugetlb for its hugetlb workload.
	echo 256 >/proc/sys/vm/nr_hugepages
	note "bench: hugetlb pages reserved: $(cat /proc/sys/vm/nr_hugepages); args: ${PMS_BENCH_ARGS:-}"
	# shellcheck disable=SC2086 # PMS_BENCH_ARGS is a list of words
	timeout "$test_timeout" target/release/pagemap_scan_bench ${PMS_BENCH_ARGS:-} --out "$res/bench.csv" 2>"$res/bench.log"
	echo $? >"$res/bench.rc"
	rmmod pagemap_scan
	;;
profile)
	echo 256 >/proc/sys/vm/nr_hugepages
	# The symbols, the module's included, before it goes: root reads the addresses.
	cat /proc/kallsyms >"$res/kallsyms.txt"
	# shellcheck disable=SC2086 # PMS_BENCH_ARGS is a list of words
	timeout "$test_timeout" target/release/pagemap_scan_bench ${PMS_BENCH_ARGS:-} --profile "$res/profile.csv" 2>"$res/bench.log"
	echo $? >"$res/bench.rc"
	rmmod pagemap_scan
	;;
esac
finish ok
