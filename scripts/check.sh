#!/bin/bash
# The full test run: build, static checks, host unit tests, and the kselftest
# suite (tests/run_tests.sh) inside a VM for every kernel of scripts/kernels.sh.
#
#   scripts/check.sh          (or: make check)
#
# The last line is "N passed, N failed, N skipped"; the exit status is
# non-zero when anything failed. What counts as one test:
#   - build (make -k modules userspace tests), module-check (W=1 C=1 +
#     sparse, all kernels), checkpatch, the YNL spec check and a short run
#     of the packet-code fuzzers (tests/fuzz/run.sh): one test each;
#   - the host suites tests/unit/run.sh (or, without it, userspace/tests/run.sh)
#     tests/pkg/run.sh (the Debian packages, lintian, the units),
#     tests/root/{run,faults,failover,random}.sh (akm-rootd on PostgreSQL
#     servers of their own: instances, faults injected, a standby promoted,
#     random commands against a model), and
#     tests/run_tests.sh (in the VM): every
#     test case, counted by scripts/tap-count.awk: from the kselftest
#     "# Totals: pass:P fail:F ... skip:S error:E" lines when the output has
#     them (one per program; run_tests.sh prints one with fail:1 for a program
#     that crashed or was missing), else from the leaf "ok"/"not ok" lines,
#     so nested TAP is never counted twice (the rule is spelled out there);
#   - per kernel, one more failure if the VM run produced no TAP, timed out,
#     crashed, did not boot, or exited non-zero without a failing result;
#   - per kernel, "kernel clean": fails if the kernel got tainted by a
#     WARN/BUG/oops/soft lockup during the run (dmesg in build/check-out/VER/);
#   - the demo (scripts/demo.sh, the README's first command): one test;
#   - with AKM_CHECK_DEBUG=1 and the debug kernel cached (scripts/debug-kernel.sh
#     cached), the same suite on it plus one test "no KASAN/UBSAN/lockdep/
#     kmemleak/WARN report"; otherwise one skipped test;
#   - with AKM_CHECK_BOOT=1 and the boot image cached (scripts/boot-image.sh
#     --cached), the boot tests tests/boot/run.sh and root.sh (each TAP
#     result); otherwise one skipped test.
# The two release tiers are opt-in: each takes 45-75 minutes under TCG, and
# the default run must fit CI's 90 (it takes about 45).
# Logs: build/check.log (everything), build/check-VER.log (each VM run),
# build/check-build.log, build/check-<suite>.log for the host suites.
#
# Environment: AKM_CHECK_TIMEOUT (per VM run, seconds, default 2700),
# AKM_KERNELS (space-separated list instead of scripts/kernels.sh),
# AKM_CHECK_DEBUG=1 (the debug-kernel tier), AKM_CHECK_BOOT=1 (the boot test).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
mkdir -p build
exec > >(tee build/check.log) 2>&1

PASS=0 FAIL=0 SKIP=0
FAILURES=()
SUMMARY=()

one() { # NAME STATUS(0=pass)
	if [ "$2" = 0 ]; then
		PASS=$((PASS + 1))
		echo "ok - $1"
	else
		FAIL=$((FAIL + 1))
		FAILURES+=("$1")
		echo "not ok - $1"
	fi
	SUMMARY+=("$(printf '%-40s %s' "$1" "$([ "$2" = 0 ] && echo ok || echo FAILED)")")
}

tap() { # NAME LOGFILE -> adds the counts of the TAP in LOGFILE; sets TAP_N
	local out p f s
	out=$(awk -f scripts/tap-count.awk "$2")
	read -r p f s <<<"$(tail -n 1 <<<"$out")"
	PASS=$((PASS + p)) FAIL=$((FAIL + f)) SKIP=$((SKIP + s))
	TAP_N=$((p + f + s))
	TAP_FAIL=$f
	while IFS= read -r l; do
		[ -n "$l" ] && FAILURES+=("$1: ${l#FAILED: }")
	done < <(sed -n 's/^FAILED: /&/p' <<<"$out")
	SUMMARY+=("$(printf '%-40s %s passed, %s failed, %s skipped' "$1" "$p" "$f" "$s")")
}

