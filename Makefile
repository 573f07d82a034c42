# SPDX-License-Identifier: GPL-2.0
#
#   make check     host tests, module build (warnings are errors, clippy), VM tests
#   make check-debug  the same on a KASAN/lockdep/DEBUG_VM/kmemleak kernel, longer stress
#   make demo      build everything, boot the VM, load the module, show a real call
#   make kernel    build (or reuse) the cached Rust-enabled test kernel
#   make module    build pagemap_scan.ko against $(KDIR)
#
# KDIR=/path/to/a/Rust-enabled/kernel/build builds against your own kernel.

ifneq ($(KERNELRELEASE),)
include $(src)/Kbuild
else

# Set by the user (command line or environment), or the cached test kernel.
ifeq ($(origin KDIR),undefined)
KDIR := $(shell scripts/build-kernel.sh --print-kdir 2>/dev/null)
OWN_KDIR := 1
endif
LLVM ?= 1
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=$(LLVM)
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all kernel module build-module clippy build-clippy host-test selftests vm-test check check-debug demo clean

all: module selftests

# Only the default KDIR is ours to build; a user's KDIR is taken as it is.
kernel:
ifdef OWN_KDIR
	scripts/build-kernel.sh
endif

# The sub-make reads KDIR again: on a fresh machine it exists only now.
module: kernel
	$(MAKE) --no-print-directory build-module

build-module:
	$(KMAKE) modules

# clippy-driver builds the objects too, with the kernel's clippy lints.
clippy: kernel
	$(MAKE) --no-print-directory build-clippy

build-clippy:
	$(KMAKE) CLIPPY=1 modules

host-test:
	cargo test --workspace --quiet

selftests:
	cargo build --release --quiet -p pagemap-scan-selftests

vm-test: module selftests
	scripts/vm-run.sh test

demo: module selftests
	scripts/vm-run.sh demo

check:
	scripts/check.sh

check-debug:
	scripts/check.sh --debug

clean:
	-$(KMAKE) clean
	cargo clean

endif
