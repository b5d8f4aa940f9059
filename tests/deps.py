"""The Debian packages demo.sh and tests/run.sh install: one place, derived from packaging/debian/control.

    python3 -m tests.deps list PROFILE      the packages PROFILE needs, one a line (alternatives resolved)
    python3 -m tests.deps install PROFILE   apt-get install the missing ones (output to a log file)

Profiles: `demo` (./demo.sh), `fast` (tests/run.sh --fast), `all` (tests/run.sh, every suite).

The package build's needs are read from the control file's Build-Depends (and -Arch, -Indep) at run time, so
adding a Build-Depends there installs it everywhere; only the harness's own tools are listed here. Virtual
build-dependency names (debhelper-compat, dh-sequence-*) map to the package that provides them. For an
alternative `a | b` the one already installed wins, else the first with an apt candidate on this host (so
`systemd-dev | systemd` picks systemd-dev on trixie and systemd on bookworm).
Standard library only: it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONTROL = REPO / "packaging" / "debian" / "control"
BUILD_FIELDS = ("Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep")
# dpkg-checkbuilddeps adds this to every Build-Depends (Debian's builtin-build-depends vendor hook).
BUILTIN_BUILD_DEPENDS = ["build-essential"]
# Virtual build-dependency names: apt can install them, but dpkg-query never reports them installed.
VIRTUAL = {
    "debhelper-compat": "debhelper",
    "dh-sequence-python3": "dh-python",
}

# What the scripts need besides the package build.
RUNNER = ["python3", "python3-yaml", "make"]
# prometheus: promtool checks the metrics files; tmux: `lvmove watch` is tested in a real terminal.
FAST = ["python3", "python3-pip", "python3-yaml", "python3-pytest", "systemd", "udev", "make", "pkg-config",
        "man-db", "bash-completion", "prometheus", "tmux"]
HARNESS = ["qemu-system-x86", "qemu-utils", "mmdebstrap", "e2fsprogs", "kmod"]
PACKAGING_TOOLS = ["rpm", "lintian"]
# Building LVM2 from source for the guests of other LVM generations (tests/vm/lvmbuild.py; xz-utils unpacks
# the release tarballs).
LVM_SOURCE = ["gcc", "make", "pkg-config", "libaio-dev", "libblkid-dev", "libudev-dev", "libsystemd-dev",
              "libedit-dev", "kmod", "xz-utils"]

PROFILES = ("demo", "fast", "all")

Group = list[str]  # alternatives, first preferred; one package for a plain dependency


def control_fields(text: str) -> dict[str, str]:
    """The fields of the first (source) paragraph of a deb822 control file; continuation lines joined."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                break
            continue
        if line[0] in " \t" and key:
            fields[key] += "\n" + line.strip()
        else:
            key, _, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
    return fields


def package_name(relation: str) -> str:
    """`debhelper-compat (= 13)` -> debhelper-compat; drops [arch], <profile>, (version) and :any/:native."""
    name = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", " ", relation).split()
    if not name:
        raise ValueError(f"empty relation in Build-Depends: {relation!r}")
    return name[0].split(":")[0]


def parse_relations(value: str) -> list[Group]:
    """A Depends-style field as groups of alternatives, virtual names mapped to their providers."""
    groups: list[Group] = []
    for item in value.replace("\n", " ").split(","):
        if not item.strip():
            continue
        group: Group = []
        for alt in item.split("|"):
            name = VIRTUAL.get(package_name(alt), package_name(alt))
            if name not in group:
                group.append(name)
        groups.append(group)
    return groups


def build_depends(control: Path = CONTROL) -> list[Group]:
    """What `dpkg-buildpackage -b` (make deb) checks: the Build-Depends fields plus build-essential."""
    fields = control_fields(control.read_text())
    groups: list[Group] = [[p] for p in BUILTIN_BUILD_DEPENDS]
    for field_name in BUILD_FIELDS:
        if field_name in fields:
            groups += parse_relations(fields[field_name])
    return groups


