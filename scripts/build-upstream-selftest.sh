#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the kernel's own PAGEMAP_SCAN selftest (tools/testing/selftests/mm/
# pagemap_ioctl.c of the test kernel) with its PAGEMAP_SCAN calls sent to
# /dev/pagemap_scan instead of /proc/self/pagemap; everything else (its
# pagemap reads, its expectations) is left as upstream wrote it.
# Output: target/upstream-<kernel>/pagemap_ioctl (PMS_KERNEL, see kernel.sh),
# run in the VM by guest.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
kernel=${PMS_KERNEL:-debian}
kdir=$("$here/kernel.sh" "$kernel" tree)
src=$kdir/tools/testing/selftests
out=$here/../target/upstream-$kernel
rm -rf "$out" && mkdir -p "$out/mm"
cp "$src/kselftest.h" "$out/"
cp "$src/mm/pagemap_ioctl.c" "$src/mm/vm_util.c" "$src/mm/vm_util.h" "$out/mm/"
# Later trees split out the THP/hugetlb settings helpers.
extra=()
for f in hugepage_settings thp_settings; do
	if [ -f "$src/mm/$f.c" ]; then
		cp "$src/mm/$f.c" "$src/mm/$f.h" "$out/mm/"
		extra+=("$f.c")
	fi
done
cd "$out/mm"
sed -i 's/ioctl(pagemap_fd, PAGEMAP_SCAN,/ioctl(pms_dev_fd, PAGEMAP_SCAN,/' pagemap_ioctl.c
sed -i '0,/^int pagemap_fd;/s//int pagemap_fd;\nint pms_dev_fd; \/* PAGEMAP_SCAN goes to \/dev\/pagemap_scan *\//' pagemap_ioctl.c
sed -i 's|^\tpagemap_fd = open(PAGEMAP, O_RDONLY);|\tpms_dev_fd = open("/dev/pagemap_scan", O_RDONLY);\n\tif (pms_dev_fd < 0)\n\t\tksft_exit_fail_msg("open /dev/pagemap_scan\\n");\n&|' pagemap_ioctl.c
# Every call must have been redirected, and the device opened.
[ "$(grep -c 'ioctl(pms_dev_fd, PAGEMAP_SCAN' pagemap_ioctl.c)" -ge 3 ] || die "upstream selftest: redirect failed"
! grep -q 'ioctl(pagemap_fd, PAGEMAP_SCAN' pagemap_ioctl.c || die "upstream selftest: a call was not redirected"
grep -q 'pms_dev_fd = open' pagemap_ioctl.c || die "upstream selftest: device open not inserted"
gcc -O2 -w -I.. -I"$kdir/usr/include" -I"$kdir/tools/include/uapi" pagemap_ioctl.c vm_util.c \
	"${extra[@]}" -o ../pagemap_ioctl -lm
