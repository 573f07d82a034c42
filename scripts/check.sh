#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: every test of the project on one kernel, counted, ending with
# "N passed, M failed, K skipped".
#   check.sh [--kernel debian|6.12|debug]     (default: debian, see kernel.sh)
#   1. set-up and the kernel (Debian's stock image and a tree to build for it,
#      or a self-built kernel; cached, built on first use)
#   2. host unit tests of the pure logic (cargo test), rustfmt, clippy of the host crates
#   3. the module with warnings as errors (and through clippy-driver on 6.12)
#   4. the UAPI header compiled standalone and next to the kernel's <linux/fs.h>
#   4b. Documentation/: each page validated by docutils, the C examples compiled;
#       on 6.12 the DKMS build and make install/uninstall (scripts/dkms-test.sh)
#   4c. the dmesg judge (scripts/dmesg-judge.sh) on the real reports in scripts/testdata/dmesg/
#   5. the VM: insmod, the kselftest (TAP), the kernel's own pagemap_ioctl selftest
#      with its calls sent to the device, stress, rmmod, load/unload cycles, dmesg scan
#
# --kernel debug (make check-debug): the KASAN/lockdep/DEBUG_VM/kmemleak kernel
# built from Debian's source, with a longer stress run, 100 load/unload cycles
# and a kmemleak scan.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

kernel=debian
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=$2; shift 2 ;;
	*) die "usage: check.sh [--kernel debian|6.12|debug]" ;;
	esac
done
export PMS_KERNEL=$kernel
if [ "$kernel" = debug ]; then
	export PMS_STRESS_SECS=${PMS_STRESS_SECS:-120} PMS_CYCLES=100
	# KASAN and friends make the kselftest several times slower (about
	# 10 min of its own on 2 busy cores): bounds for it and the whole boot.
	export PMS_TEST_TIMEOUT=${PMS_TEST_TIMEOUT:-2400} PMS_VM_TIMEOUT=${PMS_VM_TIMEOUT:-3600}
fi

passed=0 failed=0 skipped=0
pass() { passed=$((passed + $1)); }
fail() { failed=$((failed + $1)); }
summary() {
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
	exit $?
}
# step NAME CMD...: one check, its output in $PMS_CACHE/logs/NAME.log, shown on failure.
mkdir -p "$PMS_CACHE/logs"
step() {
	local name=$1 log=$PMS_CACHE/logs/$1.log
	shift
	phase "check: $name"
	if "$@" >"$log" 2>&1; then
		pass 1
	else
		tail -n 40 "$log"
		echo "FAILED: $name (log: $log)"
		fail 1
		return 1
	fi
}

