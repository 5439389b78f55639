#!/bin/bash
# Install what AKM needs (Debian 12, as root) and run the full test suite:
# build, static checks, unit tests and the VM tests on every supported kernel.
# The last line of output is "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
# check.sh directly (not "make check"): make would print its own error line
# after the closing "N passed, N failed" line.
exec bash scripts/check.sh
