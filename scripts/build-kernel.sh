#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the Rust-enabled test kernel.
#
#   scripts/build-kernel.sh              install what is missing, build, print nothing else at the end
#   scripts/build-kernel.sh --print-kdir print the cached build directory (builds nothing)
#
# The build lives outside the repo in $PMS_CACHE/kernel-<key>, where <key> hashes
# the Debian source version, the config fragment and the Rust toolchain (a module
# must be built by the rustc that built its kernel). A `.complete` stamp is written
# only after `bzImage` and the module build files exist, so an interrupted build
# is resumed, never mistaken for finished.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# The base fragment, and optionally one merged over it (the debug kernel).
FRAGMENTS=("$here/kernel.config")
[ -n "${PMS_KCONFIG_EXTRA:-}" ] && FRAGMENTS+=("$(realpath "$PMS_KCONFIG_EXTRA")")
SRC_PKG=linux-source-6.12

kernel_key() {
	local ver rust
	ver=$(dpkg-query -W -f='${Version}' "$SRC_PKG" 2>/dev/null) || die "$SRC_PKG is not installed"
	rust="$(rustc --version) $(bindgen --version 2>/dev/null)"
	printf '%s-%s\n' "${ver//[^A-Za-z0-9.+]/_}" \
		"$( (cat "${FRAGMENTS[@]}"; echo "$rust") | sha256sum | cut -c1-12)"
}

if [ "${1:-}" = --print-kdir ]; then
	echo "$PMS_CACHE/kernel-$(kernel_key)/linux"
	exit 0
fi

"$here/setup.sh" 6.12

dir=$PMS_CACHE/kernel-$(kernel_key)
kdir=$dir/linux
if [ -f "$dir/.complete" ]; then
	phase "kernel: reusing $kdir"
	exit 0
fi

mkdir -p "$dir"
if [ ! -f "$dir/.unpacked" ]; then
	phase "kernel: unpacking /usr/src/$SRC_PKG.tar.xz"
	rm -rf "$kdir" "$dir/tmp"
	mkdir -p "$dir/tmp"
	tar -C "$dir/tmp" -xf "/usr/src/$SRC_PKG.tar.xz"
	mv "$dir/tmp/$SRC_PKG" "$kdir"
	rmdir "$dir/tmp"
	touch "$dir/.unpacked"
fi

kmake() { make -C "$kdir" LLVM=1 "$@"; }

phase "kernel: configuring (allnoconfig + $(basename -a "${FRAGMENTS[@]}" | paste -sd+))"
kmake rustavailable >"$dir/config.log" 2>&1 || { cat "$dir/config.log"; die "the kernel says Rust is not available"; }
kmake allnoconfig >>"$dir/config.log" 2>&1
(cd "$kdir" && scripts/kconfig/merge_config.sh -m .config "${FRAGMENTS[@]}") >>"$dir/config.log" 2>&1
kmake olddefconfig >>"$dir/config.log" 2>&1
# merge_config warns but does not fail on a dropped option: fail here instead.
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*) grep -qx "$line" "$kdir/.config" || die "config: '$line' did not survive olddefconfig (missing dependency?)" ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		! grep -q "^$opt=" "$kdir/.config" || die "config: '$opt' is set, the fragment wants it off" ;;
	esac
done < <(cat "${FRAGMENTS[@]}")

jobs=$(($(nproc) + 1))
phase "kernel: building bzImage and Module.symvers with -j$jobs (10 minutes on 2 cores when last measured; log: $dir/build.log)"
# One progress line per 500 build steps, so a long build shows it is alive.
set +e
kmake -j"$jobs" bzImage modules headers 2>&1 | tee "$dir/build.log" | progress "kernel" 500
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 0 ]; then
	grep -E 'error|Error' "$dir/build.log" | head -20 >&2
	die "kernel build failed (exit $status), full log: $dir/build.log"
fi
for f in arch/x86/boot/bzImage Module.symvers usr/include/linux/fs.h; do
	[ -f "$kdir/$f" ] || die "build finished but $f is missing"
done
touch "$dir/.complete"
phase "kernel: done, $kdir/arch/x86/boot/bzImage"
