#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The kernels the module is built for and tested on, behind one interface.
#
#   kernel.sh TARGET prepare        build or fetch it (cached; idempotent)
#   kernel.sh TARGET image          the image the VM boots
#   kernel.sh TARGET vng-args       extra virtme-ng arguments for it
#   kernel.sh TARGET tree           its source tree, host path (headers in usr/include)
#   kernel.sh TARGET release        its `uname -r`
#   kernel.sh TARGET module OUT [MAKE ARGS]
#                                   builds the module from this checkout in OUT
#                                   (a copy of the sources: the checkout stays clean)
#
# TARGET:
#   debian  Debian's stock linux-image (scripts/debian-kernel.conf), as
#           shipped; modules built in a chroot with Debian's compilers
#   6.12    Linux 6.12 from Debian's linux-source-6.12, allnoconfig +
#           scripts/kernel.config, LLVM=1, rustup's rustc
#   debug   Debian's linux-source of the stock kernel with Debian's mm options
#           and KASAN, lockdep, DEBUG_VM, kmemleak, fault injection, built
#           with Debian's rustc and clang (scripts/build-debug-kernel.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/debian-kernel.conf"

target=${1:?usage: kernel.sh TARGET prepare|image|vng-args|tree|release|module OUT}
what=${2:?usage: kernel.sh TARGET prepare|image|vng-args|tree|release|module OUT}
shift 2
debian_dir=$("$here/debian-kernel.sh" --print-dir)
debian_chroot=$debian_dir/root

# Copies what Kbuild builds from into OUT, changed files only (so rebuilds are
# incremental), and the build's own files stay.
sync_sources() {
	mkdir -p "$1"
	(cd "$here/.." && tar -cf - Kbuild Makefile rust include) | tar -xf - -C "$1"
}

if [ "$what" = module ]; then
	out=${1:?usage: kernel.sh TARGET module OUT [MAKE ARGS]}
	shift
	sync_sources "$out"
fi

case $target in
debian)
	case $what in
	prepare) exec "$here/debian-kernel.sh" ;;
	image) echo "$debian_dir/img/usr/lib/modules/$DEB_KREL/vmlinuz" ;;
	# The image's 9p, overlayfs and virtio_blk are modules: virtme-ng loads
	# them from next to the image, with a static busybox for its initramfs.
	vng-args) echo "--busybox $debian_dir/busybox/usr/bin/busybox" ;;
	tree) echo "$debian_chroot/build/$DEB_KSRC" ;;
	release) echo "$DEB_KREL" ;;
	module) "$here/debian-kernel.sh" make "$out" modules "$@" ;;
	*) die "kernel.sh: unknown command $what" ;;
	esac
	;;
6.12)
	kdir=$("$here/build-kernel.sh" --print-kdir)
	case $what in
	prepare) exec "$here/build-kernel.sh" ;;
	image) echo "$kdir/arch/x86/boot/bzImage" ;;
	vng-args) echo "" ;;
	tree) echo "$kdir" ;;
	release) cat "$kdir/include/config/kernel.release" ;;
	module) make -C "$kdir" M="$out" LLVM=1 modules "$@" ;;
	*) die "kernel.sh: unknown command $what" ;;
	esac
	;;
debug)
	case $what in
	prepare) exec "$here/build-debug-kernel.sh" ;;
	image) echo "$("$here/build-debug-kernel.sh" --print-kdir)/arch/x86/boot/bzImage" ;;
	vng-args) echo "" ;;
	tree) "$here/build-debug-kernel.sh" --print-kdir ;;
	release) cat "$("$here/build-debug-kernel.sh" --print-kdir)/include/config/kernel.release" ;;
	module) "$here/build-debug-kernel.sh" make "$out" modules "$@" ;;
	*) die "kernel.sh: unknown command $what" ;;
	esac
	;;
*) die "kernel.sh: unknown kernel '$target' (debian, 6.12, debug)" ;;
esac
