#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: every test of the project, counted, ending with "N passed, M failed".
#   1. set-up and the cached test kernel (built on first use)
#   2. host unit tests of the pure logic (cargo test), rustfmt, clippy of the host crates
#   3. the module with warnings as errors, once through clippy-driver and once through rustc
#   4. the UAPI header compiled standalone and next to the kernel's <linux/fs.h>
#   4b. Documentation/: each page validated by docutils, the C examples compiled;
#       the DKMS build and make install/uninstall (scripts/dkms-test.sh)
#   5. the VM: insmod, the kselftest (TAP), the kernel's own pagemap_ioctl selftest
#      with its calls sent to the device, rmmod, load/unload cycles, dmesg scan
#
# check.sh --debug (make check-debug): the same on the debug kernel
# (scripts/kernel-debug.config: KASAN, lockdep, DEBUG_VM, DEBUG_ATOMIC_SLEEP,
# kmemleak), with a longer stress run, 100 load/unload cycles and a kmemleak scan.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

if [ "${1:-}" = --debug ]; then
	export PMS_KCONFIG_EXTRA=$here/kernel-debug.config
	export PMS_STRESS_SECS=${PMS_STRESS_SECS:-120} PMS_CYCLES=100
fi

passed=0 failed=0
pass() { passed=$((passed + $1)); }
fail() { failed=$((failed + $1)); }
summary() { echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; exit $?; }
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

# The kernel build shows its own progress (it can take ~8 minutes).
phase "check: kernel"
if scripts/build-kernel.sh; then pass 1; else
	echo "FAILED: kernel"
	fail 1
	summary
fi
kdir=$(scripts/build-kernel.sh --print-kdir)
phase "check: kernel at $kdir"

phase "check: host unit tests"
cargo test --workspace 2>&1 | tee "$PMS_CACHE/logs/cargo-test.log" | grep -E '^test result|FAILED|panicked'
while read -r p f; do pass "$p"; fail "$f"; done < <(
	sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$PMS_CACHE/logs/cargo-test.log")
[ "${PIPESTATUS[0]}" = 0 ] || grep -q '^test result' "$PMS_CACHE/logs/cargo-test.log" || fail 1

step rustfmt sh -c 'cargo fmt --all --check && rustfmt --check --edition 2021 rust/pagemap_scan_main.rs'
step cargo-clippy cargo clippy --workspace --all-targets -- -D warnings
step module-clippy make --no-print-directory build-clippy KDIR="$kdir"
step module-build make --no-print-directory build-module KDIR="$kdir"
step header-standalone cc -fsyntax-only -Wall -Werror -Iinclude/uapi selftests/abi/check_header.c
step header-with-kernel-fs.h cc -fsyntax-only -Wall -Werror -DWITH_KERNEL_FS_H \
	-I"$kdir/usr/include" -Iinclude/uapi selftests/abi/check_header.c
step docs "$PMS_VENV/bin/python3" scripts/check-docs.py
step doc-examples doc_examples "$kdir"
step dkms scripts/dkms-test.sh "$kdir"
step selftests-build cargo build --release -p pagemap-scan-selftests -p pmscan
step upstream-selftest-build env KDIR="$kdir" scripts/build-upstream-selftest.sh

phase "check: VM (insmod, kselftests, stress, rmmod, load/unload cycles, dmesg)"
KDIR=$kdir scripts/vm-run.sh test | tee "$PMS_CACHE/logs/vm.log"
vm=${PIPESTATUS[0]}
tap=$(sed -n 's/^vm: # Totals: pass:\([0-9]*\) fail:\([0-9]*\).*/\1 \2/p' "$PMS_CACHE/logs/vm.log")
if [ -n "$tap" ]; then
	pass "${tap% *}"
	fail "${tap#* }"
fi
up=$(sed -n 's/^vm: upstream .*Totals: pass:\([0-9]*\) fail:\([0-9]*\).*/\1 \2/p' "$PMS_CACHE/logs/vm.log")
if [ -n "$up" ]; then
	pass "${up% *}"
	fail "${up#* }"
fi
# The VM run as a whole (boot, cycles, dmesg) is one more check.
if [ "$vm" = 0 ]; then pass 1; else fail 1; fi
summary
