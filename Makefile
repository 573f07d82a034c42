# SPDX-License-Identifier: GPL-2.0
#
#   make check     host tests, module build (warnings are errors, clippy), VM tests
#   make check-debug  the same on a KASAN/lockdep/DEBUG_VM/kmemleak kernel, longer stress
#   make demo      build everything, boot the VM, load the module, show a real call
#   make kernel    build (or reuse) the cached Rust-enabled test kernel
#   make module    build pagemap_scan.ko against $(KDIR)
#   make bench     boot the VM twice (wall time, QEMU icount) and benchmark the
#                  module against the C ioctl and pagemap reads: bench-results/
#   make install   install the module, the UAPI header and the udev rule
#                  (DESTDIR=, INSTALL_MOD_PATH=, AUTOLOAD=1); make uninstall undoes it
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
	cargo build --release --quiet -p pagemap-scan-selftests -p pmscan

vm-test: module selftests
	scripts/vm-run.sh test

demo: module selftests
	scripts/vm-run.sh demo

.PHONY: bench
bench: module selftests
	scripts/vm-run.sh bench

# Packaging (Documentation/packaging.rst). The version is set once, in dkms.conf.
VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' $(CURDIR)/dkms.conf)
INSTALL_MOD_PATH ?= $(DESTDIR)
INSTALL_MOD_DIR ?= extra
INCLUDEDIR ?= /usr/include
UDEVRULESDIR ?= /usr/lib/udev/rules.d
MODULESLOADDIR ?= /etc/modules-load.d
KRELEASE = $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null)

.PHONY: install uninstall version
version:
	@echo $(VERSION)

# Installs what `make module` built, building nothing: as root, the user's
# toolchain and cached kernel are out of reach (pass KDIR= to sudo make install).
# The kernel's modules_install puts the module in /lib/modules/<release>/extra
# under INSTALL_MOD_PATH and runs depmod there.
install:
	@test -n "$(KRELEASE)" || { echo "install: KDIR='$(KDIR)' is not a built kernel tree" >&2; exit 1; }
	@test -f pagemap_scan.ko || { echo "install: no pagemap_scan.ko; run make module first" >&2; exit 1; }
	$(KMAKE) INSTALL_MOD_PATH=$(INSTALL_MOD_PATH) INSTALL_MOD_DIR=$(INSTALL_MOD_DIR) modules_install
	install -D -m 0644 include/uapi/linux/pagemap_scan.h $(DESTDIR)$(INCLUDEDIR)/linux/pagemap_scan.h
	install -D -m 0644 packaging/udev/60-pagemap-scan.rules $(DESTDIR)$(UDEVRULESDIR)/60-pagemap-scan.rules
ifeq ($(AUTOLOAD),1)
	install -D -m 0644 packaging/modules-load/pagemap_scan.conf $(DESTDIR)$(MODULESLOADDIR)/pagemap_scan.conf
endif

uninstall:
	@test -n "$(KRELEASE)" || { echo "uninstall: KDIR='$(KDIR)' is not a built kernel tree" >&2; exit 1; }
	rm -f $(INSTALL_MOD_PATH)/lib/modules/$(KRELEASE)/$(INSTALL_MOD_DIR)/pagemap_scan.ko
	if [ -f $(INSTALL_MOD_PATH)/lib/modules/$(KRELEASE)/modules.dep ]; then \
		depmod -b "$(or $(INSTALL_MOD_PATH),/)" $(KRELEASE); fi
	rm -f $(DESTDIR)$(INCLUDEDIR)/linux/pagemap_scan.h \
		$(DESTDIR)$(UDEVRULESDIR)/60-pagemap-scan.rules \
		$(DESTDIR)$(MODULESLOADDIR)/pagemap_scan.conf

check:
	scripts/check.sh

check-debug:
	scripts/check.sh --debug

clean:
	-$(KMAKE) clean
	cargo clean

endif
