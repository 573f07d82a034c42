#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The make arguments that build modules with the compiler a kernel was built
# with, read from its .config:
#
#   kbuild-toolchain.sh KDIR     e.g. "LLVM=1", or for Debian's kernels
#                                "CC=x86_64-linux-gnu-gcc-14 HOSTCC=... CROSS_COMPILE=x86_64-linux-gnu-"
#
# A clang-built kernel (CONFIG_CC_IS_CLANG) gets LLVM=1; a gcc-built one the
# gcc named in CONFIG_CC_VERSION_TEXT (Debian names a versioned cross gcc,
# whose binutils then come by the same prefix). Prints nothing without a .config.
config=${1:?usage: kbuild-toolchain.sh KDIR}/.config
[ -r "$config" ] || exit 0
if grep -q '^CONFIG_CC_IS_CLANG=y' "$config"; then
	echo "LLVM=1"
	exit 0
fi
cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\).*/\1/p' "$config")
[ -n "$cc" ] || cc=gcc
case $cc in
*-gcc*) echo "CC=$cc HOSTCC=$cc CROSS_COMPILE=${cc%gcc*}" ;;
*) echo "CC=$cc HOSTCC=$cc" ;;
esac
