#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The debug-kernel test tier: a small VM kernel with KASAN, UBSAN, kmemleak
# and lockdep, built from Debian's linux-source-6.1, and the test suite run
# on it (see Documentation/testing.md).
#
#   scripts/debug-kernel.sh config         extract the source, make the .config
#                                          and check it (no build)
#   scripts/debug-kernel.sh cached         exit status 0 (and the tree) if the
#                                          kernel is built and cached, else 1
#   scripts/debug-kernel.sh build          build the kernel (or reuse the
#                                          cached one); prints its build tree
#   scripts/debug-kernel.sh module         + akm.ko against it; prints its path
#   scripts/debug-kernel.sh run [TEST...]  + boot it with scripts/vm-run.sh
#                                          --image, run tests/run_tests.sh
#                                          [TEST...] with panic_on_warn=1, then
#                                          a kmemleak scan; fails on any
#                                          KASAN/UBSAN/lockdep/kmemleak/WARN
#                                          report and prints it
#   scripts/debug-kernel.sh selftest       + make each checker fire on purpose
#                                          (WARN, KASAN, UBSAN via LKDTM; the
#                                          kmemleak test module) and check
#                                          that the run fails with its report
#
# The kernel: allnoconfig + scripts/debug-kernel.config, merged with
# scripts/kconfig/merge_config.sh, then `make olddefconfig`; every option of
# the fragment is then checked in the final .config (kconfig silently drops
# an option whose dependencies are unset), and a missing one fails the
# build, naming it. The source is extracted to $CACHE/linux-source-6.1 (once
# per package version), the kernel is built with O= in
# $CACHE/build-6.1-KEY, KEY being a hash of the fragment and the version of
# the linux-source-6.1 package: a second run with the same inputs reuses it.
# The build time is left in $CACHE/build-6.1-KEY/build-seconds.
#
# Environment: AKM_DEBUG_CONFIG (another fragment), AKM_DEBUG_CACHE (the cache, default
# /var/cache/akm/debug-kernel), AKM_DEBUG_JOBS (make -j, default 3),
# AKM_DEBUG_TIMEOUT (VM timeout in seconds for `run`, default 7200),
# AKM_DEBUG_MEM (VM memory in MB, default 2048), AKM_VM_APPEND (added to
# the kernel command line after panic_on_warn=1 and the rest).
# Output of `run`: build/vm-out/debug-6.1 (tap.log, dmesg.log, kmemleak.log,
# reports.log) and build/vm-debug-6.1.log (the console).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
FRAG=${AKM_DEBUG_CONFIG:-$HERE/debug-kernel.config}
PKG=linux-source-6.1
TARBALL=/usr/src/$PKG.tar.xz
CACHE=${AKM_DEBUG_CACHE:-/var/cache/akm/debug-kernel}
JOBS=${AKM_DEBUG_JOBS:-3}
LABEL=debug-6.1

die() { echo "debug-kernel: $*" >&2; exit 1; }
say() { echo "debug-kernel: $*" >&2; }

[ -r "$FRAG" ] || die "no $FRAG"
[ -r "$TARBALL" ] || die "no $TARBALL (apt-get install $PKG)"
PKGVER=$(dpkg-query -W -f='${Version}' "$PKG" 2>/dev/null) || die "package $PKG is not installed"
KEY=$( { cat "$FRAG"; echo "$PKG $PKGVER"; } | sha256sum | cut -c1-16)
SRC=$CACHE/$PKG
B=$CACHE/build-6.1-$KEY
out=$REPO/build/vm-out/$LABEL	# results of a VM run
log=$REPO/build/vm-$LABEL.log	# its console

mkdir -p "$CACHE" || die "cannot create $CACHE"
# One build at a time (a second one waits, then reuses the first's tree).
lock() {
	exec 8>>"$CACHE/.lock"
	flock 8 || die "cannot lock $CACHE/.lock"
}

