#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the module like a Debian user of the stock Rust-enabled kernel
# (scripts/debian-kernel.conf), and check what that gives:
#
#   scripts/dkms-test-debian.sh
#
# In the trixie chroot of scripts/debian-kernel.sh (a Debian system with
# linux-headers-<release>, whose /lib/modules/<release>/build has no Rust
# metadata, linux-source, rustc, bindgen):
#   1. trixie's dkms (installed there if missing); the package copied to
#      /usr/src/pagemap_scan-VERSION; `dkms add`, `dkms build`, `dkms install`
#      for the release, through scripts/dkms-build.sh, which prepares a
#      kernel tree in /var/cache/pagemap_scan/<release> on the first build;
#   2. dkms signs the module with its MOK key (/var/lib/dkms/mok.key and
#      mok.pub, created by dkms when absent): modinfo's signer and sig_key
#      must name that certificate, and the signature must verify against it
#      (openssl cms);
#   3. `make module` and `make install DESTDIR=... KDIR=<that tree>`, each
#      file installed, depmod, `make uninstall`.
# Then the stock image boots in the VM (no Secure Boot: the kernel checks the
# signature but does not enforce it) and loads the DKMS-installed module
# (modinfo, insmod, taint, the `features` kselftest, rmmod).
#
# PMS_DKMS_FRESH=1 removes the prepared kernel tree first (the first-build
# path: minutes), PMS_DKMS_NEWKEY=1 the MOK key (dkms makes a new one).
# Exit status 0 only if every check passed; each prints an "ok:" line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
t() { printf '[%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }

# --- in the chroot ----------------------------------------------------------
if [ "${1:-}" = --inside ]; then
	kver=$2 name=$3 version=$4
	T0=$(date +%s)
	export DEBIAN_FRONTEND=noninteractive
	if ! command -v dkms >/dev/null; then
		t "apt: installing trixie's dkms (--no-install-recommends: the recommended linux-headers-amd64 is another kernel)"
		apt-get install -y -q --no-install-recommends dkms >/tmp/apt-dkms.log 2>&1 || { tail /tmp/apt-dkms.log; fail "apt-get install dkms"; }
	fi
	ok "dkms $(dpkg-query -W -f='${Version}' dkms), linux-headers-$kver $(dpkg-query -W -f='${Version}' "linux-headers-$kver")"
	build=$(readlink -f "/lib/modules/$kver/build")
	[ -f "$build/.config" ] || fail "no headers at /lib/modules/$kver/build"
	[ ! -e "$build/rust/libkernel.rmeta" ] || fail "$build has Rust metadata: not the case tested here"
	ok "/lib/modules/$kver/build -> $build: the headers package, no rust/libkernel.rmeta"

	cache=/var/cache/pagemap_scan/$kver
	if [ "${PMS_DKMS_FRESH:-0}" = 1 ]; then rm -rf "$cache"; fi
	if [ "${PMS_DKMS_NEWKEY:-0}" = 1 ]; then rm -f /var/lib/dkms/mok.key /var/lib/dkms/mok.pub; fi
	if [ -f "$cache/stamp" ]; then echo "note: kernel tree already prepared in $cache (PMS_DKMS_FRESH=1 to redo it)"
	else echo "note: no prepared kernel tree: this dkms build prepares $cache"; fi
	if [ -f /var/lib/dkms/mok.pub ]; then echo "note: MOK key exists already (PMS_DKMS_NEWKEY=1 to have dkms make a new one)"
	else echo "note: no /var/lib/dkms/mok.key: dkms creates it"; fi

	# A clean slate for this package, as if never installed.
	if [ -n "$(dkms status "$name/$version" 2>/dev/null)" ]; then
		dkms remove "$name/$version" --all >/dev/null
	fi
	rm -rf "/usr/src/$name-$version"
	# The chroot has the headers, not the image: without a non-empty modules.dep
	# dkms skips depmod. The image's postinst would have run it.
	if [ ! -s "/lib/modules/$kver/modules.dep" ]; then
		depmod -a "$kver"
		echo "note: depmod -a $kver first, as linux-image-$kver's postinst does (the chroot has only its headers)"
	fi
	cp -a /src/pkg "/usr/src/$name-$version"

	t "dkms add $name/$version"
	dkms add "$name/$version"
	t "dkms build $name/$version -k $kver"
	t1=$(date +%s)
	if ! dkms build "$name/$version" -k "$kver"; then
		cat "/var/lib/dkms/$name/$version/build/make.log" 2>/dev/null || true
		fail "dkms build"
	fi
	ok "dkms build in $(($(date +%s) - t1)) s"
	grep -h "^pagemap_scan:" "/var/lib/dkms/$name/$version/$kver/$(uname -m)/log/make.log" | sed 's/^/make.log: /'
	t "dkms install $name/$version -k $kver"
	dkms install "$name/$version" -k "$kver" || fail "dkms install"
	dkms status "$name/$version"
	ko=$(modinfo -k "$kver" -F filename "$name") || fail "modinfo -k $kver $name: not installed (depmod)"
	ok "installed as $ko, found by modinfo -k $kver (depmod's modules.dep)"
	grep -q "$name\.ko" "/lib/modules/$kver/modules.dep" || fail "not in modules.dep"

	echo "--- modinfo $ko"
	modinfo "$ko" | grep -E '^(filename|version|vermagic|name|sig_id|signer|sig_key|sig_hashalgo):'
	vermagic=$(modinfo -F vermagic "$ko")
	[ "${vermagic%% *}" = "$kver" ] || fail "vermagic '$vermagic' is not for $kver"
	ok "vermagic $vermagic"

	# The key dkms used (framework.conf may name another one; trixie's default is /var/lib/dkms).
	key=/var/lib/dkms/mok.key cert=/var/lib/dkms/mok.pub
	[ -f "$key" ] && [ -f "$cert" ] || fail "no MOK key pair $key, $cert after dkms build"
	signer=$(modinfo -F signer "$ko")
	sig_key=$(modinfo -F sig_key "$ko" | tr -d ':' | tr a-f A-F)
	cn=$(openssl x509 -inform DER -in "$cert" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
	serial=$(openssl x509 -inform DER -in "$cert" -noout -serial | sed 's/^serial=//' | tr a-f A-F)
	[ -n "$signer" ] || fail "the module is not signed"
	[ "$signer" = "$cn" ] || fail "signer '$signer' is not the MOK certificate's '$cn'"
	[ "$sig_key" = "$serial" ] || fail "sig_key $sig_key is not the MOK certificate's serial $serial"
	ok "signed by the MOK $cert: signer '$signer', sig_key = its serial $serial, hash $(modinfo -F sig_hashalgo "$ko")"
	# The signature itself: the PKCS#7 appended to the module, checked against the certificate.
	w=$(mktemp -d)
	case $ko in *.xz) xz -dc "$ko" >"$w/m.ko" ;; *.zst) zstd -dcq "$ko" >"$w/m.ko" ;; *.gz) gzip -dc "$ko" >"$w/m.ko" ;; *) cp "$ko" "$w/m.ko" ;; esac
	python3 - "$w" <<-'EOF'
		import sys
		w = sys.argv[1]
		data = open(w + "/m.ko", "rb").read()
		magic = b"~Module signature appended~\n"
		assert data.endswith(magic), "no module signature"
		end = len(data) - len(magic) - 12  # struct module_signature
		siglen = int.from_bytes(data[end + 8:end + 12], "big")
		open(w + "/sig.p7", "wb").write(data[end - siglen:end])
		open(w + "/body", "wb").write(data[:end - siglen])
	EOF
	openssl x509 -inform DER -in "$cert" -out "$w/cert.pem"
	openssl cms -verify -binary -inform DER -in "$w/sig.p7" -content "$w/body" -certfile "$w/cert.pem" \
		-nointern -noverify -out /dev/null 2>"$w/verify.txt" || { cat "$w/verify.txt"; fail "the signature does not verify against $cert"; }
	ok "the module's PKCS#7 signature verifies against $cert ($(cat "$w/verify.txt"))"
	rm -rf "$w"
	mkdir -p /src/out
	cp "$ko" "/src/out/"
	cp "$cert" /src/out/mok.pub

	tree=$cache/tree
	[ -f "$tree/rust/libkernel.rmeta" ] || fail "no prepared tree at $tree"
	ok "prepared tree $tree ($(du -sh "$tree" | cut -f1)), stamp $(stat -c %y "$cache/stamp" | cut -d. -f1)"

	# make module / make install / make uninstall, in a copy, against the prepared tree.
	t "make module KDIR=$tree; make install DESTDIR=/tmp/pms-root KDIR=$tree"
	s=/tmp/pms-make root=/tmp/pms-root
	rm -rf "$s" "$root"
	cp -a /src/pkg "$s"
	make -s --no-print-directory -C "$s" module KDIR="$tree" || fail "make module KDIR=$tree"
	[ "$(modinfo -F vermagic "$s/$name.ko")" = "$vermagic" ] || fail "make module: vermagic differs from dkms's"
	ok "make module KDIR=$tree: vermagic $vermagic"
	# Kbuild's modules_install tries to sign with Debian's own key, which no
	# one has (CONFIG_MODULE_SIG_ALL; not fatal for external modules), and
	# depmod in a staging root knows none of the kernel's symbols: both noise.
	quiet() { grep -vE 'depmod: WARNING|SSL error|^At main.c|^sign-file: .*signing_key.pem' || true; }
	make -s --no-print-directory -C "$s" install KDIR="$tree" DESTDIR="$root" 2>&1 | quiet || fail "make install"
	mod=$(find "$root/lib/modules/$kver/extra" -name "$name.ko*" | head -1)
	[ -n "$mod" ] || fail "make install installed no module under /lib/modules/$kver/extra"
	for f in usr/include/linux/pagemap_scan.h usr/lib/udev/rules.d/60-pagemap-scan.rules; do
		[ -s "$root/$f" ] || fail "make install did not install /$f"
	done
	grep -q "$name\.ko" "$root/lib/modules/$kver/modules.dep" || fail "make install: depmod did not list the module"
	cmp -s "$s/include/uapi/linux/pagemap_scan.h" "$root/usr/include/linux/pagemap_scan.h" || fail "installed header differs"
	gcc -fsyntax-only -Wall -Werror -I"$root/usr/include" -x c - <<<'#include <linux/pagemap_scan.h>' || fail "the installed header does not compile"
	[ ! -e "$root/etc/modules-load.d/$name.conf" ] || fail "modules-load.d entry without AUTOLOAD=1"
	make -s --no-print-directory -C "$s" install KDIR="$tree" DESTDIR="$root" AUTOLOAD=1 >/dev/null 2>&1 || fail "make install AUTOLOAD=1"
	[ "$(grep -v '^#' "$root/etc/modules-load.d/$name.conf")" = "$name" ] || fail "AUTOLOAD=1: no modules-load.d entry"
	ok "make install: ${mod#"$root"} (unsigned: signer '$(modinfo -F signer "$mod")'), header, udev rule, modules.dep; AUTOLOAD=1 modules-load.d"
	make -s --no-print-directory -C "$s" uninstall KDIR="$tree" DESTDIR="$root" 2>&1 | quiet || fail "make uninstall"
	left=$(find "$root" -type f ! -name 'modules.*')
	[ -z "$left" ] || fail "make uninstall left: $left"
	ok "make uninstall removed everything"
	rm -rf "$s" "$root"
	t "chroot part done"
	exit 0
