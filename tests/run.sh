#!/usr/bin/env bash
# Install what the tests need (Debian 12, as root) and run them: lint, the fast suite, the packaging suite,
# then the VM suite (real LVM2 in qemu guests). `tests/run.sh --fast` runs only lint and the fast suite; `--vm`
# only the packaging and VM suites. Run it as root: `bash tests/run.sh` in a root shell, or `sudo tests/run.sh`.
# The packages come from tests/deps.py (packaging/debian/control's Build-Depends plus the suites' own tools);
# `tests/run.sh --print-deps` lists those of a full run and exits.
set -euo pipefail
cd "$(dirname "$0")/.."

want_fast=1 want_vm=1
case "${1:-}" in
  --fast) want_vm=0 ;;
  --vm) want_fast=0 ;;
  --print-deps) exec python3 -m tests.deps list all ;;
  "") ;;
  *) echo "usage: tests/run.sh [--fast|--vm|--print-deps]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/run.sh installs packages and boots VMs: run it as root (bash tests/run.sh in a root shell, or sudo tests/run.sh)" >&2
  exit 3
fi

export DEBIAN_FRONTEND=noninteractive
if ! command -v python3 >/dev/null; then
  log="${LVMOVE_VM_WORK:-/var/tmp/lvmove-vm-runs}/apt.log"
  mkdir -p "$(dirname "$log")"
  echo "==> installing python3 (apt-get output: $log)"
  { apt-get -q update && apt-get -q install -y --no-install-recommends python3; } >>"$log" 2>&1 || {
    echo "FAILED: installing python3; log: $log; fix: make the Debian archive reachable, then run tests/run.sh again" >&2
    exit 1
  }
fi
if [ "$want_vm" = 1 ]; then profile=all; else profile=fast; fi
python3 -m tests.deps install "$profile"
pip_packages=(pytest pytest-xdist pyyaml mypy ruff types-PyYAML)
python3 -m pip install -q "${pip_packages[@]}" 2>/dev/null \
  || python3 -m pip install -q --break-system-packages "${pip_packages[@]}"

status=0
if [ "$want_fast" = 1 ]; then
  echo "== lint: ruff, mypy --strict"
  python3 -m ruff check lvmove_hooks tests bench generators/lvmove-generator || status=1
  python3 -m mypy || status=1
  echo "== fast suite"
  python3 -m pytest -p no:cacheprovider -m "not vm and not packaging" tests || { rc=$?; [ "$rc" = 5 ] || status=1; }
fi
if [ "$want_vm" = 1 ]; then
  echo "== packaging suite (.deb, .rpm)"
  python3 -m pytest -p no:cacheprovider -m packaging tests || { rc=$?; [ "$rc" = 5 ] || status=1; }
  # Which LVM generations and machines (tests/vm/generations.py): the CI matrix unless the caller names one
  # (LVMOVE_VM_MATRIX, or a single generation with LVMOVE_VM_SUITE / LVMOVE_VM_LVM).
  if [ -z "${LVMOVE_VM_MATRIX:-}${LVMOVE_VM_SUITE:-}${LVMOVE_VM_LVM:-}" ]; then export LVMOVE_VM_MATRIX=ci; fi
  # Two guests at a time (LVMOVE_VM_JOBS, default 2): on 2 cores that finished two machines in 0.78 of
  # the time one after the other took (bookworm s1 + s4: 266 s against 341 s); 1 runs them one by one.
  jobs=${LVMOVE_VM_JOBS:-2}
  case "$jobs" in [1-9]) ;; *) echo "LVMOVE_VM_JOBS=$jobs: give the number of guests at a time, 1-9" >&2; exit 2 ;; esac
  parallel=(); [ "$jobs" = 1 ] || parallel=(-n "$jobs" --dist worksteal)
  echo "== VM suite (real LVM2 in qemu guests, $jobs at a time; matrix: ${LVMOVE_VM_MATRIX:-${LVMOVE_VM_SUITE:-bookworm}${LVMOVE_VM_LVM:++$LVMOVE_VM_LVM}:all})"
  python3 -m pytest -p no:cacheprovider "${parallel[@]}" -m vm tests/vm || status=1  # no VM test run (exit 5) is a failure too
fi
exit "$status"
