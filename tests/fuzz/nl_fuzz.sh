#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The netlink fuzzer (nl_fuzz.c) against the live module, in the test VM.
#
#   tests/fuzz/nl_fuzz.sh [--kernel VER | --image BZIMAGE [--module KO]] [-n MESSAGES] [NL_FUZZ ARGS...]
#
# On the host: builds build/fuzz/nl_fuzz and (for --kernel, default the
# newest of scripts/kernels.sh) build/VER/akm.ko, then boots the VM with
# scripts/vm-run.sh and runs itself inside. --image boots a kernel with akm
# built in, or with --module an akm.ko built for it (e.g. the debug kernel
# of scripts/debug-kernel.sh).
# In the VM (AKM_NL_FUZZ_GUEST=1): runs nl_fuzz, then unloads the module
# (if it is one), runs a kmemleak scan when the kernel has kmemleak, and
# fails on any BUG/WARNING/KASAN/UBSAN/lockdep/kmemleak report in dmesg.
# Log: build/fuzz-VER.log, guest output in build/fuzz-out/VER.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

if [ "${AKM_NL_FUZZ_GUEST:-}" = 1 ]; then
	dmesg -C 2>/dev/null
	build/fuzz/nl_fuzz "$@"
	rc=$?
	if [ -e /sys/module/akm/initstate ]; then
		if rmmod akm; then
			echo "nl_fuzz: rmmod akm: ok"
		else
			echo "nl_fuzz: rmmod akm FAILED"; rc=1
		fi
	fi
	if [ -w /sys/kernel/debug/kmemleak ] || { mount -t debugfs none /sys/kernel/debug 2>/dev/null; [ -w /sys/kernel/debug/kmemleak ]; }; then
		echo scan >/sys/kernel/debug/kmemleak; sleep 5; echo scan >/sys/kernel/debug/kmemleak
		leaks=$(cat /sys/kernel/debug/kmemleak)
		if [ -n "$leaks" ]; then
			echo "$leaks"; echo "nl_fuzz: kmemleak reports (above)"; rc=1
		else
			echo "nl_fuzz: kmemleak scan clean"
		fi
	fi
	if dmesg | grep -E -f scripts/kernel-reports.ere; then
		echo "nl_fuzz: kernel reports in dmesg (above)"; rc=1
	else
		echo "nl_fuzz: dmesg clean"
	fi
	exit $rc
fi

KVER= IMAGE= KO= args=()
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KVER=$2; shift 2 ;;
	--image) IMAGE=$2; shift 2 ;;
	--module) KO=$2; shift 2 ;;
	*) args+=("$1"); shift ;;
	esac
done
mkdir -p build/fuzz
cc -O2 -g -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -Iuapi tests/fuzz/nl_fuzz.c \
	-o build/fuzz/nl_fuzz || exit 1
export AKM_NL_FUZZ_GUEST=1
# the kernel's rate-limited netlink parse warnings would flood the console
export AKM_VM_QUIET=${AKM_VM_QUIET:-1}
if [ -n "$IMAGE" ]; then
	label=${KVER:-image-$(basename "$IMAGE")}
	exec scripts/vm-run.sh --image "$IMAGE" --kernel "$label" ${KO:+--module "$KO"} --timeout 86400 \
		--out "build/fuzz-out/$label" --log "build/fuzz-$label.log" \
		-- tests/fuzz/nl_fuzz.sh "${args[@]}"
fi
[ -n "$KVER" ] || KVER=$(scripts/kernels.sh | tail -n1)
make --no-print-directory module KVER="$KVER" >/dev/null || exit 1
exec scripts/vm-run.sh --kernel "$KVER" --module "build/$KVER/akm.ko" --timeout 86400 \
	--out "build/fuzz-out/$KVER" --log "build/fuzz-$KVER.log" \
	-- tests/fuzz/nl_fuzz.sh "${args[@]}"
