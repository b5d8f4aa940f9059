"""Build (and cache) upstream LVM2 from source for the VM guests: `LVMOVE_VM_LVM=2.03.39|main`.

    python3 -m tests.vm.lvmbuild build [--lvm 2.03.39] [--force]
    python3 -m tests.vm.lvmbuild path  [--lvm 2.03.39]

The sources are the release tarballs in $LVMOVE_VM_LVM_SRC (default ../shared/lvm2-src/ beside the clone:
lvm2-<name>.tar.xz or lvm2-<name>-<rev>.tar.xz, checked against its SHA256SUMS). The build runs on the host
(configure with CONFIGURE_ARGS, make -j2, make install INSTALL_TARGETS DESTDIR=...) and the installed tree is
kept as one tarball in $LVMOVE_VM_CACHE (default /var/cache/lvmove-vm)/lvm2-<name>-<sha256 of inputs>/lvm2.tar
(inputs: the source tarball's sha256, the configure arguments, the install targets and FORMAT_VERSION).
The guest lays it over its own lvm2 at the start of each boot (scenarios/lib.sh, `lvm_overlay`).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .hostcmd import HostCommandError, run

FORMAT_VERSION = "1"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ENV_SELECT = "LVMOVE_VM_LVM"
CONFIGURE_ARGS = (
    "--prefix=/usr",
    "--sbindir=/sbin",
    "--libdir=/lib/x86_64-linux-gnu",
    "--with-usrlibdir=/usr/lib/x86_64-linux-gnu",
    "--enable-lvmpolld",
    "--enable-udev_sync",
    "--enable-udev_rules",
    "--with-udevdir=/lib/udev/rules.d",
    "--enable-dmeventd",
    "--enable-pkgconfig",
    "--with-systemdsystemunitdir=/lib/systemd/system",
    "--enable-cmdlib",
)
INSTALL_TARGETS = (
    "install",
    "install_systemd_units",
    "install_systemd_generators",
    "install_tmpfiles_configuration",
)
MAKE_JOBS = "-j2"
# Host programs the build needs (Debian: gcc make pkg-config kmod, plus libaio-dev libblkid-dev libudev-dev
# libsystemd-dev libedit-dev). Without modprobe configure says "checking for modprobe... no" and the guest's
# pvmove then finds no dm-mirror target.
HOST_TOOLS = ("gcc", "make", "pkg-config", "modprobe", "tar", "xz")
BUILD_DEPS = "gcc make pkg-config libaio-dev libblkid-dev libudev-dev libsystemd-dev libedit-dev kmod"
MODPROBE_RE = re.compile(r"^checking for modprobe\.\.\. (\S+)", re.MULTILINE)
TREE_NAME = "lvm2.tar"

log = logging.getLogger("lvmove.vm")


@dataclass(frozen=True)
class LvmSource:
    """One upstream tarball: `name` as selected (2.03.39, main), its path and its sha256."""

    name: str
    tarball: Path
    sha256: str


@dataclass(frozen=True)
class LvmTree:
    """A built LVM2: the installed tree as a tarball, and the version its sources declare."""

    name: str
    directory: Path
    digest: str

    @property
    def tarball(self) -> Path:
        return self.directory / TREE_NAME

    @property
    def build_log(self) -> Path:
        return self.directory / "build.log"

    @property
    def version(self) -> str:
        """The sources' VERSION line, e.g. `2.03.39(2) (2026-03-13)`."""
        return (self.directory / "VERSION").read_text().strip()

    @property
    def short_version(self) -> str:
        """`2.03.39(2)`: what `lvm version` in the guest starts with."""
        return self.version.split()[0]

    @property
    def tag(self) -> str:
        """`2.03.39-<16 hex>`: the file name stem used in guests' shares and for the applied-overlay marker."""
        return f"{self.name}-{self.digest[:16]}"


def selected() -> str | None:
    """The LVM selected by $LVMOVE_VM_LVM, or None for the guest suite's own lvm2."""
    value = os.environ.get(ENV_SELECT, "").strip()
    return value or None


def generation(suite: str, lvm: str | None) -> str:
    """The name of what a guest runs: `bookworm`, or `bookworm+2.03.39` with upstream LVM laid over it."""
    return f"{suite}+{lvm}" if lvm else suite


