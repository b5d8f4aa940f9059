"""Build (and cache) the Debian guest image used by the VM tests.

    python3 -m tests.vm.image build [--suite bookworm] [--force]
    python3 -m tests.vm.image path  [--suite bookworm]

The image lives outside the clone in $LVMOVE_VM_CACHE (default /var/cache/lvmove-vm)/<suite>-<sha256 of
inputs>/ as root.raw, vmlinuz, initrd.img. The archive address is read from the host's apt sources at run
time, never written into the project.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .hostcmd import HostCommandError, run

FORMAT_VERSION = "1"
HERE = Path(__file__).resolve().parent
GUESTFS = HERE / "guestfs"
# The host's apt sources (apt_source_files): deb822 (Debian's containers, trixie and later installs) or the one-line
# file a Debian 12 installer writes (seen on a fresh minbase bookworm: only /etc/apt/sources.list).
APT_DIR = Path("/etc/apt")
PACKAGES = [
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "lvm2",
    "dmsetup",
    "dmeventd",
    "thin-provisioning-tools",
    "linux-image-amd64",
    "initramfs-tools",
    "kmod",
    "e2fsprogs",
    "util-linux",
    "procps",
    "python3",
    "python3-systemd",
    "python3-yaml",
    "prometheus-node-exporter",  # scenario 13: the textfile collector serves lvmove's metrics
]
PATH_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
)
PATH_INCLUDES = ("/usr/share/doc/*/copyright",)
ROOT_SIZE = "2G"
HOST_TOOLS = ("mmdebstrap", "mkfs.ext4", "qemu-img", "qemu-system-x86_64")

log = logging.getLogger("lvmove.vm")


@dataclass(frozen=True)
class Image:
    """A built guest: root filesystem image plus the kernel and initrd to boot it with."""

    directory: Path
    root: Path
    kernel: Path
    initrd: Path
    suite: str


def cache_root() -> Path:
    return Path(os.environ.get("LVMOVE_VM_CACHE", "/var/cache/lvmove-vm"))


def missing_host_tools() -> list[str]:
    """Host programs the VM tests need that are not installed."""
    return [tool for tool in HOST_TOOLS if shutil.which(tool) is None]


def apt_source_files(root: Path = APT_DIR) -> list[Path]:
    """Where apt's sources may be, in the order they are tried: Debian's own names first (a cloud image's
    sources.list.d/debian.sources, the installer's sources.list), then any other *.sources or *.list (a
    mirror's own file, mmdebstrap's 0000debian.sources)."""
    listed = root / "sources.list.d"
    own = [listed / "debian.sources", root / "sources.list"]
    others = sorted(listed.glob("*.sources")) + sorted(listed.glob("*.list")) if listed.is_dir() else []
    return own + [path for path in others if path not in own]


def apt_sources(root: Path = APT_DIR) -> Path:
    """The first apt sources file that names an archive (mmdebstrap takes either format as a MIRROR file)."""
    for path in apt_source_files(root):
        if path.is_file() and _uris(path.read_text()):
            return path
    raise HostCommandError(f"no Debian archive in {root / 'sources.list'} or "
                           "sources.list.d/*.sources|*.list: cannot find the Debian archive")


def _uris(text: str) -> list[str]:
    """Archive URIs of a sources file, either format, without the security archive."""
    found: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] == ["URIs:"]:
            found += words[1:]
        elif words[:1] == ["deb"]:
            rest = words[1:]
            if rest and rest[0].startswith("["):  # deb [arch=amd64 signed-by=...] URI suite comps
                while rest and not rest[0].endswith("]"):
                    rest = rest[1:]
                rest = rest[1:]
            found += rest[:1]
    return [uri for uri in found if "security" not in uri]


def input_digest(suite: str) -> str:
    """sha256 over everything that shapes the image, so a change of any input rebuilds it."""
    h = hashlib.sha256()
    for part in (FORMAT_VERSION, suite, " ".join(PACKAGES), " ".join(PATH_EXCLUDES), ROOT_SIZE):
        h.update(part.encode() + b"\0")
    for path in sorted(GUESTFS.iterdir()):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(apt_sources().read_bytes())
    return h.hexdigest()


def image_for(suite: str) -> Image:
    directory = cache_root() / f"{suite}-{input_digest(suite)[:16]}"
    return Image(
        directory=directory,
        root=directory / "root.raw",
        kernel=directory / "vmlinuz",
        initrd=directory / "initrd.img",
        suite=suite,
    )


def is_built(image: Image) -> bool:
    return all(p.is_file() for p in (image.root, image.kernel, image.initrd, image.directory / "DONE"))


def mmdebstrap_argv(suite: str, target: Path) -> list[str]:
    argv = [
        "mmdebstrap",
        "--variant=minbase",
        "--mode=root",
        "--format=directory",
        '--aptopt=APT::Install-Recommends "false"',
        "--dpkgopt=" + "\n".join(f"path-exclude={p}" for p in PATH_EXCLUDES),
        "--dpkgopt=" + "\n".join(f"path-include={p}" for p in PATH_INCLUDES),
        "--include=" + ",".join(PACKAGES),
        f'--customize-hook={GUESTFS / "customize.sh"} "$1"',
        suite,
        str(target),
    ]
    if suite != "bookworm":
        # An archive mirrored at one moment serves sid's Release past its Valid-Until date (seen: "Release
        # file ... is expired (invalid since 25d)"): the signature is still checked, only the date is not.
        argv.insert(argv.index(f"--include={','.join(PACKAGES)}"), '--aptopt=Acquire::Check-Valid-Until "false"')
    if suite == "bookworm":
        # The host's sources name bookworm suites: hand the file over as it is.
        argv.append(str(apt_sources()))
    else:
        # Another suite: reuse the host's archive address, read at run time.
        argv.append(f"deb {archive_uri()} {suite} main")
    return argv


def archive_uri() -> str:
    return _uris(apt_sources().read_text())[0]


def build(suite: str = "bookworm", *, force: bool = False) -> Image:
    """Build the guest image unless an identical one is cached; return it. One build per suite at a time:
    a second caller waits for the first and then uses its image."""
    image = image_for(suite)
    image.directory.parent.mkdir(parents=True, exist_ok=True)
    with open(image.directory.parent / f".{suite}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(image, suite, force)


def _build_locked(image: Image, suite: str, force: bool) -> Image:
    if is_built(image) and not force:
        log.info("guest image cached: %s", image.directory)
        return image
    missing = missing_host_tools()
    if missing:
        raise HostCommandError(
            "missing host tools: " + " ".join(missing) + " (apt-get install -y --no-install-recommends "
            "qemu-system-x86 qemu-utils mmdebstrap e2fsprogs)"
        )
    started = time.monotonic()
    image.directory.parent.mkdir(parents=True, exist_ok=True)
    if image.directory.exists():
        shutil.rmtree(image.directory)
    work = Path(tempfile.mkdtemp(prefix=f"build-{suite}-", dir=image.directory.parent))
    try:
        chroot = work / "rootfs"
        run(mmdebstrap_argv(suite, chroot), timeout=1800)
        out = work / "image"
        out.mkdir()
        copy_boot_files(chroot, out)
        run(["mkfs.ext4", "-q", "-L", "vmroot", "-d", chroot, out / "root.raw", ROOT_SIZE], timeout=900)
        (out / "DONE").write_text(f"{suite} built in {time.monotonic() - started:.1f}s\n")
        out.rename(image.directory)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("guest image built in %.1fs: %s", time.monotonic() - started, image.directory)
    return image


def copy_boot_files(chroot: Path, out: Path) -> None:
    """Copy /vmlinuz and /initrd.img out of the chroot (their symlinks resolved inside the chroot)."""
    for name in ("vmlinuz", "initrd.img"):
        link = chroot / name
        src = chroot / os.readlink(link).lstrip("/") if link.is_symlink() else link
        shutil.copyfile(src, out / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.vm.image", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "path"))
    parser.add_argument("--suite", default=os.environ.get("LVMOVE_VM_SUITE", "bookworm"))
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        image = build(args.suite, force=args.force) if args.command == "build" else image_for(args.suite)
    except HostCommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(image.directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
