#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Debian's stock Rust-enabled kernel (scripts/debian-kernel.conf): the image to
# boot, and a tree to build modules for it with the compilers Debian used.
#
#   debian-kernel.sh               prepare (or reuse) the chroot, image and tree
#   debian-kernel.sh --print-dir   the cache directory (builds nothing)
#   debian-kernel.sh make SRC ARGS run `make -C <tree> M=SRC ARGS` in the chroot
#   debian-kernel.sh run SRC CMD   run CMD in the chroot, SRC mounted at /src
#
# Debian's headers packages carry no Rust metadata, so the kernel's Rust
# libraries are rebuilt from linux-source with Debian's .config by Debian's own
# rustc and bindgen (a trixie chroot made by mmdebstrap: the host stays as it
# is). `modules_prepare` builds them without vmlinux; Debian's Module.symvers
# and BTF vmlinux are copied in, so modpost checks every symbol against the
# kernel as shipped. Nothing from the chroot is installed on the host.
#
# Layout under $PMS_CACHE/debian-<release>/:
#   root/                  the chroot; root/build/<source> is the kernel tree
#   img/                   the linux-binary and linux-modules packages, unpacked
#   busybox/               a static busybox for virtme-ng (the image's 9p is a module)
#   .root .tree            stamps: a step is redone unless its stamp exists
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/debian-kernel.conf"

dir=$PMS_CACHE/debian-$DEB_KREL
root=$dir/root
tree=/build/$DEB_KSRC
jobs=$(($(nproc) + 1))
# Debian builds its x86 kernels with gcc-14 as a cross compiler by name.
KMAKE="make -C $tree ARCH=x86 CROSS_COMPILE=x86_64-linux-gnu- CC=x86_64-linux-gnu-gcc-14 HOSTCC=gcc-14 KERNELRELEASE=$DEB_KREL"

# in_root [SRC] CMD: CMD in the chroot, in a private mount namespace (its
# mounts vanish with it), SRC bind-mounted at /src.
in_root() {
	local src=
	if [ $# -gt 1 ]; then src=$(realpath "$1"); shift; fi
	as_root unshare -m --propagation private bash -ec '
		r=$1 src=$2; shift 2
		mount -t proc proc "$r/proc"
		mount -t devtmpfs dev "$r/dev" 2>/dev/null || mount --bind /dev "$r/dev"
		if [ -n "$src" ]; then mkdir -p "$r/src"; mount --bind "$src" "$r/src"; fi
		exec chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 bash -ec "$1"
	' in_root "$root" "$src" "$*"
}

case "${1:-}" in
--print-dir)
	echo "$dir"
	exit 0
	;;
make)
	src=$2
	shift 2
	[ -f "$dir/.tree" ] || die "the Debian kernel tree is not prepared: run $0"
	in_root "$src" "$KMAKE M=/src $*"
	exit $?
	;;
run)
	src=$2
	shift 2
	in_root "$src" "$*"
	exit $?
	;;
"") ;;
*) die "usage: $0 [--print-dir | make SRC ARGS... | run SRC CMD...]" ;;
esac

mkdir -p "$dir"
if [ ! -f "$dir/.root" ]; then
	command -v mmdebstrap >/dev/null || {
		phase "apt: installing mmdebstrap"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >"$PMS_CACHE/apt-mmdebstrap.log" 2>&1
	}
	phase "debian: a $DEB_SUITE chroot with rustc $DEB_RUSTC, bindgen $DEB_BINDGEN, gcc-14 and $DEB_KSRC (about 2 minutes; log: $dir/mmdebstrap.log)"
	as_root rm -rf "$root" "$dir/img"
	pkgs="rustc=$DEB_RUSTC,rust-src=$DEB_RUSTC,libstd-rust-dev=$DEB_RUSTC,bindgen=$DEB_BINDGEN"
	pkgs+=",libclang-dev,gcc-14,gcc,make,flex,bison,bc,libelf-dev,libssl-dev,cpio,kmod,xz-utils,python3,dwarves,openssl"
	pkgs+=",rsync,$DEB_KSRC=$DEB_KPKG,linux-headers-$DEB_KREL=$DEB_KPKG,linux-kbuild-${DEB_KSRC#linux-source-}=$DEB_KPKG"
	as_root mmdebstrap --variant=apt --mode=root --skip=cleanup/apt/lists --include="$pkgs" \
		"$DEB_SUITE" "$root" "deb http://deb.debian.org/debian $DEB_SUITE main" \
		"deb http://deb.debian.org/debian $DEB_SUITE-backports main" >"$dir/mmdebstrap.log" 2>&1 ||
		{ tail -20 "$dir/mmdebstrap.log"; die "mmdebstrap failed (log: $dir/mmdebstrap.log)"; }
	phase "debian: downloading the stock image linux-binary/linux-modules-$DEB_KREL"
	in_root "mkdir -p /debs && cd /debs && apt-get download -q linux-binary-$DEB_KREL=$DEB_KPKG linux-modules-$DEB_KREL=$DEB_KPKG busybox-static" >>"$dir/mmdebstrap.log" 2>&1
	mkdir -p "$dir/img" "$dir/busybox"
	for d in "$root"/debs/linux-*.deb; do dpkg-deb -x "$d" "$dir/img"; done
	dpkg-deb -x "$root"/debs/busybox-static_*.deb "$dir/busybox"
	# Rust symbol names hash the compiler's version string: it must be the one Debian used.
	want=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"/\1/p' "$root/usr/src/linux-headers-$DEB_KREL/.config")
	have=$(in_root 'rustc --version')
	[ "$want" = "$have" ] || die "rustc is '$have', $DEB_KREL was built by '$want': fix DEB_RUSTC in debian-kernel.conf"
	touch "$dir/.root"
fi

if [ ! -f "$dir/.tree" ]; then
	phase "debian: unpacking $DEB_KSRC and preparing it with Debian's .config (modules_prepare, about 3 minutes; log: $dir/tree.log)"
	hdr=/usr/src/linux-headers-$DEB_KREL
	set +e
	in_root "rm -rf $tree && mkdir -p /build && tar -C /build -xf /usr/src/$DEB_KSRC.tar.xz
		cp $hdr/.config $tree/.config
		$KMAKE olddefconfig
		cmp $hdr/.config $tree/.config
		$KMAKE -j$jobs modules_prepare
		$KMAKE headers
		cp $hdr/Module.symvers $hdr/vmlinux $tree/" 2>&1 | tee "$dir/tree.log" | progress debian 100
	status=${PIPESTATUS[0]}
	set -e
	[ "$status" = 0 ] ||
		{ tail -30 "$dir/tree.log"; die "preparing the Debian tree failed (log: $dir/tree.log)"; }
	touch "$dir/.tree"
fi
phase "debian: $DEB_KREL ready: tree $root$tree, image $dir/img/usr/lib/modules/$DEB_KREL/vmlinuz"
