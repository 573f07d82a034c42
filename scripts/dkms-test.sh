#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the module the way DKMS does, against the cached test kernel, and test
# `make install`/`make uninstall` into a staging root (Documentation/packaging.rst).
#
#   scripts/dkms-test.sh [KDIR]     (default: the cached test kernel)
#
# dkms runs with its trees in a temporary directory (--dkmstree, --sourcetree)
# and the test kernel's build tree (--kernelsourcedir): nothing under
# /var/lib/dkms, /usr/src or /lib/modules is touched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

kdir=${1:-$(scripts/build-kernel.sh --print-kdir)}
[ -f "$kdir/include/config/kernel.release" ] || die "no built kernel at $kdir (run make kernel)"
kver=$(cat "$kdir/include/config/kernel.release")
name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' dkms.conf)
version=$(make -s --no-print-directory version KDIR="$kdir")
[ -n "$name" ] && [ -n "$version" ] || die "dkms.conf: no PACKAGE_NAME or PACKAGE_VERSION"

# Without recommends: they pull Debian's own kernel headers, useless here.
if ! command -v dkms >/dev/null; then
	phase "apt: installing dkms"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dkms
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pms-dkms.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The source as a package would ship it: tracked files and new ones, not
# ignored ones (build products, target/), as they are in the working tree.
src=$tmp/src/$name-$version
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	tar -cf - --null -T - | tar -xf - -C "$src"

phase "dkms: add and build $name/$version for $kver"
trees=(--dkmstree "$tmp/dkms" --sourcetree "$tmp/src")
mkdir -p "$tmp/dkms"
dkms add -m "$name" -v "$version" "${trees[@]}"
if ! dkms build -m "$name" -v "$version" -k "$kver" --kernelsourcedir "$kdir" "${trees[@]}"; then
	cat "$tmp/dkms/$name/$version/build/make.log" 2>/dev/null || true
	die "dkms build failed"
fi
ko=$tmp/dkms/$name/$version/$kver/$(uname -m)/module/$name.ko
[ -f "$ko" ] || die "dkms build left no $ko"
vermagic=$(modinfo -F vermagic "$ko")
[ "${vermagic%% *}" = "$kver" ] || die "vermagic '$vermagic' is not for $kver"
phase "dkms: $ko, vermagic $vermagic"

# make install/uninstall in the copy, so the working tree's build is left alone.
root=$tmp/root
phase "make install DESTDIR=$root"
make -s --no-print-directory -C "$src" module KDIR="$kdir"
make -s --no-print-directory -C "$src" install KDIR="$kdir" DESTDIR="$root"
want=("lib/modules/$kver/extra/$name.ko" usr/include/linux/pagemap_scan.h
	usr/lib/udev/rules.d/60-pagemap-scan.rules)
for f in "${want[@]}"; do
	[ -s "$root/$f" ] || die "make install did not install /$f"
done
[ "${vermagic}" = "$(modinfo -F vermagic "$root/${want[0]}")" ] || die "installed module is not for $kver"
grep -q "^$name\.ko:\|/$name\.ko:" "$root/lib/modules/$kver/modules.dep" || die "depmod did not list the module"
cmp -s include/uapi/linux/pagemap_scan.h "$root/usr/include/linux/pagemap_scan.h" || die "installed header differs"
cc -fsyntax-only -Wall -Werror -I"$root/usr/include" -x c - <<<'#include <linux/pagemap_scan.h>' ||
	die "the installed header does not compile"
[ ! -e "$root/etc/modules-load.d/$name.conf" ] || die "modules-load.d entry installed without AUTOLOAD=1"
make -s --no-print-directory -C "$src" install KDIR="$kdir" DESTDIR="$root" AUTOLOAD=1
[ "$(grep -v '^#' "$root/etc/modules-load.d/$name.conf")" = "$name" ] || die "AUTOLOAD=1: no modules-load.d entry"

make -s --no-print-directory -C "$src" uninstall KDIR="$kdir" DESTDIR="$root"
left=$(find "$root" -type f ! -name 'modules.*')
[ -z "$left" ] || die "make uninstall left: $left"
phase "dkms: build, install and uninstall ok"
