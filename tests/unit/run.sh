#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
# Host unit tests (TAP), with ASan and UBSan: the kernel's pure-C parts
# (replay window, wire layout) and user space (userspace/tests/run.sh).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

out=build/unit
mkdir -p "$out"
rc=0
if cc -std=c11 -Wall -Wextra -Werror -O1 -g -fsanitize=address,undefined \
	-fno-sanitize-recover=all -include tests/unit/kshim.h -Ikernel \
	tests/unit/test_replay.c kernel/replay.c -o "$out/test_replay"; then
	"$out/test_replay" || rc=1
else
	echo "not ok - build tests/unit/test_replay.c"
	rc=1
fi
bash userspace/tests/run.sh || rc=1
exit $rc
