#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tests scripts/dmesg-judge.sh (TAP): each report in scripts/testdata/dmesg/
# named clean-* must give no splat, each splat-* at least one, and a file
# with C's own warning in it must be said to have it.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/dmesg-judge.sh"

files=("$here"/testdata/dmesg/*.txt)
echo "TAP version 13"
echo "1..${#files[@]}"
n=0 failed=0
for f in "${files[@]}"; do
	n=$((n + 1))
	name=$(basename "$f" .txt)
	got=$(splats "$f")
	case "$name" in
	clean-*) [ -z "$got" ] ;;
	splat-*) [ -n "$got" ] ;;
	*) false ;;
	esac
	ok=$?
	# The allowed warning, when the file has it, is named with its path.
	if [ $ok = 0 ] && grep -q "$C_WARN" "$f"; then
		known_c_warning "$f" | grep -q 'first reached by pms_pte_make_wp' || ok=1
	fi
	if [ $ok = 0 ]; then
		echo "ok $n $name"
	else
		echo "not ok $n $name"
		printf '# %s\n' "${got:-(no splat)}"
		failed=$((failed + 1))
	fi
done
echo "# Totals: pass:$((n - failed)) fail:$failed"
[ $failed = 0 ]