section() { echo; echo "==== $* ===="; }

KERNELS=${AKM_KERNELS:-$(scripts/kernels.sh)}
TIMEOUT=${AKM_CHECK_TIMEOUT:-2700}
t0=$SECONDS

section "build (make -k modules userspace tests)"
make -k modules userspace tests 2>&1 | tee build/check-build.log
one "build" "${PIPESTATUS[0]}"

section "module-check (W=1 C=1)"
make --no-print-directory module-check
one "module-check" $?

section "checkpatch --strict"
make --no-print-directory checkpatch
one "checkpatch" $?

section "YNL spec (the kernel's ynl tooling)"
scripts/ynl-check.sh
one "ynl spec" $?

section "fuzz smoke (kernel/replay.c, kernel/wire.c: corpus + 200000 executions each)"
tests/fuzz/run.sh -n 200000
one "fuzz smoke" $?

# Host test suites (TAP). tests/unit/run.sh runs userspace/tests/run.sh
# itself; the latter runs alone only while the former does not exist.
suites=(tests/unit/run.sh)
[ -e tests/unit/run.sh ] || suites=(userspace/tests/run.sh)
suites+=(tests/pkg/run.sh tests/root/run.sh tests/root/faults.sh tests/root/failover.sh
	tests/root/random.sh)
for suite in "${suites[@]}"; do
	[ -e "$suite" ] || continue
	name=${suite%/run.sh}
	name=${name//\//-}
	section "host tests ($suite)"
	bash "$suite" 2>&1 | tee "build/check-$name.log"
	rc=${PIPESTATUS[0]}
	tap "$suite" "build/check-$name.log"
	if [ "$TAP_N" = 0 ]; then
		one "$suite: TAP output" 1
	elif [ "$rc" != 0 ] && [ "$TAP_FAIL" = 0 ]; then
		one "$suite: exit status $rc" 1
	fi
done

if [ -z "$KERNELS" ]; then
	section "VM tests"
	echo "check: no supported kernel installed (scripts/kernels.sh)"
	one "VM tests: kernels installed" 1
fi
for k in $KERNELS; do
	section "VM tests on $k"
	log=build/check-$k.log
	out=build/check-out/$k
	ko=build/$k/akm.ko
	if [ ! -x tests/run_tests.sh ]; then
		echo "check: tests/run_tests.sh is missing or not executable" | tee "$log"
		one "$k: tests/run_tests.sh" 1
		continue
	fi
	if [ ! -f "$ko" ]; then
		echo "check: $ko was not built" | tee "$log"
		one "$k: $ko" 1
		continue
	fi
	mkdir -p "$out"
	rm -f "$out/tap.log"
	ts=$SECONDS
	# The TAP is also written to OUT/tap.log over 9p, so that kernel messages
	# on the console cannot cut a result line in two.
	scripts/vm-run.sh --kernel "$k" --timeout "$TIMEOUT" --module "$ko" --out "$out" -- \
		'set -o pipefail; ./tests/run_tests.sh 2>&1 | tee "$OUT/tap.log"' 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	echo "check: $k: vm-run exit status $rc after $((SECONDS - ts))s"
	[ -f "$out/tap.log" ] || : >"$out/tap.log"
	tap "$k" "$out/tap.log"
	case $rc in
	124) one "$k: VM run (timed out after ${TIMEOUT}s)" 1 ;;
	125) one "$k: VM run (no boot, insmod failure or crash)" 1 ;;
	0) [ "$TAP_N" -gt 0 ] || one "$k: VM run produced TAP" 1 ;;
	*)
		if [ "$TAP_N" = 0 ]; then
			one "$k: VM run produced TAP (exit $rc)" 1
		elif [ "$TAP_FAIL" = 0 ]; then
			one "$k: VM run exit status $rc without a failing test" 1
		fi
		;;
	esac
	if [ -f "$out/tainted" ]; then
		t=$(cat "$out/tainted")
		# D 128 (oops/BUG), W 512 (WARN), B 32 (bad page), L 16384 (soft lockup), M 16
		one "$k: kernel clean (taint $t)" $((t & (16 | 32 | 128 | 512 | 16384) ? 1 : 0))
	fi
