"""Put lvmove into a guest's share the way a distro ships it: the .deb from the project's `make deb`, or the
one $LVMOVE_VM_DEB names (e.g. built in the guest suite's own chroot by tests/vm/suitedeb.py).

Without a .deb (and only when LVMOVE_VM_STAGED=1) the files are staged by hand at their installed paths.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from .hostcmd import HostCommandError, run

REPO = Path(__file__).resolve().parents[2]

log = logging.getLogger("lvmove.vm")

WRAPPER = "#!/usr/bin/python3\nfrom lvmove_hooks.cli import main\nraise SystemExit(main())\n"


def build_deb(builddir: Path) -> Path:
    """Run the project's `make deb` with BUILDDIR=builddir (the repo's build/ is left alone)."""
    if not (REPO / "Makefile").exists():
        raise HostCommandError("no Makefile in the repo: `make deb` is not available")
    run(["make", "-C", REPO, "deb", f"BUILDDIR={builddir}"], timeout=600)
    debs = sorted((builddir / "deb").glob("lvmove_*_all.deb"))
    if len(debs) != 1:
        raise HostCommandError(f"`make deb` left {len(debs)} lvmove_*_all.deb in {builddir / 'deb'}")
    return debs[0]


def staged_allowed() -> bool:
    return os.environ.get("LVMOVE_VM_STAGED", "") == "1"


def prepare_payload(dest: Path) -> Path:
    """Make dest/pkg/lvmove_*.deb (or, with LVMOVE_VM_STAGED=1, dest/stage/) for guests' shares."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if staged_allowed():
        stage_files(dest / "stage")
        return dest
    given = os.environ.get("LVMOVE_VM_DEB", "")  # a build made elsewhere (tests/vm/suitedeb.py: a suite's chroot)
    deb = Path(given) if given else build_deb(dest.parent / f"{dest.name}-build")
    if not deb.is_file():
        raise HostCommandError(f"LVMOVE_VM_DEB={given}: no such file (python3 -m tests.vm.suitedeb builds one)")
    (dest / "pkg").mkdir()
    shutil.copy2(deb, dest / "pkg" / deb.name)
    log.info("lvmove package for the guests: %s", deb.name)
    return dest


def stage_files(root: Path) -> None:
    """Temporary fallback: the installed layout by hand (rule, unit, generator, package, wrapper)."""
    files = {
        REPO / "udev-rules" / "96-lvmove.rules": "usr/lib/udev/rules.d/96-lvmove.rules",
        REPO / "units" / "lvmove@.service": "usr/lib/systemd/system/lvmove@.service",
        REPO / "generators" / "lvmove-generator": "usr/lib/systemd/system-generators/lvmove-generator",
    }
    for src, rel in files.items():
        if not src.exists():
            raise HostCommandError(f"cannot stage lvmove: {src} missing")
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    (root / "usr/lib/systemd/system-generators/lvmove-generator").chmod(0o755)
    pkg = root / "usr/lib/python3/dist-packages/lvmove_hooks"
    shutil.copytree(
        REPO / "lvmove_hooks", pkg, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    wrapper = root / "usr/bin/lvmove"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o755)
