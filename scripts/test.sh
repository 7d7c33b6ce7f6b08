#!/usr/bin/env bash
# The test command: install what is missing, build, run every test
# (unit, simulation and command-line tiers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j2
make -j2 check
