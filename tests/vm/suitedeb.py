"""Build lvmove's .deb the way a Debian suite builds it: in a throwaway chroot of that suite (mmdebstrap,
native speed, no guest), with the dependencies `apt-get build-dep` picks from debian/control's
Build-Depends for that suite, and that suite's lintian.

    python3 -m tests.vm.suitedeb --suite trixie [--out DIR]

The source tree is prepared on the host as `make deb` prepares it (pkgtool copy-source, debian/, the
changelog entry); in the chroot only `apt-get build-dep`, `dpkg-buildpackage -us -uc -b` and `lintian
--fail-on error,warning` run. DIR (default $LVMOVE_VM_WORK/deb-<suite>) receives lvmove_<version>_all.deb,
build.log and lintian.txt. `LVMOVE_VM_DEB=DIR/lvmove_<version>_all.deb` then makes the VM harness install
that build in its guests instead of the one `make deb` makes on the host.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

from .harness import work_root
from .hostcmd import run
from .image import apt_sources, archive_uri
from .lvmove_pkg import REPO

log = logging.getLogger("lvmove.vm")

IN_CHROOT = "/build"


def version() -> str:
    """The package version, as `make deb` reads it (pkgtool.py version)."""
    return run([sys.executable, REPO / "packaging" / "pkgtool.py", "version"], capture=True, timeout=60).stdout.strip()


def prepare_source(dest: Path, ver: str) -> Path:
    """dest/lvmove-<version>/ with debian/, as `make deb` lays it out before dpkg-buildpackage."""
    tree = dest / f"lvmove-{ver}"
    pkgtool = REPO / "packaging" / "pkgtool.py"
    run([sys.executable, pkgtool, "copy-source", tree], timeout=120)
    shutil.copytree(REPO / "packaging" / "debian", tree / "debian", symlinks=True)
    run([sys.executable, pkgtool, "debian-changelog", tree, ver], timeout=60)
    return tree


def mmdebstrap_argv(suite: str, source: Path, out: Path, ver: str) -> list[str]:
    """One mmdebstrap run: bootstrap, build, lint, copy the results out, throw the chroot away."""
    inner = f"{IN_CHROOT}/lvmove-{ver}"
    deb = f"{IN_CHROOT}/lvmove_{ver}_all.deb"
    steps = [
        f"apt-get -y --no-install-recommends build-dep {inner}",
        f"cd {inner} && dpkg-buildpackage -us -uc -b",
        f"lintian --fail-on error,warning --display-info {deb} > {IN_CHROOT}/lintian.txt 2>&1;"
        f" echo \"lintian exit $?\" >> {IN_CHROOT}/lintian.txt",
    ]
    hooks = [f"--customize-hook=mkdir -p \"$1\"{IN_CHROOT}", f"--customize-hook=copy-in {source} {IN_CHROOT}"]
    hooks += [f"--customize-hook=chroot \"$1\" sh -c '{step}' >> {out / 'build.log'} 2>&1" for step in steps]
    hooks += [f"--customize-hook=copy-out {deb} {IN_CHROOT}/lintian.txt {out}"]
    argv = ["mmdebstrap", "--variant=buildd", "--mode=root", "--include=lintian",
            '--aptopt=APT::Install-Recommends "false"', *hooks]
    if suite != "bookworm":
        argv.append('--aptopt=Acquire::Check-Valid-Until "false"')  # a mirrored archive's sid Release (image.py)
    mirror = str(apt_sources()) if suite == "bookworm" else f"deb {archive_uri()} {suite} main"
    return [*argv, suite, "/dev/null", mirror]


def build(suite: str, out: Path) -> Path:
    """Build in a `suite` chroot; return the .deb. lintian's verdict is in out/lintian.txt."""
    ver = version()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    staging = out / "source"
    started = time.monotonic()
    source = prepare_source(staging, ver)
    run(mmdebstrap_argv(suite, source, out, ver), timeout=1800)
    shutil.rmtree(staging)
    deb = out / f"lvmove_{ver}_all.deb"
    log.info("built %s in a %s chroot in %.0fs", deb.name, suite, time.monotonic() - started)
    return deb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.vm.suitedeb")
    parser.add_argument("--suite", default="trixie")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    deb = build(args.suite, args.out or work_root() / f"deb-{args.suite}")
    verdict = (deb.parent / "lintian.txt").read_text()
    print(verdict, end="")
    print(f"{deb} (built in {args.suite}); install it in guests with LVMOVE_VM_DEB={deb}")
    return 0 if verdict.rstrip().endswith("lintian exit 0") else 1


if __name__ == "__main__":
    raise SystemExit(main())
