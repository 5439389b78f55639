#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
# Host unit tests (TAP), with ASan and UBSan: the kernel's pure-C parts
# (replay window, packet layout) and user space (userspace/tests/run.sh).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

out=build/unit
mkdir -p "$out"
rc=0
for t in replay wire; do
	if cc -std=c11 -Wall -Wextra -Werror -O1 -g -fsanitize=address,undefined \
		-fno-sanitize-recover=all -include tests/unit/kshim.h -Ikernel \
		"tests/unit/test_$t.c" "kernel/$t.c" -o "$out/test_$t"; then
		"$out/test_$t" || rc=1
	else
		echo "not ok - build tests/unit/test_$t.c"
		rc=1
	fi
done
bash userspace/tests/run.sh || rc=1
exit $rc
