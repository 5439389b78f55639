#!/bin/bash
# Benchmark AKM against its peers, one VM run per kernel, and write
# bench/results-<kernel>.md.
#
#   bench/run.sh [--kernel VER]... [--reps N] [--tcp SEC] [--udp SEC] [--rr SEC]
#                [--configs "plain akm-hmac ..."] [--timeout SEC] [--report-only]
#
# For each kernel (default: every kernel of scripts/kernels.sh) it builds
# akm.ko (make module KVER=VER), copies it and akmctl into
# build/bench-out/VER (the tree is shared: others may rebuild them while the
# VM runs), boots the kernel with scripts/vm-run.sh (TCG, 2 vCPUs) and runs
# bench/guest.sh there, then turns the raw results into
# bench/results-VER.md with bench/report.py. --report-only skips the VM and
# rewrites the table from the raw results of the last run.
#
# Not part of the test suite: it measures, it does not judge. Exit status is
# non-zero when a VM run or the report failed. See bench/README.md.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
cd "$REPO" || exit 1

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }

KVERS=() REPS=3 T_TCP=10 T_UDP=5 T_RR=5 CONFIGS= TIMEOUT=1800 REPORT_ONLY=0
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KVERS+=("${2:?}"); shift 2 ;;
	--reps) REPS=${2:?}; shift 2 ;;
	--tcp) T_TCP=${2:?}; shift 2 ;;
	--udp) T_UDP=${2:?}; shift 2 ;;
	--rr) T_RR=${2:?}; shift 2 ;;
	--configs) CONFIGS=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--report-only) REPORT_ONLY=1; shift ;;
	-h|--help) usage ;;
	*) echo "bench: unknown option '$1'" >&2; usage ;;
	esac
done
for v in REPS T_TCP T_UDP T_RR TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v wants a positive number" >&2; exit 2; }
done
[ ${#KVERS[@]} -gt 0 ] || mapfile -t KVERS < <(scripts/kernels.sh)
[ ${#KVERS[@]} -gt 0 ] || { echo "bench: no supported kernel (scripts/kernels.sh)" >&2; exit 1; }
command -v wg >/dev/null || echo "bench: warning: no 'wg' (apt-get install wireguard-tools): the WireGuard row will fail" >&2

rc=0
for KVER in "${KVERS[@]}"; do
	OUT=$REPO/build/bench-out/$KVER
	LOG=$REPO/build/bench-$KVER.log
	if [ "$REPORT_ONLY" = 0 ]; then
		echo "bench: $KVER: building akm.ko" >&2
		if ! make -s module KVER="$KVER" >"$REPO/build/bench-build-$KVER.log" 2>&1; then
			echo "bench: $KVER: make module failed (build/bench-build-$KVER.log)" >&2
			rc=1
			continue
		fi
		[ -x userspace/akmctl/akmctl ] || make -s userspace >>"$REPO/build/bench-build-$KVER.log" 2>&1
		mkdir -p "$OUT/bin"
		# private copies: the shared tree may be rebuilt while the VM runs
		cp "build/$KVER/akm.ko" "$OUT/bin/akm.ko" && cp userspace/akmctl/akmctl "$OUT/bin/akmctl" || {
			echo "bench: $KVER: cannot copy akm.ko/akmctl" >&2; rc=1; continue; }
		{
			echo "git: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- kernel uapi Kbuild userspace 2>/dev/null || echo ' (with uncommitted changes in kernel/uapi/userspace)')"
			echo "akm_ko_sha256: $(sha256sum "$OUT/bin/akm.ko" | cut -c1-16)"
			echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
			echo "host_cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo) x $(nproc)"
			echo "host_load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
			echo "qemu: $(qemu-system-x86_64 --version | head -n 1)"
			echo "vm: TCG (-accel tcg -cpu max), 2 vCPUs, 1024 MB"
		} >"$OUT/host.txt"
		echo "bench: $KVER: running the VM (log $LOG)" >&2
		AKM_BENCH_REPS=$REPS AKM_BENCH_T_TCP=$T_TCP AKM_BENCH_T_UDP=$T_UDP AKM_BENCH_T_RR=$T_RR \
		AKM_BENCH_CONFIGS=$CONFIGS AKM_BENCH_AKMCTL=$OUT/bin/akmctl AKM_BENCH_MODULE=$OUT/bin/akm.ko \
		AKM_BENCH_BUDGET=$((TIMEOUT - 200)) AKM_VM_QUIET=1 \
			scripts/vm-run.sh --kernel "$KVER" --module "$OUT/bin/akm.ko" --out "$OUT" \
			--log "$LOG" --timeout "$TIMEOUT" -- bench/guest.sh
		vrc=$?
		echo "host_load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/host.txt"
		echo "vm_exit: $vrc" >>"$OUT/host.txt"
		if [ "$vrc" != 0 ]; then
			echo "bench: $KVER: the VM run failed ($vrc); writing what there is" >&2
			rc=1
		fi
	fi
	if /usr/bin/python3 "$HERE/report.py" "$OUT" "$HERE/results-$KVER.md"; then
		echo "bench: $KVER: wrote bench/results-$KVER.md" >&2
	else
		echo "bench: $KVER: report failed" >&2
		rc=1
	fi
done
exit $rc
