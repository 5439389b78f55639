#!/bin/bash
# Install what AKM needs (Debian 12, as root) and run the full test suite:
# build, static checks, unit tests and the VM tests on every supported kernel.
# The last line of output is "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
exec make --no-print-directory check
