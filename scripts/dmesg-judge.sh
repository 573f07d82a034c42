# SPDX-License-Identifier: GPL-2.0
# What a boot's dmesg says, judged: sourced by vm-run.sh, tested by
# scripts/dmesg-judge-test.sh against the reports in scripts/testdata/dmesg/.
#
# One warning is C's own: GET+WP of a writable migration entry sets the uffd
# bit on it as it is (make_uffd_wp_pte()), which page_table_check (the debug
# kernel) reports at this line of 7.3.4 (the WARN_ON_ONCE on a swap entry that
# caches writable; the present-pte check is the line before it). The module
# does what C does, and the kselftest's GET+WP-during-migration test sends
# both there (Documentation/abi.rst, "Migration, NUMA hinting, KSM"). Its
# report is shown, and not counted as a splat; any other line of that file is.
C_WARN='WARNING: mm/page_table_check.c:206 at __page_table_check_ptes_set'

# without_c_warning FILE: the dmesg without the report of C's warning, from
# its "cut here" to its "end trace". The report's call trace names whatever
# functions the stack held ("? lockdep_hardirqs_on_prepare" once), so its
# lines are not judged one by one. A report header printed inside it (another
# CPU's BUG, WARNING, INFO, Oops, KASAN report) is kept; the skip ends at the next
# "cut here" or after 200 lines, so a report cut short hides nothing after it.
without_c_warning() {
	awk -v w="$C_WARN" '
		/-+\[ cut here \]-+/ { if (held != "") print held; held = $0; skip = 0; next }
		held != "" {
			if (index($0, w)) { skip = 200; held = ""; next }
			print held; held = ""
		}
		skip > 0 {
			skip--
			if ($0 ~ /---\[ end trace/) skip = 0
			else if ($0 ~ /(BUG:|WARNING:|INFO:|Oops|general protection|KASAN:)/) print
			next
		}
		{ print }
		END { if (held != "") print held }
	' "$1"
}

# splats FILE: the lines of a dmesg that fail a run. Lockdep's reports start
# with a BUG or WARNING line, but for the non-static key's, which starts with
# an INFO line: matched by name, as inside C's report that line is all that is
# kept of it. Lockdep's boot banner names it without reporting anything: that
# line is not a splat. kmemleak disabling itself (its pool exhausted) would
# make its report empty.
splats() {
	without_c_warning "$1" |
		grep -E 'BUG|WARNING|Oops|KASAN|lockdep|INFO: trying to register non-static key|general protection|Kernel memory leak detector disabled|Cannot allocate a kmemleak_object' |
		grep -v -e 'RCU lockdep checking is enabled'
}

# known_c_warning FILE: says whether C's own warning above was printed, and by
# which path (the first of the two to get there: it warns once a boot).
known_c_warning() {
	grep -q "$C_WARN" "$1" || return 0
	local by
	by=$(grep -A30 "$C_WARN" "$1" | grep -o -m1 -E 'make_uffd_wp_[a-z_]+|pms_[a-z_]*make_wp[a-z_]*')
	echo "vm: allowed: C's own page_table_check warning (uffd-wp set on a writable migration entry), first reached by ${by:-?}; Documentation/abi.rst"
}
