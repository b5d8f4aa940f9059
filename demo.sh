#!/usr/bin/env bash
# lvmove demo: a throwaway Debian 12 VM (qemu, software emulation), an LV being moved with pvmove, the VM
# crashed mid-move, booted again; lvmove resumes and finishes the move by itself. Prints the guest's logs,
# the unit's journal and the data checksum verdict.
# Needs: Debian 12, root (apt, mmdebstrap --mode=root), ~3 GB free in /var/cache and /var/tmp,
# access to the Debian archive; ~10 minutes the first time (image build), ~3-5 minutes afterwards.
# Run it as root: `./demo.sh` in a root shell, or `sudo ./demo.sh`.
# The packages it installs: packaging/debian/control's Build-Depends plus the VM harness's tools
# (tests/deps.py); `./demo.sh --print-deps` lists them and exits.
set -euo pipefail
cd "$(dirname "$0")"
case "${1:-}" in
  --print-deps) exec python3 -m tests.deps list demo ;;
  "") ;;
  *) echo "usage: ./demo.sh [--print-deps]" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh installs packages and builds a VM image: run it as root (./demo.sh in a root shell, or sudo ./demo.sh)" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
if ! command -v python3 >/dev/null; then
  log="${LVMOVE_VM_WORK:-/var/tmp/lvmove-vm-runs}/apt.log"
  mkdir -p "$(dirname "$log")"
  echo "==> installing python3 (apt-get output: $log)"
  { apt-get -q update && apt-get -q install -y --no-install-recommends python3; } >>"$log" 2>&1 || {
    echo "FAILED: installing python3; log: $log; fix: make the Debian archive reachable, then run ./demo.sh again" >&2
    exit 1
  }
fi
python3 -m tests.deps install demo
exec python3 -m tests.vm.demo