done

# The README's first command, the demo of the seed's six steps, as one test.
section "demo (scripts/demo.sh)"
bash scripts/demo.sh >build/check-demo.log 2>&1
rc=$?
tail -n 5 build/check-demo.log
one "demo: scripts/demo.sh (log build/check-demo.log)" "$rc"

# The debug-kernel tier (KASAN, UBSAN, kmemleak, lockdep, fault injection;
# Documentation/testing.md), when asked for and that kernel is already built:
# check.sh never spends the 11-17 minutes of building it.
section "VM tests on the debug kernel"
if [ "${AKM_CHECK_DEBUG:-0}" != 1 ] || ! scripts/debug-kernel.sh cached >/dev/null 2>&1; then
	why="not built (make debug-kernel)"
	[ "${AKM_CHECK_DEBUG:-0}" = 1 ] || why="not asked for (AKM_CHECK_DEBUG=1)"
	echo "check: debug kernel $why: skipped"
	SKIP=$((SKIP + 1))
	SUMMARY+=("$(printf '%-40s skipped: %s' "debug kernel" "$why")")
else
	dout=build/vm-out/debug-6.1
	AKM_DEBUG_TIMEOUT=${AKM_DEBUG_TIMEOUT:-2700} scripts/debug-kernel.sh run 2>&1 | tee build/check-debug.log
	rc=${PIPESTATUS[0]}
	[ -f "$dout/tap.log" ] || : >"$dout/tap.log"
	tap "debug kernel" "$dout/tap.log"
	one "debug kernel: no KASAN/UBSAN/lockdep/kmemleak/WARN report" \
		"$([ -s "$dout/reports.log" ] && echo 1 || echo 0)"
	if [ "$rc" != 0 ] && [ "$TAP_FAIL" = 0 ] && [ ! -s "$dout/reports.log" ]; then
		one "debug kernel: VM run (exit $rc, see build/check-debug.log)" 1
	fi
fi

# The boot test (tests/boot/run.sh: the packages on Debian VMs with systemd,
# Documentation/packaging.md), when asked for and its image is cached:
# check.sh never spends the minutes of building it (scripts/boot-image.sh).
section "boot test (the packages on booted Debian VMs)"
if [ "${AKM_CHECK_BOOT:-0}" != 1 ] || ! scripts/boot-image.sh --cached >/dev/null 2>&1; then
	why="no image (scripts/boot-image.sh)"
	[ "${AKM_CHECK_BOOT:-0}" = 1 ] || why="not asked for (AKM_CHECK_BOOT=1)"
	echo "check: boot test: $why: skipped"
	SKIP=$((SKIP + 1))
	SUMMARY+=("$(printf '%-40s skipped: %s' "boot test" "$why")")
else
	for t in run root; do
		BOOT_WORK=$PWD/build/boot-$t tests/boot/$t.sh 2>&1 | tee "build/check-boot-$t.log"
		rc=${PIPESTATUS[0]}
		tap "boot test ($t.sh)" "build/check-boot-$t.log"
		[ "$TAP_N" -gt 0 ] || one "boot test $t.sh: TAP output (exit $rc)" 1
		[ "$rc" = 0 ] || [ "$TAP_FAIL" != 0 ] || one "boot test $t.sh: exit status $rc" 1
	done
fi

section "summary ($((SECONDS - t0))s)"
printf '%s\n' "${SUMMARY[@]}"
if [ ${#FAILURES[@]} -gt 0 ]; then
	echo "failures:"
	printf '  %s\n' "${FAILURES[@]}"
fi
echo "$PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" = 0 ]