def sources_dir() -> Path:
    return Path(os.environ.get("LVMOVE_VM_LVM_SRC", str(REPO.parent / "shared" / "lvm2-src")))


def cache_root() -> Path:
    return Path(os.environ.get("LVMOVE_VM_CACHE", "/var/cache/lvmove-vm"))


def missing_host_tools() -> list[str]:
    return [tool for tool in HOST_TOOLS if shutil.which(tool) is None]


def parse_sha256sums(text: str) -> dict[str, str]:
    """`<hex>  <file>` lines (sha256sum's format, text or binary mode) -> {file: hex}."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            sums[parts[1].strip().lstrip("*")] = parts[0].lower()
    return sums


def tarball_name(name: str, available: list[str]) -> str:
    """lvm2-<name>.tar.xz, else the one lvm2-<name>-<rev>.tar.xz among the available file names."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise HostCommandError(f"{ENV_SELECT}={name!r}: not a release or branch name")
    exact = f"lvm2-{name}.tar.xz"
    if exact in available:
        return exact
    matches = sorted(f for f in available if f.startswith(f"lvm2-{name}-") and f.endswith(".tar.xz"))
    if len(matches) != 1:
        known = ", ".join(sorted(available)) or "none"
        raise HostCommandError(f"{ENV_SELECT}={name}: no single lvm2-{name}[-REV].tar.xz (have: {known})")
    return matches[0]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_source(name: str) -> LvmSource:
    """The tarball for `name`, verified against SHA256SUMS (a mismatch or a missing line is an error)."""
    src = sources_dir()
    sums_file = src / "SHA256SUMS"
    if not sums_file.is_file():
        raise HostCommandError(f"no {sums_file}: cannot verify LVM2 sources")
    sums = parse_sha256sums(sums_file.read_text())
    available = sorted(p.name for p in src.glob("lvm2-*.tar.xz"))
    fname = tarball_name(name, available)
    if fname not in sums:
        raise HostCommandError(f"{fname} is not listed in {sums_file}")
    path = src / fname
    actual = file_sha256(path)
    if actual != sums[fname]:
        raise HostCommandError(f"{path}: sha256 {actual} does not match SHA256SUMS ({sums[fname]})")
    return LvmSource(name=name, tarball=path, sha256=actual)


def input_digest(source_sha256: str) -> str:
    """sha256 over everything that shapes the installed tree: a change of any input rebuilds it."""
    h = hashlib.sha256()
    for part in (FORMAT_VERSION, source_sha256, " ".join(CONFIGURE_ARGS), " ".join(INSTALL_TARGETS)):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def tree_for(source: LvmSource) -> LvmTree:
    digest = input_digest(source.sha256)
    return LvmTree(name=source.name, directory=cache_root() / f"lvm2-{source.name}-{digest[:16]}", digest=digest)


def is_built(tree: LvmTree) -> bool:
    return all(p.is_file() for p in (tree.tarball, tree.directory / "VERSION", tree.directory / "DONE"))


def modprobe_found(configure_output: str) -> bool:
    """Did configure find modprobe (`checking for modprobe... /usr/sbin/modprobe`)?"""
    m = MODPROBE_RE.search(configure_output)
    return m is not None and m.group(1).startswith("/")


def logged(argv: list[str | Path], logfile: Path, *, timeout: float, cwd: Path | None = None) -> str:
    """Run argv through hostcmd with its output appended to logfile; on failure raise with the log's tail."""
    env = dict(os.environ, LC_ALL="C")
    with open(logfile, "a") as f:
        f.write(f"\n### {' '.join(str(a) for a in argv)}  (cwd {cwd or os.getcwd()})\n")
    started = time.monotonic()
    try:
        proc = run(argv, timeout=timeout, check=False, capture=True, env=env, cwd=cwd)
    except HostCommandError as exc:
        with open(logfile, "a") as f:
            f.write(f"### {exc}\n")
        raise HostCommandError(f"{exc} (log: {logfile})") from exc
    output = (proc.stdout or "") + (proc.stderr or "")
    with open(logfile, "a") as f:
        f.write(proc.stdout or "")
        if proc.stderr:
            f.write("### stderr\n" + proc.stderr)
        f.write(f"### exit {proc.returncode} after {time.monotonic() - started:.1f}s\n")
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-25:])
        what = " ".join(str(a) for a in argv[:2])
        raise HostCommandError(f"exit {proc.returncode}: {what} (log: {logfile})\n{tail}")
    return output


