#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# AKM packet-path tests (tests/pkt/akm_pkt.py, every group in one process).
# Inside the test VM, as root, from any directory, with akm.ko loaded
# (tests/run_tests.sh runs this as "pkt/run.sh"):
#
#   tests/pkt/run.sh [GROUP[:ALG]...]      e.g. tests/pkt/run.sh attack:hmac-sha256
#
# Without arguments the groups in $AKM_PKT_GROUPS run, or all of them (e.g.
# AKM_PKT_GROUPS="mutate faults" AKM_PKT_MUTATIONS=10000 scripts/debug-kernel.sh
# run pkt/run.sh; AKM_* variables reach the VM).
#
# Prints TAP with each group nested under "# ", one result line per group,
# and the kselftest Totals line last. The "unload" group (rmmod/insmod under
# traffic) runs last and leaves $AKM_MODULE loaded with default parameters;
# if the run dies without its Totals line, this script prints one with a
# failure and reloads the module if it is missing.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE/../.." || exit 1
export PYTHONDONTWRITEBYTECODE=1
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

tmp=$(mktemp /tmp/akm-pkt.XXXXXX)
$PY "$HERE/akm_pkt.py" "$@" | tee "$tmp"
rc=${PIPESTATUS[0]}
if ! grep -qE '^# Totals: pass:[0-9]+ fail:[0-9]+ ' "$tmp"; then
	echo "# akm_pkt.py ended without a Totals line (exit status $rc)"
	echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
	rc=1
fi
rm -f "$tmp"
if [ ! -d /sys/module/akm ] && [ -n "${AKM_MODULE:-}" ]; then
	modprobe nf_defrag_ipv6 2>/dev/null
	insmod "$AKM_MODULE" || echo "# insmod $AKM_MODULE failed"
fi
exit "$rc"
