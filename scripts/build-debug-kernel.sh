#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the debug kernel: Debian's linux-source-7.3 (debian-kernel.conf)
# configured from allnoconfig + fragments, built in the Debian chroot by
# Debian's rustc and bindgen, as the stock kernel, and by Debian's clang for
# C: Linux 7.3 allows KASAN with Rust only in a clang-built kernel
# (`config RUST: depends on !KASAN || CC_IS_CLANG`); clang 19 is the LLVM of
# Debian's rustc.
#
#   scripts/build-debug-kernel.sh                      prepare the chroot if needed, build, reuse
#   scripts/build-debug-kernel.sh --print-kdir         the kernel tree, host path (builds nothing)
#   scripts/build-debug-kernel.sh --print-chroot-kdir  the same tree, path inside the chroot
#   scripts/build-debug-kernel.sh make SRC ARGS...     `make -C <tree> M=SRC ARGS` in the chroot
#                                                      (a module must be built by this tree's rustc)
#
# Fragments, merged in this order (a later line overrides an earlier one):
#   kernel.config            the base of the 6.12 test kernel: what the module, VM and tests need
#   kernel-debian-mm.config  the mm state of Debian's stock 7.3 a page-table scanner meets
#   kernel-debug.config      the checkers of the 6.12 debug kernel (lockdep, DEBUG_VM, kmemleak)
#   kernel-debug-7.3.config  what 7.3 adds: more memory checkers, fault injection
#
# The tree lives inside the chroot, so the chroot's make and rustc can use it:
# $PMS_CACHE/debian-<krel>/root/build/debug-<key>/linux (/build/debug-<key>/linux
# in the chroot). <key> hashes the fragments and the pinned Debian kernel and
# compilers. A `.complete` stamp is written only after bzImage and the module
# build files exist, so an interrupted build is resumed, never mistaken for finished.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/debian-kernel.conf"

FRAGMENTS=("$here/kernel.config" "$here/kernel-debian-mm.config"
	"$here/kernel-debug.config" "$here/kernel-debug-7.3.config")

key=$( (cat "${FRAGMENTS[@]}"; echo "$DEB_KREL $DEB_KPKG $DEB_RUSTC $DEB_BINDGEN LLVM=1") | sha256sum | cut -c1-12)
root=$PMS_CACHE/debian-$DEB_KREL/root
cdir=/build/debug-$key # inside the chroot
dir=$root$cdir         # the same, from the host
kdir=$dir/linux
KMAKE="make -C $cdir/linux ARCH=x86 LLVM=1"

case "${1:-}" in
--print-kdir)
	echo "$kdir"
	exit 0
	;;
--print-chroot-kdir)
	echo "$cdir/linux"
	exit 0
	;;
make)
	[ $# -ge 2 ] || die "usage: $0 make SRC [ARGS...]"
	src=$2
	shift 2
	[ -f "$dir/.complete" ] || die "the debug kernel is not built: run $0"
	exec "$here/debian-kernel.sh" run "$src" "$KMAKE M=/src $*"
	;;
"") ;;
*) die "usage: $0 [--print-kdir | --print-chroot-kdir | make SRC ARGS...]" ;;
esac

if [ -f "$dir/.complete" ]; then
	phase "debug kernel: reusing $kdir"
	exit 0
fi

# The chroot with Debian's compilers and linux-source (idempotent).
"$here/debian-kernel.sh"
# in_chroot CMD: CMD in the chroot (the build directory is also at /src).
in_chroot() { "$here/debian-kernel.sh" run "$dir" "$*"; }

t0=$(date +%s)
mkdir -p "$dir"
if [ ! -f "$dir/.unpacked" ]; then
	phase "debug kernel: unpacking /usr/src/$DEB_KSRC.tar.xz into $kdir"
	in_chroot "cd $cdir && rm -rf linux tmp && mkdir tmp && tar -C tmp -xf /usr/src/$DEB_KSRC.tar.xz && mv tmp/$DEB_KSRC linux && rmdir tmp"
	touch "$dir/.unpacked"
fi

# The fragments, where the chroot sees them.
rm -rf "$dir/fragments"
mkdir -p "$dir/fragments"
cfrags=()
for f in "${FRAGMENTS[@]}"; do
	cp "$f" "$dir/fragments/"
	cfrags+=("$cdir/fragments/$(basename "$f")")
done

phase "debug kernel: configuring (allnoconfig + $(basename -a "${FRAGMENTS[@]}" | paste -sd+))"
if ! in_chroot "command -v clang && command -v ld.lld && command -v llvm-ar" >/dev/null 2>&1; then
	phase "debug kernel: installing clang, lld and llvm in the chroot"
	in_chroot "DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang lld llvm" >"$dir/apt.log" 2>&1 ||
		{ tail -20 "$dir/apt.log"; die "apt-get in the chroot failed (log: $dir/apt.log)"; }
fi
in_chroot "$KMAKE rustavailable" >"$dir/config.log" 2>&1 || { cat "$dir/config.log"; die "the kernel says Rust is not available"; }
in_chroot "$KMAKE allnoconfig
	cd $cdir/linux && scripts/kconfig/merge_config.sh -m .config ${cfrags[*]}
	$KMAKE olddefconfig" >>"$dir/config.log" 2>&1 || { tail -30 "$dir/config.log"; die "configuring failed (log: $dir/config.log)"; }
# merge_config warns but does not fail on a dropped option: fail here instead.
# The fragments are read as merge_config reads them: the last line for an option wins.
declare -A want=()
order=()
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*) opt=${line%%=*} ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		;;
	*) continue ;;
	esac
	[ -n "${want[$opt]+x}" ] || order+=("$opt")
	want[$opt]=$line
done < <(cat "${FRAGMENTS[@]}")
bad=0
for opt in "${order[@]}"; do
	line=${want[$opt]}
	case "$line" in
	CONFIG_*) grep -qxF "$line" "$kdir/.config" || {
		echo "config: '$line' did not survive olddefconfig (now: $(grep -E "^(# )?$opt[= ]" "$kdir/.config" || echo absent))" >&2
		bad=1
	} ;;
	*) ! grep -q "^$opt=" "$kdir/.config" || {
		echo "config: '$opt' is set ($(grep "^$opt=" "$kdir/.config")), the fragments want it off" >&2
		bad=1
	} ;;
	esac
done
[ "$bad" = 0 ] || die "the merged fragments did not survive olddefconfig (log: $dir/config.log)"

jobs=$(($(nproc) + 1))
phase "debug kernel: building bzImage and Module.symvers with clang and rustc $DEB_RUSTC, -j$jobs (17 minutes on 2 cores when last measured; log: $dir/build.log)"
# One progress line per 500 build steps, so a long build shows it is alive.
set +e
in_chroot "$KMAKE -j$jobs bzImage modules headers" 2>&1 | tee "$dir/build.log" | progress "debug kernel" 500
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 0 ]; then
	grep -E 'error|Error' "$dir/build.log" | head -20 >&2
	die "debug kernel build failed (exit $status), full log: $dir/build.log"
fi
for f in arch/x86/boot/bzImage Module.symvers usr/include/linux/fs.h rust/libkernel.rmeta; do
	[ -f "$kdir/$f" ] || die "build finished but $f is missing"
done
echo "$(($(date +%s) - t0))" >"$dir/build-seconds"
touch "$dir/.complete"
phase "debug kernel: done in $(($(date +%s) - t0)) s, $kdir/arch/x86/boot/bzImage (in the chroot: $cdir/linux)"