def profile_groups(profile: str, control: Path = CONTROL) -> list[Group]:
    """Every dependency group a profile needs, in install order, without duplicates."""
    plain: list[str]
    if profile == "demo":
        plain, build = RUNNER + HARNESS, True
    elif profile == "fast":
        plain, build = FAST, False
    elif profile == "all":
        plain, build = FAST + PACKAGING_TOOLS + HARNESS + LVM_SOURCE, True
    else:
        raise ValueError(f"unknown profile {profile!r} (one of {', '.join(PROFILES)})")
    groups = [[p] for p in plain] + (build_depends(control) if build else [])
    unique: list[Group] = []
    for group in groups:
        if group not in unique:
            unique.append(group)
    return unique


def installed(names: Iterable[str]) -> set[str]:
    """The names among `names` that dpkg reports as installed."""
    names = sorted(set(names))
    if not names:
        return set()
    try:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Package}\t${Status}\n", *names],
            capture_output=True, text=True, check=False,
        )
    except FileNotFoundError:
        return set()
    found = set()
    for line in proc.stdout.splitlines():
        package, _, status = line.partition("\t")
        if status.strip() == "install ok installed":
            found.add(package)
    return found


def has_candidate(name: str) -> bool:
    """apt could install `name` on this host (apt-cache policy shows a candidate version)."""
    try:
        out = subprocess.run(["apt-cache", "policy", name], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return False
    match = re.search(r"^\s*Candidate:\s*(\S+)", out, re.M)
    return match is not None and match.group(1) != "(none)"


def choose(group: Group, present: set[str], candidate: Callable[[str], bool] = has_candidate) -> str:
    """The alternative to use: an installed one, else the first apt can install, else the first."""
    for name in group:
        if name in present:
            return name
    if len(group) > 1:
        for name in group:
            if candidate(name):
                return name
    return group[0]


def resolve(profile: str, control: Path = CONTROL) -> list[str]:
    """The packages for a profile, one per group (see choose())."""
    groups = profile_groups(profile, control)
    present = installed(name for group in groups for name in group)
    chosen: list[str] = []
    for group in groups:
        name = choose(group, present)
        if name not in chosen:
            chosen.append(name)
    return chosen


def missing(profile: str, control: Path = CONTROL) -> list[str]:
    packages = resolve(profile, control)
    present = installed(packages)
    return [p for p in packages if p not in present]


def log_path() -> Path:
    return Path(os.environ.get("LVMOVE_VM_WORK", "/var/tmp/lvmove-vm-runs")) / "apt.log"


def apt_get(args: list[str], log: Path) -> int:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # A fresh machine often runs unattended-upgrades at first boot: wait for its dpkg lock instead of failing.
    argv = ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=600", *args]
    with open(log, "a") as out:
        out.write(f"\n+ {' '.join(argv)}\n")
        out.flush()
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  env=env, check=False).returncode
        except FileNotFoundError:
            out.write("apt-get: command not found\n")
            return 127


def install(profile: str, control: Path = CONTROL) -> int:
    """Install what the profile misses; on failure one line: what failed, the log, the fix."""
    todo = missing(profile, control)
    if not todo:
        return 0
    log = log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"==> installing {len(todo)} packages (apt-get output: {log}): {' '.join(todo)}", flush=True)
    rc = apt_get(["update"], log)
    if rc != 0:
        print(f"FAILED: apt-get update exited {rc}; log: {log}; fix: make the Debian archive in "
              "/etc/apt/sources.list.d reachable (network, proxy), then run the command again", file=sys.stderr)
        return 1
    todo = missing(profile, control)  # fresh package lists: alternatives may resolve differently now
    rc = apt_get(["install", "-y", "--no-install-recommends", *todo], log) if todo else 0
    if rc != 0:
        print(f"FAILED: apt-get install exited {rc}; log: {log}; fix: see the log's last lines, then "
              f"`apt-get install {' '.join(todo)}` by hand and run the command again", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.deps", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("list", "install"))
    parser.add_argument("profile", choices=PROFILES)
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(resolve(args.profile)))
        return 0
    return install(args.profile)


if __name__ == "__main__":
    raise SystemExit(main())