# The C examples of Documentation/examples, compiled and linked against the
# host's headers and against the test kernel's (they need not run on the host).
doc_examples() {
	local out=$PMS_CACHE/doc-examples f
	mkdir -p "$out"
	for f in Documentation/examples/*.c; do
		cc -Wall -Wextra -Werror -Iinclude/uapi -o "$out/$(basename "$f" .c)" "$f" || return 1
		cc -Wall -Wextra -Werror -Iinclude/uapi -I"$1/usr/include" \
			-o "$out/$(basename "$f" .c)-kernel-headers" "$f" || return 1
	done
}

# The kernel build shows its own progress (minutes on first use).
phase "check: kernel $kernel"
if scripts/setup.sh && scripts/kernel.sh "$kernel" prepare; then pass 1; else
	echo "FAILED: kernel $kernel"
	fail 1
	summary
fi
kdir=$(scripts/kernel.sh "$kernel" tree)
module_dir=$PMS_CACHE/module-$kernel
phase "check: kernel $kernel ($(scripts/kernel.sh "$kernel" release)) at $kdir"

phase "check: host unit tests"
cargo test --workspace >"$PMS_CACHE/logs/cargo-test.log" 2>&1
cargo_status=$?
grep -E '^test result|FAILED|panicked' "$PMS_CACHE/logs/cargo-test.log"
while read -r p f; do pass "$p"; fail "$f"; done < <(
	sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$PMS_CACHE/logs/cargo-test.log")
# A build failure or a crashed test binary prints no "test result" for it.
[ "$cargo_status" = 0 ] || { echo "FAILED: cargo test exited $cargo_status"; fail 1; }

step rustfmt sh -c 'cargo fmt --all --check && rustfmt --check --edition 2021 rust/pagemap_scan_main.rs'
step cargo-clippy cargo clippy --workspace --all-targets -- -D warnings
# The kernel's clippy lints with rustup's clippy-driver, which matches the
# 6.12 build's rustc; Debian's kernels are built by Debian's rustc.
if [ "$kernel" = 6.12 ]; then
	step module-clippy scripts/kernel.sh 6.12 module "$PMS_CACHE/module-clippy" CLIPPY=1
fi
step module-build scripts/kernel.sh "$kernel" module "$module_dir"
# Test-only helper modules (the mmu-notifier recorder; none without CONFIG_MMU_NOTIFIER).
step test-modules scripts/build-test-modules.sh "$kernel" "$PMS_CACHE/test-modules-$kernel"
if [ -f "$PMS_CACHE/test-modules-$kernel/pms_notifier_probe.ko" ]; then
	export PMS_NOTIFIER_KO=$PMS_CACHE/test-modules-$kernel/pms_notifier_probe.ko
fi
step header-standalone cc -fsyntax-only -Wall -Werror -Iinclude/uapi selftests/abi/check_header.c
step header-with-kernel-fs.h cc -fsyntax-only -Wall -Werror -DWITH_KERNEL_FS_H \
	-I"$kdir/usr/include" -Iinclude/uapi selftests/abi/check_header.c
step docs "$PMS_VENV/bin/python3" scripts/check-docs.py
step dmesg-judge scripts/dmesg-judge-test.sh
step doc-examples doc_examples "$kdir"
if [ "$kernel" = 6.12 ]; then
	step dkms scripts/dkms-test.sh "$kdir"
fi
step selftests-build cargo build --release -p pagemap-scan-selftests -p pmscan
# As a Debian user installs it: trixie's dkms in the chroot (MOK-signed), make
# install, the installed module loaded in the stock image.
if [ "$kernel" = debian ]; then
	step dkms-debian scripts/dkms-test-debian.sh
fi
step upstream-selftest-build scripts/build-upstream-selftest.sh

phase "check: VM (insmod, kselftests, stress, rmmod, load/unload cycles, dmesg)"
scripts/vm-run.sh test | tee "$PMS_CACHE/logs/vm.log"
vm=${PIPESTATUS[0]}
tap=$(sed -n 's/^vm: # Totals: pass:\([0-9]*\) fail:\([0-9]*\).*skip:\([0-9]*\).*/\1 \2 \3/p' "$PMS_CACHE/logs/vm.log")
if [ -n "$tap" ]; then
	set -- $tap
	pass "$1"
	fail "$2"
	skipped=$((skipped + $3))
fi
up=$(sed -n 's/^vm: upstream .*Totals: pass:\([0-9]*\) fail:\([0-9]*\).*/\1 \2/p' "$PMS_CACHE/logs/vm.log")
if [ -n "$up" ]; then
	pass "${up% *}"
	fail "${up#* }"
fi
# The static calls into resolved functions, checked in the loaded module's code.
if grep -q '^vm: ibt-check: ok' "$PMS_CACHE/logs/vm.log"; then
	pass 1
elif grep -q '^vm: ibt-check: skipped' "$PMS_CACHE/logs/vm.log"; then
	skipped=$((skipped + 1))
else
	fail 1
fi
# The VM run as a whole (boot, cycles, dmesg) is one more check.
if [ "$vm" = 0 ]; then pass 1; else fail 1; fi
summary
