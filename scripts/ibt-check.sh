#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Shows from the loaded module's own code that every call it makes into a
# resolved (non-exported) kernel function is a direct branch patched by the
# kernel's static calls, so IBT's sealed ENDBRs do not matter
# (Documentation/internals.rst, "IBT").
#   ibt-check.sh                 boots the VM (PMS_KERNEL, PMS_KO as vm-run.sh),
#                                loads the module, dumps it (guest-ibt.sh), judges
#   ibt-check.sh RESULTS [KO]    judges a dump already in RESULTS/ibt
# Exit status 0 only if every static call site and trampoline of a resolved
# function is a direct branch to its address and nothing else refers to one.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
cd "$here/.."

if [ $# -ge 1 ]; then
	res=$1
	ko=${2:-$(sed -n 's/^PMS_KO=//p' "$res/env" 2>/dev/null | tail -1)}
	[ -f "$res/ibt/sections.txt" ] || {
		cat "$res/ibt.err" 2>/dev/null
		die "no module dump in $res/ibt"
	}
	[ -f "$ko" ] || die "no module at '$ko' (the .ko that was loaded)"
	exec python3 "$here/ibt-check.py" analyse "$res/ibt" "$ko"
fi
exec "$here/vm-run.sh" ibt
