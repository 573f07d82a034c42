#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots the cached test kernel with virtme-ng and runs scripts/guest.sh in it.
#   vm-run.sh test   the kselftest and load/unload cycles; judges the results
#   vm-run.sh demo   one real call, printed
# TCG by default: KVM on these machines cannot boot a stock kernel. PMS_KVM=1
# uses KVM where it is known to work. Exit status 0 only if everything passed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

mode=${1:-test}
kdir=${KDIR:-$("$here/build-kernel.sh" --print-kdir)}
image=$kdir/arch/x86/boot/bzImage
[ -f "$image" ] || die "no kernel at $image: run 'make kernel'"
[ -x "$PMS_VENV/bin/vng" ] || die "virtme-ng missing: run scripts/setup.sh"

res=$(mktemp -d "${TMPDIR:-/tmp}/pagemap_scan-vm.XXXXXX")
kvm=--disable-kvm
[ "${PMS_KVM:-0}" = 1 ] && kvm=
phase "vm: booting $(basename "$(dirname "$kdir")") (${kvm:-KVM}${kvm:+, TCG}), results in $res"
# Seeds and lengths of the randomized tests reach the guest through a file.
env | grep -E '^PMS_(SEED|CALLS)=' >"$res/env"
# A sparse disk for the guest's swap (tests page memory out with MADV_PAGEOUT).
truncate -s 512M "$res/swap.img"
PATH=$PMS_VENV/bin:$PATH timeout "${PMS_VM_TIMEOUT:-1200}" vng $kvm --run "$image" --memory 2G --cpus 2 \
	--qemu-opts="-drive file=$res/swap.img,if=virtio,format=raw,cache=unsafe" \
	--rwdir "$res" --exec "scripts/guest.sh $mode $res ${PMS_TEST_TIMEOUT:-900} ${PMS_STRESS_SECS:-20} ${PMS_CYCLES:-20}" </dev/null >"$res/console.log" 2>&1
vm_status=$?
phase "vm: exited with status $vm_status"

rm -f "$res/swap.img"
finished=$(cat "$res/finished" 2>/dev/null || echo "never finished")
[ -f "$res/guest.log" ] && sed 's/^/guest: /' "$res/guest.log"
if [ "$finished" != ok ]; then
	tail -n 30 "$res/console.log" >&2
	die "vm: guest script: $finished"
fi

# dmesg of the whole boot: any of these fails the run.
# Lockdep's boot banner names it without reporting anything: that line is not a splat.
splats=$(grep -E 'BUG|WARNING|Oops|KASAN|lockdep|general protection' "$res/dmesg.txt" |
	grep -v 'RCU lockdep checking is enabled')
if [ "$mode" = demo ]; then
	cat "$res/demo.txt"
	[ -z "$splats" ] || { echo "$splats"; die "vm: kernel splat in dmesg"; }
	exit 0
fi

cat "$res/tap.txt"
fail=0
totals=$(grep '^# Totals:' "$res/tap.txt") || { echo "vm: no TAP totals"; fail=1; }
[ "$(cat "$res/selftest.rc")" = 0 ] || { echo "vm: kselftest exit status $(cat "$res/selftest.rc")"; fail=1; }
if [ -f "$res/upstream.rc" ]; then
	up=$(grep '^# Totals:' "$res/upstream.txt" || echo "no totals")
	echo "vm: upstream pagemap_ioctl selftest via the device: ${up#\# } (exit $(cat "$res/upstream.rc"))"
	[ "$(cat "$res/upstream.rc")" = 0 ] || { grep -E '^not ok|Bail' "$res/upstream.txt"; fail=1; }
fi
echo "vm: stress: $(grep '^# stress' "$res/stress.txt" || echo 'no summary') (exit $(cat "$res/stress.rc"))"
[ "$(cat "$res/stress.rc")" = 0 ] || { tail -5 "$res/stress.txt"; fail=1; }
cycles=$(cat "$res/cycles")
echo "vm: load/unload cycles: $cycles of ${PMS_CYCLES:-20}"
[ "$cycles" = "${PMS_CYCLES:-20}" ] || fail=1
if [ -f "$res/kmemleak.txt" ]; then
	leaks=$(grep -c 'unreferenced object' "$res/kmemleak.txt")
	echo "vm: kmemleak: $leaks unreferenced objects"
	[ "$leaks" = 0 ] || { head -40 "$res/kmemleak.txt"; fail=1; }
fi
if [ -n "$splats" ]; then
	echo "vm: kernel splats in dmesg:"
	echo "$splats"
	fail=1
else
	echo "vm: dmesg clean ($(wc -l <"$res/dmesg.txt") lines scanned)"
fi
echo "vm: ${totals:-no totals}"
exit $fail
