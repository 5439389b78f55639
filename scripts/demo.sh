#!/bin/bash
# The main job: the seed's six steps, end to end, in a VM.
#
#   bash scripts/demo.sh [--kernel VER]
#
# Installs what is needed (Debian 12, root), builds akm.ko and user space,
# then runs scripts/demo-vm.sh in a VM: an NMM and edge nodes A-D, each in
# its own network namespace on one bridge. Every step prints what it does
# and what the system shows; the exit status is 0 when every step worked.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
KVER=
if [ "${1:-}" = --kernel ]; then
	KVER=$2
fi
KVER=${KVER:-$(scripts/kernels.sh | sed -n 1p)}  # all of its output: no SIGPIPE under pipefail
make --no-print-directory -s module KVER="$KVER" userspace
exec scripts/vm-run.sh --kernel "$KVER" --module "build/$KVER/akm.ko" \
	--out "build/demo-out/$KVER" --log "build/demo-$KVER.log" --timeout 900 -- \
	scripts/demo-vm.sh
