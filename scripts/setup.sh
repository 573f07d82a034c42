#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install what building the module and the tests and running the VM needs.
# Idempotent: each step checks first and only installs what is missing.
#   setup.sh         for Debian's kernel (its compilers live in a chroot,
#                    scripts/debian-kernel.sh) and the userspace tests
#   setup.sh 6.12    also what building the 6.12 test kernel on the host needs
set -euo pipefail
. "$(dirname "$0")/lib.sh"

APT_PACKAGES=(cpio kmod qemu-system-x86 python3-venv xz-utils make gcc mmdebstrap binutils)
[ "${1:-}" = 6.12 ] && APT_PACKAGES+=(linux-source-6.12 clang lld llvm libclang-dev bc flex
	bison libelf-dev libssl-dev)
BINDGEN_VERSION=0.72.1
VIRTME_NG_VERSION=1.42
DOCUTILS_VERSION=0.23

missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	phase "apt: installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >"$PMS_CACHE/apt.log" 2>&1 || die "apt-get install failed, see $PMS_CACHE/apt.log"
fi

command -v rustup >/dev/null || die "rustup not found: install Rust with rustup first"
if ! rustup component list --installed | grep -q '^rust-src'; then
	phase "rustup: adding rust-src"
	rustup component add rust-src
fi
for c in clippy rustfmt; do
	rustup component list --installed | grep -q "^$c" || rustup component add "$c"
done

if [ "${1:-}" = 6.12 ] && ! bindgen --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
	phase "cargo: installing bindgen-cli $BINDGEN_VERSION (about 2 minutes)"
	cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION"
fi

if [ ! -x "$PMS_VENV/bin/vng" ]; then
	phase "pip: installing virtme-ng $VIRTME_NG_VERSION into $PMS_VENV"
	python3 -m venv "$PMS_VENV"
	"$PMS_VENV/bin/pip" install -q "virtme-ng==$VIRTME_NG_VERSION"
fi
# make check validates Documentation/ with docutils (scripts/check-docs.py).
if ! "$PMS_VENV/bin/python3" -c "import docutils, sys; sys.exit(docutils.__version__ != '$DOCUTILS_VERSION')" 2>/dev/null; then
	phase "pip: installing docutils $DOCUTILS_VERSION into $PMS_VENV"
	"$PMS_VENV/bin/pip" install -q "docutils==$DOCUTILS_VERSION"
fi
