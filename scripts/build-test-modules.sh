#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The kselftest's helper modules for one kernel, built as scripts/kernel.sh
# builds pagemap_scan.ko for it (same tree, same compilers).
#
#   build-test-modules.sh KERNEL OUT   KERNEL: debian, 6.12 or debug (kernel.sh)
#
# selftests/notifier (pms_notifier_probe.ko): records the mmu-notifier
# invalidations of its opener's mm. Built only where the kernel has
# CONFIG_MMU_NOTIFIER; without it no .ko is made, and the kselftest's notifier
# test skips. Prints the .ko's path, or why there is none, on the last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

kernel=${1:?usage: build-test-modules.sh KERNEL OUT}
out=${2:?usage: build-test-modules.sh KERNEL OUT}
mkdir -p "$out"
# A copy, changed files only (the checkout stays clean); no stale .ko.
(cd "$here/../selftests/notifier" && tar -cf - Kbuild ./*.c ./*.h) | tar -xf - -C "$out"
rm -f "$out/pms_notifier_probe.ko"

case $kernel in
debian) "$here/debian-kernel.sh" make "$out" modules ;;
6.12) make -C "$("$here/build-kernel.sh" --print-kdir)" M="$out" LLVM=1 modules ;;
debug) "$here/build-debug-kernel.sh" make "$out" modules ;;
*) die "build-test-modules.sh: unknown kernel '$kernel' (debian, 6.12, debug)" ;;
esac

tree=$("$here/kernel.sh" "$kernel" tree)
if [ -f "$out/pms_notifier_probe.ko" ]; then
	echo "$out/pms_notifier_probe.ko"
elif ! grep -q '^CONFIG_MMU_NOTIFIER=y' "$tree/.config"; then
	echo "no pms_notifier_probe.ko: $kernel has no CONFIG_MMU_NOTIFIER"
else
	die "pms_notifier_probe.ko was not built"
fi
