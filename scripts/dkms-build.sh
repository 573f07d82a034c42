#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# dkms.conf's MAKE and CLEAN: build (or clean) pagemap_scan.ko for a kernel,
# with the compiler that kernel was built with (scripts/kbuild-toolchain.sh).
#
#   dkms-build.sh KERNELVER KERNEL_SOURCE_DIR MODULE_DIR [MAKE TARGETS...]
#
# A Rust module needs the kernel's Rust metadata (rust/libkernel.rmeta and
# friends), which a full kernel build tree has and distribution headers
# packages (Debian's linux-headers-*) do not. With the metadata, the module is
# built against KERNEL_SOURCE_DIR as it is. Without it, a tree is prepared
# once per kernel release in $PAGEMAP_SCAN_KTREE_CACHE/KERNELVER (default
# /var/cache/pagemap_scan/KERNELVER): linux-source-X.Y's tarball, the
# headers' .config (olddefconfig must leave it unchanged), `make
# modules_prepare`, and the headers' Module.symvers and vmlinux, so modpost
# checks the module against the kernel as shipped. The tree is rebuilt when
# the headers, the tarball or the compilers change; `rm -rf` it at will.
set -euo pipefail

kver=${1:?usage: dkms-build.sh KERNELVER KERNEL_SOURCE_DIR MODULE_DIR [TARGETS...]}
ksrc=${2:?usage: dkms-build.sh KERNELVER KERNEL_SOURCE_DIR MODULE_DIR [TARGETS...]}
mdir=${3:?usage: dkms-build.sh KERNELVER KERNEL_SOURCE_DIR MODULE_DIR [TARGETS...]}
shift 3
[ $# -gt 0 ] || set -- modules
here=$(cd "$(dirname "$0")" && pwd)
jobs=${PAGEMAP_SCAN_JOBS:-$(nproc 2>/dev/null || echo 2)}

# Progress and errors go to dkms's make.log (stderr) and, when there is one,
# to the terminal of whoever runs dkms: a first build waits minutes on them.
say() {
	echo "pagemap_scan: $*" >&2
	{ [ -w /dev/tty ] && echo "pagemap_scan: $*" >/dev/tty; } 2>/dev/null || true
}
die() {
	say "error: $*"
	exit 1
}
config_val() { sed -n "s/^$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$2"; }

config=$ksrc/.config
[ -r "$config" ] || die "no kernel configuration at $config: install the headers of $kver (on Debian: linux-headers-$kver)"
grep -q '^CONFIG_RUST=y' "$config" || die "kernel $kver is built without Rust support (CONFIG_RUST): pagemap_scan cannot be built for it"
read -r -a toolchain <<<"$("$here/kbuild-toolchain.sh" "$ksrc")"

# The compilers must be the kernel's own: Rust symbol names hash rustc's
# version, and Kbuild checks the C compiler against CONFIG_CC_VERSION_TEXT.
check_compilers() {
	local want have cc
	command -v rustc >/dev/null || die "no rustc: install rustc, rust-src and libstd-rust-dev of the version that built $kver ($(config_val CONFIG_RUSTC_VERSION_TEXT "$config"))"
	want=$(config_val CONFIG_RUSTC_VERSION_TEXT "$config")
	have=$(rustc --version)
	[ -z "$want" ] || [ "$want" = "$have" ] ||
		die "$kver was built by '$want', rustc here is '$have': install the rustc (and rust-src, libstd-rust-dev) of that version"
	if ! grep -q '^CONFIG_CC_IS_CLANG=y' "$config"; then
		cc=$(config_val CONFIG_CC_VERSION_TEXT "$config")
		cc=${cc%% *}
		command -v "${cc:-gcc}" >/dev/null || die "$kver was built by ${cc:-gcc}, which is not installed (on Debian: install gcc-${cc##*-})"
	fi
}

# Echoes the directory to build in: KERNEL_SOURCE_DIR, or the prepared tree.
kernel_tree() {
	if [ -f "$ksrc/rust/libkernel.rmeta" ]; then
		echo "$ksrc"
		return
	fi
	local cache=${PAGEMAP_SCAN_KTREE_CACHE:-/var/cache/pagemap_scan}/$kver
	local tree=$cache/tree log=$cache/prepare.log
	local ver
	ver=$(echo "$kver" | cut -d. -f1,2)
	local tarball=/usr/src/linux-source-$ver.tar.xz
	say "$ksrc has no Rust metadata (rust/libkernel.rmeta): using a tree prepared from linux-source-$ver in $tree"

	[ -f "$tarball" ] || die "no $tarball: install linux-source-$ver (the sources of $kver)"
	if command -v dpkg-query >/dev/null; then
		local vsrc vhdr
		vsrc=$(dpkg-query -W -f='${Version}' "linux-source-$ver" 2>/dev/null || true)
		vhdr=$(dpkg-query -W -f='${Version}' "linux-headers-$kver" 2>/dev/null || true)
		[ -z "$vsrc" ] || [ -z "$vhdr" ] || [ "$vsrc" = "$vhdr" ] ||
			die "linux-source-$ver is $vsrc, linux-headers-$kver is $vhdr: install linux-source-$ver=$vhdr"
	fi
	[ -f "$ksrc/Module.symvers" ] || die "no $ksrc/Module.symvers: install linux-headers-$kver"

	mkdir -p "$cache" 2>/dev/null || die "cannot create $cache (run dkms as root, or set PAGEMAP_SCAN_KTREE_CACHE)"
	# One preparation at a time per kernel (dkms autoinstall may run twice).
	exec 9>"$cache/.lock"
	command -v flock >/dev/null && flock 9

	# What the tree is made of: when any of it changes, it is prepared again.
	local stamp
	stamp=$(
		echo "kver $kver"
		sha256sum "$config" "$ksrc/Module.symvers"
		stat -L -c 'source %s %Y %n' "$tarball"
		rustc --version
		bindgen --version 2>/dev/null || echo "no bindgen"
		"$here/kbuild-toolchain.sh" "$ksrc"
	)
	if [ -f "$cache/stamp" ] && [ "$(cat "$cache/stamp")" = "$stamp" ] && [ -f "$tree/rust/libkernel.rmeta" ]; then
		echo "$tree"
		return
	fi

	# Everything modules_prepare needs, named by package, before minutes are spent.
	local sysroot want have
	sysroot=$(rustc --print sysroot)
	[ -f "$sysroot/lib/rustlib/src/rust/library/core/src/lib.rs" ] || die "no Rust standard library sources in $sysroot: install rust-src (of rustc's version)"
	command -v bindgen >/dev/null || die "no bindgen: install bindgen ($(config_val CONFIG_BINDGEN_VERSION_TEXT "$config"))"
	want=$(config_val CONFIG_BINDGEN_VERSION_TEXT "$config")
	have=$(bindgen --version 2>/dev/null | head -1)
	[ -z "$want" ] || [ "$want" = "$have" ] || die "$kver had its bindings generated by '$want', bindgen here is '$have': install bindgen of that version"
	if [ "$(config_val CONFIG_PAHOLE_VERSION "$config")" != 0 ] && [ -n "$(config_val CONFIG_PAHOLE_VERSION "$config")" ]; then
		command -v pahole >/dev/null || die "no pahole: install dwarves (the kernel has BTF, CONFIG_PAHOLE_VERSION=$(config_val CONFIG_PAHOLE_VERSION "$config"))"
	fi
	command -v openssl >/dev/null || die "no openssl: install openssl"
	[ -f /usr/include/openssl/opensslv.h ] || die "no OpenSSL headers (sign-file is built from source): install libssl-dev"
	[ -f /usr/include/gelf.h ] || die "no libelf headers (objtool): install libelf-dev"
	local tool
	for tool in make flex bison bc xz perl; do
		command -v $tool >/dev/null || die "no $tool: install $( [ $tool = xz ] && echo xz-utils || echo $tool)"
	done

	local t0=$SECONDS
	say "preparing the kernel tree for $kver once (unpack, olddefconfig, modules_prepare: several minutes; log: $log)"
	local kmake=(make -C "$tree" "${toolchain[@]}" KERNELRELEASE="$kver")
	rm -rf "$tree" "$cache/stamp"
	mkdir -p "$tree"
	say "unpacking $tarball"
	tar -C "$tree" --strip-components=1 -xf "$tarball" || die "unpacking $tarball failed"
	cp "$config" "$tree/.config"
	"${kmake[@]}" olddefconfig >"$log" 2>&1 || { tail -20 "$log" >&2; die "make olddefconfig failed (log: $log)"; }
	if ! cmp -s "$config" "$tree/.config"; then
		diff -u "$config" "$tree/.config" | head -40 >&2 || true
		if ! "${kmake[@]}" rustavailable >>"$log" 2>&1; then
			tail -5 "$log"
			die "Rust is not available to this tree (above; bindgen needs libclang: install libclang-dev)"
		fi
		die "olddefconfig changed $kver's configuration (diff above): the compilers or tools here differ from the ones $kver was built with (gcc, rustc, bindgen, libclang-dev, dwarves, openssl)"
	fi
	say "modules_prepare with $jobs jobs (${toolchain[*]})"
	"${kmake[@]}" -j"$jobs" modules_prepare >>"$log" 2>&1 || { tail -30 "$log" >&2; die "make modules_prepare failed (log: $log)"; }
	[ -f "$tree/rust/libkernel.rmeta" ] || die "modules_prepare built no rust/libkernel.rmeta (log: $log)"
	[ "$(cat "$tree/include/config/kernel.release")" = "$kver" ] || die "the tree's release is not $kver"
	cp "$ksrc/Module.symvers" "$tree/"
	# BTF for the module needs the kernel's vmlinux; depmod a System.map.
	[ ! -f "$ksrc/vmlinux" ] || cp "$ksrc/vmlinux" "$tree/"
	for m in "$ksrc/System.map" "/boot/System.map-$kver" "/lib/modules/$kver/System.map"; do
		if [ -f "$m" ]; then cp "$m" "$tree/System.map"; break; fi
	done
	echo "$stamp" >"$cache/stamp"
	say "kernel tree for $kver ready in $((SECONDS - t0)) s: $tree"
	echo "$tree"
}

case "$*" in
clean)
	kdir=$ksrc
	[ -f "$ksrc/rust/libkernel.rmeta" ] || kdir=${PAGEMAP_SCAN_KTREE_CACHE:-/var/cache/pagemap_scan}/$kver/tree
	[ -d "$kdir" ] || exit 0
	exec make -C "$kdir" M="$mdir" "${toolchain[@]}" KERNELRELEASE="$kver" clean
	;;
esac

check_compilers
kdir=$(kernel_tree)
say "building for $kver against $kdir (${toolchain[*]})"
exec make -C "$kdir" M="$mdir" "${toolchain[@]}" KERNELRELEASE="$kver" -j"$jobs" "$@"
