#!/usr/bin/env bash
# lvmove demo: a throwaway Debian 12 VM (qemu, software emulation), an LV being moved with pvmove, the VM
# crashed mid-move, booted again; lvmove resumes and finishes the move by itself. Prints the guest's logs,
# the unit's journal and the data checksum verdict.
# Needs: Debian 12, root (apt, mmdebstrap --mode=root), ~3 GB free in /var/cache and /var/tmp,
# access to the Debian archive; ~10 minutes the first time (image build), ~3-5 minutes afterwards.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh installs packages and builds a VM image: run it as root (sudo ./demo.sh)" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
need=(qemu-system-x86 qemu-utils mmdebstrap e2fsprogs make python3 python3-yaml debhelper dh-python
  pybuild-plugin-pyproject python3-all python3-setuptools pkg-config bash-completion systemd)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing: ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
exec python3 -m tests.vm.demo
