#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
# Build and run the libFuzzer harnesses of the kernel's pure-C packet code
# with ASan and UBSan (make fuzz):
#
#   tests/fuzz/run.sh [-n RUNS] [FUZZER...]     FUZZER: replay wire
#
# Each fuzzer runs RUNS executions (default 1000000) starting from its seed
# corpus tests/fuzz/corpus/NAME (and so replays every regression file in it
# first). New inputs go to build/fuzz/NAME/, not into the repository. A crash
# is copied into tests/fuzz/corpus/NAME/ as crash-HASH (commit it: it is the
# regression test from then on, and add a case to tests/unit/test_replay.c or test_wire.c)
# and the run fails.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

runs=1000000
while getopts n:h opt; do
	case $opt in
	n) runs=$OPTARG ;;
	*) sed -n '3,14s/^# \{0,1\}//p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
fuzzers=("$@")
[ ${#fuzzers[@]} -gt 0 ] || fuzzers=(replay wire)

CC=${FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null; then
	echo "fuzz: no $CC (scripts/install-deps.sh installs clang and libclang-rt-14-dev)" >&2
	exit 1
fi
out=build/fuzz
mkdir -p "$out"
CFLAGS=(-std=gnu11 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all -include tests/unit/kshim.h -Ikernel -Itests/fuzz)
declare -A SRCS=(
	[replay]="tests/fuzz/fuzz_replay.c kernel/replay.c"
	[wire]="tests/fuzz/fuzz_wire.c kernel/wire.c"
)
declare -A OPTS=(
	[replay]="-max_len=4096"
	[wire]="-max_len=4096"
)

rc=0
summary=()
for f in "${fuzzers[@]}"; do
	[ -n "${SRCS[$f]:-}" ] || { echo "fuzz: unknown fuzzer '$f'" >&2; exit 2; }
	bin=$out/fuzz_$f
	# shellcheck disable=SC2086
	if ! $CC "${CFLAGS[@]}" ${SRCS[$f]} -o "$bin"; then
		echo "fuzz: $f: build failed" >&2
		rc=1
		continue
	fi
	work=$out/$f
	mkdir -p "$work" "$out/artifacts-$f"
	rm -f "$out/artifacts-$f"/*
	log=$out/$f.log
	t0=$(date +%s.%N)
	# shellcheck disable=SC2086
	"$bin" -runs="$runs" -print_final_stats=1 ${OPTS[$f]} \
		-artifact_prefix="$out/artifacts-$f/" "$work" "tests/fuzz/corpus/$f" >"$log" 2>&1
	frc=$?
	t1=$(date +%s.%N)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	secs=$(echo "$t1 - $t0" | bc)
	rate=$(echo "scale=0; ${execs:-0} / ($secs + 0.001)" | bc)
	seeds=$(find "tests/fuzz/corpus/$f" -type f | wc -l)
	crashes=()
	for a in "$out/artifacts-$f"/*; do
		[ -f "$a" ] || continue
		dst=tests/fuzz/corpus/$f/crash-$(sha1sum "$a" | cut -c1-16)
		cp "$a" "$dst"
		crashes+=("$dst")
	done
	line=$(printf '%-7s %10s executions in %7.1f s (%s/s), %d seed files, %d crashes' \
		"$f" "${execs:-?}" "$secs" "$rate" "$seeds" "${#crashes[@]}")
	summary+=("$line")
	if [ $frc != 0 ] || [ ${#crashes[@]} -gt 0 ]; then
		rc=1
		echo "fuzz: $f FAILED (exit $frc), log $log:" >&2
		grep -E 'fuzz_(replay|wire):|ERROR|runtime error|SUMMARY' "$log" | head -20 >&2
		for c in "${crashes[@]}"; do
			echo "fuzz: $f: crash input saved as $c (reproduce: $bin $c)" >&2
		done
	fi
done
echo "fuzz: $CC $($CC --version | head -n1 | sed 's/.*version \([^ ]*\).*/\1/'), ASan+UBSan, $(nproc) CPUs"
printf '%s\n' "${summary[@]}"
[ $rc = 0 ] && echo "fuzz: ok" || echo "fuzz: FAILED"
exit $rc