# Every line of the fragment must be in .config as asked; "# CONFIG_X is
# not set" lines mean X must not be y/m.
verify_config() {
	local cfg=$1 line opt missing=()
	while IFS= read -r line; do
		case $line in
		'# CONFIG_'*' is not set')
			opt=${line#\# }
			opt=${opt%% *}
			if grep -qE "^$opt=" "$cfg"; then
				missing+=("$line (have: $(grep -E "^$opt=" "$cfg"))")
			fi
			;;
		CONFIG_*=*)
			if ! grep -qxF "$line" "$cfg"; then
				opt=${line%%=*}
				missing+=("$line (have: $(grep -E "^$opt=|^# $opt is not set" "$cfg" || echo unset))")
			fi
			;;
		esac
	done <"$FRAG"
	if [ ${#missing[@]} -gt 0 ]; then
		say "the final .config lacks ${#missing[@]} option(s) of $FRAG (missing dependencies?):"
		printf '  %s\n' "${missing[@]}" >&2
		return 1
	fi
}

# Configure in DIR (emptied first) and check the result.
configure() {
	local d=$1
	if [ "$(cat "$SRC/.akm-pkgver" 2>/dev/null)" != "$PKGVER" ]; then
		say "extracting $TARBALL ($PKGVER) to $SRC"
		rm -rf "$SRC"
		mkdir -p "$SRC.tmp.$$"
		tar -xJf "$TARBALL" -C "$SRC.tmp.$$" || die "cannot extract $TARBALL"
		mv "$SRC.tmp.$$/$PKG" "$SRC"
		rmdir "$SRC.tmp.$$"
		echo "$PKGVER" >"$SRC/.akm-pkgver"
	fi
	rm -rf "$d"
	mkdir -p "$d"
	say "configuring $d (allnoconfig + $(basename "$FRAG"))"
	make -s -C "$SRC" O="$d" allnoconfig >/dev/null
	"$SRC/scripts/kconfig/merge_config.sh" -m -O "$d" "$d/.config" "$FRAG" >"$d/merge.log" 2>&1 ||
		{ cat "$d/merge.log" >&2; die "merge_config.sh failed"; }
	make -s -C "$SRC" O="$d" olddefconfig
	verify_config "$d/.config" || die "config check failed; fix $FRAG (the final config is $d/.config)"
	say "config ok: all $(grep -cE '^(CONFIG_|# CONFIG_.* is not set)' "$FRAG") options of $(basename "$FRAG") are in $d/.config"
}

is_cached() {
	[ -f "$B/.akm-done" ] && [ -f "$B/arch/x86/boot/bzImage" ] && [ -f "$B/Module.symvers" ]
}

build() {
	if is_cached; then
		say "reusing $B (built in $(cat "$B/build-seconds" 2>/dev/null || echo '?') s)"
		echo "$B"
		return 0
	fi
	configure "$B"
	say "building with -j$JOBS (log: $B/build.log); this takes many minutes"
	local start=$SECONDS
	if ! make -C "$SRC" O="$B" -j"$JOBS" all >"$B/build.log" 2>&1; then
		tail -n 30 "$B/build.log" >&2
		die "kernel build failed (log: $B/build.log)"
	fi
	echo $((SECONDS - start)) >"$B/build-seconds"
	echo "$KEY $PKG $PKGVER" >"$B/.akm-done"
	say "built $B/arch/x86/boot/bzImage in $(cat "$B/build-seconds") s ($((SECONDS - start)) s)"
	echo "$B"
}

# akm.ko against the debug tree, in build/debug-KEY (as `make module` does).
module() {
	local d=$REPO/build/$LABEL src
	src=$d/src
	mkdir -p "$src"
	(cd "$REPO" && rsync -r --checksum --delete \
		--exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.[co]' --exclude='.*.cmd' \
		--exclude='.*.d' --exclude=Module.symvers --exclude=modules.order \
		Kbuild kernel uapi "$src/")
	# A new kernel build: rebuild everything.
	if [ "$(cat "$d/.key" 2>/dev/null)" != "$KEY" ]; then
		make -s -C "$B" M="$src" clean >/dev/null 2>&1 || true
		echo "$KEY" >"$d/.key"
	fi
	make -C "$B" M="$src" modules >"$d/module.log" 2>&1 ||
		{ cat "$d/module.log" >&2; die "akm.ko build against $B failed"; }
	cp -p "$src/akm.ko" "$d/akm.ko"
	say "built build/$LABEL/akm.ko"
	echo "$d/akm.ko"
}

# Boot the debug kernel with scripts/vm-run.sh (--module KO when given), run
# the guest command CMD between kmemleak scans and collect the reports into
# $out/reports.log. Returns 0 only if CMD succeeded and nothing was reported.
run_vm() {
	local ko=$1 cmd=$2 rc vrc start=$SECONDS kml=/sys/kernel/debug/kmemleak mod=()
	[ -z "$ko" ] || mod=(--module "$ko")
	mkdir -p "$out"
	rm -f "$out/tap.log" "$out/dmesg.log" "$out/kmemleak.log" "$out/kmemleak.done" "$out/reports.log"
	# kmemleak: scan and clear before CMD (the boot's own suspects are not
	# ours), two scans after it (an object is reported only once it is a
	# few seconds old and unreferenced in a scan).
	cmd="set -o pipefail; [ -w $kml ] && { echo scan >$kml; echo clear >$kml; }; $cmd; rc=\$?;"
	cmd+=" if [ -w $kml ]; then echo scan >$kml; sleep 6; echo scan >$kml; cat $kml >\"\$OUT/kmemleak.log\" && echo done >\"\$OUT/kmemleak.done\";"
	cmd+=" else echo 'no kmemleak' >\"\$OUT/kmemleak.log\"; fi; exit \$rc"
	set +e
	cd "$REPO" || return 1
	AKM_MODULE=$ko \
	AKM_VM_APPEND="panic_on_warn=1 log_buf_len=16M ${AKM_VM_APPEND:-}" \
		"$HERE/vm-run.sh" --image "$B/arch/x86/boot/bzImage" --kernel "$LABEL" \
		--timeout "${AKM_DEBUG_TIMEOUT:-7200}" --mem "${AKM_DEBUG_MEM:-2048}" \
		"${mod[@]}" --out "$out" --log "$log" -- "$cmd"
	vrc=$?
	set -e
	say "vm-run exit status $vrc after $((SECONDS - start)) s"
	rc=0
	[ "$vrc" = 0 ] || rc=1
	# The reports: from the guest's dmesg (or, when the VM died, the console).
	local src_log=$out/dmesg.log
	[ -s "$src_log" ] || src_log=$log
	{
		# the lines that start a report (one pattern per line of the file)
		tr -d '\r' <"$src_log" | grep -nE -A60 -f "$HERE/kernel-reports.ere" || true
		if [ -s "$out/kmemleak.log" ] && grep -q 'unreferenced object' "$out/kmemleak.log"; then
			echo "---- $out/kmemleak.log"
			cat "$out/kmemleak.log"
		fi
	} >"$out/reports.log"
	if [ -s "$out/reports.log" ]; then
		say "*** kernel reports (from $src_log, $out/kmemleak.log):"
		head -n 600 "$out/reports.log" >&2
		say "*** full list: $out/reports.log"
		rc=1
	fi
	# (an empty kmemleak.log is a clean scan)
	[ -e "$out/kmemleak.done" ] || { say "no kmemleak scan result (no kmemleak, or the VM did not get that far)"; rc=1; }
	return "$rc"
}

run() {
	local ko cmd rc=0
	ko=$(module)
	flock -u 8 # the VM run needs no lock on the cache
	say "running tests/run_tests.sh ${*:-(all)} on the debug kernel"
	cmd="./tests/run_tests.sh $* 2>&1 | tee \"\$OUT/tap.log\""
	run_vm "$ko" "$cmd" || rc=1
	if [ "$rc" = 1 ] && [ ! -s "$out/tap.log" ] &&
	   ! grep -qE 'akm[_.]|\[akm\]' "$out/reports.log"; then
		# Died before the first test, with no trace of akm.ko in the report
		# (an early-boot KASAN report under TCG was seen once in ~20 boots):
		# keep its console, boot once more.
		cp "$log" "$log.first-boot"
		say "the VM died before the first test (console: $log.first-boot); once more"
		rc=0
		run_vm "$ko" "$cmd" || rc=1
	fi
	if [ -s "$out/tap.log" ]; then
		grep -E '^# (Totals|akm selftests totals)|^not ok' "$out/tap.log" | tail -n 40 >&2 || true
	fi
	if [ "$rc" = 0 ]; then
		say "ok: tests passed, no KASAN/UBSAN/lockdep/kmemleak/WARN report"
	else
		say "FAILED (see $out)"
	fi
	return "$rc"
}

# The tier's own test: each checker is made to fire on purpose (LKDTM, the
# kmemleak test module) and run_vm must fail with its report. TAP.
selftest() {
	local lkdtm=/sys/kernel/debug/provoke-crash/DIRECT n=0 failed=0 c name cmd want
	local cases=(
		"WARN|echo WARNING >$lkdtm|WARNING:"
		"KASAN|echo READ_AFTER_FREE >$lkdtm|BUG: KASAN: use-after-free"
		"UBSAN|echo ARRAY_BOUNDS >$lkdtm|UBSAN: array-index-out-of-bounds"
		"kmemleak|insmod $B/samples/kmemleak/kmemleak-test.ko && rmmod kmemleak_test|unreferenced object"
		"none (control)|true|"
	)
	flock -u 8
	echo "TAP version 13"
	echo "1..${#cases[@]}"
	for c in "${cases[@]}"; do
		IFS='|' read -r name cmd want <<<"$c"
		n=$((n + 1))
		say "selftest: $name: $cmd"
		if run_vm "" "$cmd" >/dev/null 2>&1; then
			[ -z "$want" ] && echo "ok $n - $name: a clean run passes" && continue
			echo "not ok $n - $name: the run passed, the report was not caught"
		elif [ -n "$want" ] && grep -q "$want" "$out/reports.log"; then
			echo "ok $n - $name: the run fails with \"$want\" in the report"
			continue
		else
			echo "not ok $n - $name: failed without the expected report (see $out)"
		fi
		failed=$((failed + 1))
	done
	echo "# Totals: pass:$((n - failed)) fail:$failed xfail:0 xpass:0 skip:0 error:0"
	[ "$failed" = 0 ]
}

case ${1:-} in
config|build|module|run|selftest) lock ;;
esac
case ${1:-} in
config) configure "$CACHE/config-6.1-$KEY"; echo "$CACHE/config-6.1-$KEY/.config" ;;
build) build ;;
cached) is_cached && echo "$B" ;;
module) build >/dev/null && module ;;
run) shift; build >/dev/null && run "$@" ;;
selftest) build >/dev/null && selftest ;;
*) sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
