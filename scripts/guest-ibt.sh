#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the test VM, as root, with the module loaded (guest.sh ibt):
#   guest-ibt.sh RESULTS
# dumps what scripts/ibt-check.sh judges on the host into RESULTS/ibt: the
# module's sections as loaded (read from /proc/kcore at the addresses of
# /sys/module/pagemap_scan/sections), /proc/kallsyms, the first bytes of each
# resolved kernel function. Sets kernel.kptr_restrict to 0 for the addresses.
set -u
res=$1
here=$(cd "$(dirname "$0")" && pwd)
# The guest sees the host's root: its system Python, not a user's shims.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
[ -r /proc/kcore ] || { echo "guest-ibt: no /proc/kcore (CONFIG_PROC_KCORE)" >"$res/ibt.err"; exit 1; }
rm -rf "$res/ibt"
"$py" "$here/ibt-check.py" dump "$res/ibt" "$PMS_KO" 2>"$res/ibt.err"