fi

# --- on the host ------------------------------------------------------------
. "$here/lib.sh"
. "$here/debian-kernel.conf"
cd "$here/.."
T0=$PMS_T0
kver=$DEB_KREL
name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' dkms.conf)
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
[ -n "$name" ] && [ -n "$version" ] || fail "dkms.conf: no PACKAGE_NAME or PACKAGE_VERSION"

"$here/debian-kernel.sh" >/dev/null
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pms-dkms-debian.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# The package as it would ship: tracked and new files, not ignored ones.
mkdir -p "$tmp/pkg" "$tmp/out"
git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	tar -cf - --null -T - | tar -xf - -C "$tmp/pkg"

t "chroot: dkms and make install for $kver"
"$here/debian-kernel.sh" run "$tmp" "PMS_DKMS_FRESH=${PMS_DKMS_FRESH:-0} PMS_DKMS_NEWKEY=${PMS_DKMS_NEWKEY:-0} \
	bash /src/pkg/scripts/dkms-test-debian.sh --inside $kver $name $version" || fail "the chroot part failed"
ko=$(find "$tmp/out" -name "$name.ko*")
[ -n "$ko" ] || fail "no module copied out of the chroot"

# The stock image, the DKMS-installed module: modinfo, insmod, a kselftest.
image=$("$here/kernel.sh" debian image)
vng_args=$("$here/kernel.sh" debian vng-args)
[ -x target/release/pagemap_scan_test ] || cargo build --release --quiet -p pagemap-scan-selftests
cat >"$tmp/out/guest.sh" <<EOF
#!/bin/sh
out=$tmp/out
echo started >\$out/started
{
	echo "kernel: \$(uname -r)"
	echo "tainted before: \$(cat /proc/sys/kernel/tainted)"
	echo "--- modinfo (in the VM) $ko"
	modinfo "$ko" | grep -E '^(filename|vermagic|signer|sig_key|sig_hashalgo):'
	if insmod "$ko"; then echo "insmod OK"; else echo "insmod FAILED"; fi
	ls -l /dev/pagemap_scan && chmod 0666 /dev/pagemap_scan
	echo "module taint: '\$(cat /sys/module/$name/taint 2>/dev/null)'"
	dmesg | grep -E '$name: |module verification|tainting'
	PMS_TESTS=features $PWD/target/release/pagemap_scan_test >\$out/tap.txt 2>&1
	echo "kselftest exit: \$?"
	grep -E '^(ok|not ok|# Totals)' \$out/tap.txt
	if rmmod $name; then echo "rmmod OK"; else echo "rmmod FAILED"; fi
	dmesg >\$out/dmesg.txt
} >\$out/vm.txt 2>&1
echo ok >\$out/finished
EOF
chmod +x "$tmp/out/guest.sh"
for try in 1 2 3; do
	t "vm: booting the stock $kver (TCG, no Secure Boot), try $try"
	rm -f "$tmp/out/started"
	# shellcheck disable=SC2086 # vng_args is a list of words
	PATH=$PMS_VENV/bin:$PATH timeout 600 vng -v --disable-kvm $vng_args --run "$image" --memory 1G --cpus 2 \
		--rwdir "$tmp/out" --exec "$tmp/out/guest.sh" </dev/null >"$tmp/out/console.log" 2>&1 || true
	[ -f "$tmp/out/started" ] && break
	echo "vm: the boot failed before the guest script started: $(grep -m1 -E 'Oops|BUG:|panic' "$tmp/out/console.log" || echo '?')"
done
[ -f "$tmp/out/finished" ] || { tail -30 "$tmp/out/console.log"; fail "vm: the guest script never finished"; }
sed 's/^/vm: /' "$tmp/out/vm.txt"
grep -q '^insmod OK' "$tmp/out/vm.txt" || fail "vm: insmod of the DKMS-installed module failed"
grep -q "^signer: " "$tmp/out/vm.txt" || fail "vm: modinfo shows no signer"
grep -q '^kselftest exit: 0' "$tmp/out/vm.txt" || fail "vm: the features kselftest failed"
grep -q '^rmmod OK' "$tmp/out/vm.txt" || fail "vm: rmmod failed"
splats=$(. "$here/dmesg-judge.sh" && splats "$tmp/out/dmesg.txt" || true)
[ -z "$splats" ] || { echo "$splats"; fail "vm: kernel splat in dmesg"; }
ok "vm: the stock $kver loaded the DKMS-built, MOK-signed module ($(basename "$ko")), ran the features kselftest, unloaded it; dmesg clean"
t "dkms-test-debian: all checks passed"