def build(name: str, *, force: bool = False) -> LvmTree:
    """Build LVM2 `name` unless an identical tree is cached; return it. One build per tree at a time: a second
    caller (the VM suite's background prefetch and a machine that needs the tree) waits for the first."""
    source = find_source(name)
    tree = tree_for(source)
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / f".lvm2-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(name, source, tree, force)


def _build_locked(name: str, source: LvmSource, tree: LvmTree, force: bool) -> LvmTree:
    if is_built(tree) and not force:
        log.info("LVM2 %s cached: %s (%s)", name, tree.directory, tree.version)
        return tree
    missing = missing_host_tools()
    if missing:
        raise HostCommandError(
            f"cannot build LVM2 {name}: missing host tools " + " ".join(missing)
            + f" (apt-get install -y --no-install-recommends {BUILD_DEPS} xz-utils)"
        )
    started = time.monotonic()
    cache = cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    logfile = cache / f"lvm2-{name}-{tree.digest[:16]}.build.log"
    logfile.write_text(f"LVM2 {name} from {source.tarball} (sha256 {source.sha256})\n")
    log.info("building LVM2 %s (log: %s)", name, logfile)
    work = Path(tempfile.mkdtemp(prefix=f"build-lvm2-{name}-", dir=cache))
    try:
        logged(["tar", "-xJf", source.tarball, "-C", work], logfile, timeout=300)
        tops = [p for p in work.iterdir() if p.is_dir()]
        if len(tops) != 1 or not (tops[0] / "configure").is_file():
            raise HostCommandError(f"{source.tarball}: expected one top directory with a configure script")
        srcdir = tops[0]
        out = logged(["./configure", *CONFIGURE_ARGS], logfile, timeout=900, cwd=srcdir)
        if not modprobe_found(out):
            raise HostCommandError(
                f"LVM2 {name}: configure did not find modprobe (install kmod on the host); without it the "
                f"guest's pvmove finds no dm-mirror target (log: {logfile})"
            )
        logged(["make", MAKE_JOBS], logfile, timeout=2400, cwd=srcdir)
        destdir = work / "destdir"
        logged(["make", *INSTALL_TARGETS, f"DESTDIR={destdir}"], logfile, timeout=900, cwd=srcdir)
        if not (destdir / "sbin" / "lvm").exists():
            raise HostCommandError(f"LVM2 {name}: `make install` left no sbin/lvm in {destdir} (log: {logfile})")
        result = work / "tree"
        result.mkdir()
        tops_installed = sorted(p.name for p in destdir.iterdir())
        logged(
            ["tar", "-cf", result / TREE_NAME, "--owner=0", "--group=0", "--numeric-owner", "--sort=name",
             "-C", destdir, *tops_installed],
            logfile,
            timeout=300,
        )
        (result / "VERSION").write_text((srcdir / "VERSION").read_text().strip() + "\n")
        (result / "SOURCE").write_text(f"{source.tarball.name} {source.sha256}\n")
        seconds = time.monotonic() - started
        (result / "DONE").write_text(f"LVM2 {name} built in {seconds:.1f}s\n")
        shutil.copyfile(logfile, result / "build.log")
        if tree.directory.exists():
            shutil.rmtree(tree.directory)
        result.rename(tree.directory)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = tree.tarball.stat().st_size / 1e6
    log.info("LVM2 %s (%s) built in %.1fs: %s (%.1f MB)", name, tree.version, seconds, tree.tarball, size)
    return tree


def build_selected() -> LvmTree | None:
    """The tree for $LVMOVE_VM_LVM (built or cached), or None when unset."""
    name = selected()
    return build(name) if name else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.vm.lvmbuild", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "path"))
    parser.add_argument("--lvm", default=selected(), help="2.03.39, main, ... (default $LVMOVE_VM_LVM)")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if not args.lvm:
        print(f"error: no LVM selected (--lvm or {ENV_SELECT})", file=sys.stderr)
        return 2
    try:
        tree = build(args.lvm, force=args.force) if args.command == "build" else tree_for(find_source(args.lvm))
    except HostCommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(tree.tarball)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
