# SPDX-License-Identifier: GPL-2.0
#
#   make check       host tests, module build (warnings are errors), VM tests, on
#                    Debian's stock kernel (scripts/debian-kernel.conf): its image
#                    as shipped, the module built by Debian's compilers
#   make check-6.12  the same on the self-built Linux 6.12 test kernel
#   make check-debug the same on a KASAN/lockdep/DEBUG_VM/kmemleak kernel built
#                    from Debian's source, longer stress
#   make demo        build everything, boot the VM, load the module, show a real call
#   make kernel      prepare (or reuse) the kernel: PMS_KERNEL=debian (default),
#                    6.12 or debug
#   make module      build pagemap_scan.ko for that kernel (or for KDIR=)
#   make bench       on each of BENCH_KERNELS (6.12 and debian), boot the VM twice
#                    (wall time, QEMU icount) and benchmark the module against the
#                    C ioctl and pagemap reads: bench-results/<kernel>/, both tables printed
#   make install     install the module, the UAPI header and the udev rule
#                    (DESTDIR=, INSTALL_MOD_PATH=, AUTOLOAD=1); make uninstall undoes it
#
# KDIR=/path/to/a/Rust-enabled/kernel/build builds against your own kernel.

ifneq ($(KERNELRELEASE),)
include $(src)/Kbuild
else

PMS_KERNEL ?= debian
export PMS_KERNEL
PMS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pagemap_scan
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all kernel module host-test selftests vm-test check check-6.12 check-debug demo clean

all: module selftests

kernel:
	scripts/setup.sh
	scripts/kernel.sh $(PMS_KERNEL) prepare

# The compiler KDIR was built with: LLVM=1 for clang, else the gcc its .config
# names (scripts/kbuild-toolchain.sh). KBUILD_TOOLCHAIN= overrides it.
KBUILD_TOOLCHAIN ?= $(shell $(CURDIR)/scripts/kbuild-toolchain.sh $(KDIR))
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) $(KBUILD_TOOLCHAIN)
ifdef KDIR
# Your own kernel, taken as it is.
module:
	$(KMAKE) modules
else
# Built in the cache (for Debian's kernel, in its chroot), then copied here.
module: kernel
	scripts/kernel.sh $(PMS_KERNEL) module $(PMS_CACHE)/module-$(PMS_KERNEL)
	cp $(PMS_CACHE)/module-$(PMS_KERNEL)/pagemap_scan.ko .
endif

host-test:
	cargo test --workspace --quiet

selftests:
	cargo build --release --quiet -p pagemap-scan-selftests -p pmscan

vm-test: module selftests
	scripts/vm-run.sh test

demo: module selftests
	scripts/vm-run.sh demo

# The loaded module's calls into resolved kernel functions are direct (IBT):
# boots the VM with the module, shows its patched call sites (internals.rst).
.PHONY: ibt-check
ibt-check: module
	scripts/ibt-check.sh

# One kernel after the other (the wall-time boot wants the machine to
# itself), then both tables.
BENCH_KERNELS ?= 6.12 debian
.PHONY: bench
bench: selftests
	for k in $(BENCH_KERNELS); do \
		$(MAKE) --no-print-directory PMS_KERNEL=$$k module && \
		PMS_KERNEL=$$k scripts/vm-run.sh bench || exit 1; \
	done
	target/release/pagemap_scan_bench $(foreach k,$(BENCH_KERNELS),--report bench-results/$(k))

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
	rm -f $(addprefix $(INSTALL_MOD_PATH)/lib/modules/$(KRELEASE)/$(INSTALL_MOD_DIR)/pagemap_scan.ko,'' .xz .gz .zst)
	if [ -f $(INSTALL_MOD_PATH)/lib/modules/$(KRELEASE)/modules.dep ]; then \
		depmod -b "$(or $(INSTALL_MOD_PATH),/)" $(KRELEASE); fi
	rm -f $(DESTDIR)$(INCLUDEDIR)/linux/pagemap_scan.h \
		$(DESTDIR)$(UDEVRULESDIR)/60-pagemap-scan.rules \
		$(DESTDIR)$(MODULESLOADDIR)/pagemap_scan.conf

check:
	scripts/check.sh --kernel debian

check-6.12:
	scripts/check.sh --kernel 6.12

check-debug:
	scripts/check.sh --kernel debug

clean:
	rm -f pagemap_scan.ko
	cargo clean

endif
