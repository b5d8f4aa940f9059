#!/usr/bin/env bash
# Install what the tests need (Debian 12, as root) and run them: the fast suite, then the VM suite
# (real LVM2 in qemu guests). `tests/run.sh --fast` runs only the fast suite; `--vm` only the VM suite.
set -euo pipefail
cd "$(dirname "$0")/.."

want_fast=1 want_vm=1
case "${1:-}" in
  --fast) want_vm=0 ;;
  --vm) want_fast=0 ;;
  "") ;;
  *) echo "usage: tests/run.sh [--fast|--vm]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/run.sh installs packages and boots VMs: run it as root (sudo tests/run.sh)" >&2
  exit 3
fi

export DEBIAN_FRONTEND=noninteractive
apt_packages=(python3 python3-pip python3-yaml python3-pytest systemd udev make pkg-config man-db
  bash-completion)
if [ "$want_vm" = 1 ]; then
  apt_packages+=(qemu-system-x86 qemu-utils mmdebstrap e2fsprogs debhelper dh-python pybuild-plugin-pyproject
    python3-all python3-setuptools rpm lintian)
fi
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
pip_packages=(pytest pyyaml mypy ruff types-PyYAML)
python3 -m pip install -q "${pip_packages[@]}" 2>/dev/null \
  || python3 -m pip install -q --break-system-packages "${pip_packages[@]}"

status=0
if [ "$want_fast" = 1 ]; then
  echo "== lint: ruff, mypy --strict"
  python3 -m ruff check lvmove_hooks tests bench generators/lvmove-generator || status=1
  python3 -m mypy || status=1
  echo "== fast suite"
  python3 -m pytest -p no:cacheprovider -m "not vm and not packaging" tests || status=1
fi
if [ "$want_vm" = 1 ]; then
  echo "== packaging suite (.deb, .rpm)"
  python3 -m pytest -p no:cacheprovider -m packaging tests || { rc=$?; [ "$rc" = 5 ] || status=1; }
  echo "== VM suite (real LVM2 in qemu guests)"
  python3 -m pytest -p no:cacheprovider -m vm tests/vm || status=1
fi
exit "$status"
