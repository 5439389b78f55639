#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# AKM in a real network (tests/net/akm_net.py): firewalls, PMTU, NAT, a
# container bridge, a routing member, a VRF, IPv6 multicast, SCTP; each
# scenario without and with AKM. In the test VM, as root, with akm.ko
# loaded (tests/run_tests.sh runs this as "net/run.sh"):
#
#   tests/net/run.sh [SCENARIO...]
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PYTHONDONTWRITEBYTECODE=1
tmp=$(mktemp /tmp/akm-net.XXXXXX)
/usr/bin/python3 "$HERE/akm_net.py" "$@" | tee "$tmp"
rc=${PIPESTATUS[0]}
if ! grep -qE '^# Totals: pass:[0-9]+ fail:[0-9]+ ' "$tmp"; then
	echo "# akm_net.py ended without a Totals line (exit status $rc)"
	echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
	rc=1
fi
rm -f "$tmp"
exit "$rc"
