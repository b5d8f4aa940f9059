"""systemd generator: want lvmove@<VG/LV>.service for each pvmove dm device already active.

Stdlib only, no LVM command, fast, and it never fails the boot: every error is logged to /dev/kmsg and the
generator exits 0. It writes only symlinks inside its output directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lvmove_hooks.names import dm_split, escape_instance, is_pvmove_lv, name_problem

WANTED_BY = "sysinit.target"
TEMPLATE = "lvmove@.service"
UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
_AUTO_OFF = re.compile(r"^auto_resume\s*:\s*(false|no|off)\s*(#.*)?$", re.IGNORECASE | re.MULTILINE)


def _log(level: int, message: str) -> None:
    path = os.environ.get("LVMOVE_KMSG", "/dev/kmsg")
    try:
        with open(path, "a", encoding="utf-8") as kmsg:
            kmsg.write(f"<{level}>lvmove-generator: {message}\n")
    except OSError:
        pass


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def in_initrd() -> bool:
    if os.environ.get("SYSTEMD_IN_INITRD") == "1":
        return True
    return os.path.exists(os.environ.get("LVMOVE_INITRD_RELEASE", "/etc/initrd-release"))


def opted_out() -> str | None:
    proc = Path(os.environ.get("LVMOVE_PROC", "/proc"))
    if "lvmove.auto=0" in _read(proc / "cmdline").split():
        return "lvmove.auto=0 on the kernel command line"
    config = Path(os.environ.get("LVMOVE_CONFIG") or "/etc/lvmove/lvmove.yaml")
    if _AUTO_OFF.search(_read(config)):
        return f"auto_resume is false in {config}"
    return None


def find_instances(sysfs: Path) -> list[str]:
    """Unit instances (escaped VG/LV) of the pvmove LVs whose dm devices exist."""
    found: list[str] = []
    try:
        entries = sorted((sysfs / "block").glob("dm-*"))
    except OSError:
        return found
    for entry in entries:
        uuid = _read(entry / "dm" / "uuid")
        name = _read(entry / "dm" / "name")
        if not uuid.startswith("LVM-") or not name:
            continue
        try:
            vg, lv, layer = dm_split(name)
        except Exception:
            continue
        if layer or not is_pvmove_lv(lv) or name_problem(vg) or name_problem(lv):
            continue
        instance = escape_instance(f"{vg}/{lv}")
        if instance not in found:
            found.append(instance)
    return found


def template_path() -> str:
    override = os.environ.get("LVMOVE_UNITDIR")
    dirs = (override,) if override else UNIT_DIRS
    for directory in dirs:
        candidate = os.path.join(directory, TEMPLATE)
        if os.path.exists(candidate):
            return candidate
    return os.path.join(dirs[0] if override else "/usr/lib/systemd/system", TEMPLATE)


def generate(out_dir: Path, sysfs: Path) -> list[str]:
    instances = find_instances(sysfs)
    if not instances:
        return []
    wants = out_dir / f"{WANTED_BY}.wants"
    wants.mkdir(parents=True, exist_ok=True)
    target = template_path()
    made: list[str] = []
    for instance in instances:
        unit = f"lvmove@{instance}.service"
        if "/" in unit or unit.startswith("."):
            continue
        link = wants / unit
        if link.is_symlink() or link.exists():
            continue
        link.symlink_to(target)
        made.append(unit)
    return made


def main(argv: list[str]) -> int:
    try:
        if not argv:
            _log(4, "no output directory given")
            return 0
        if in_initrd():
            return 0
        reason = opted_out()
        if reason:
            _log(6, f"not resuming moves: {reason}")
            return 0
        sysfs = Path(os.environ.get("LVMOVE_SYSFS", "/sys"))
        for unit in generate(Path(argv[0]), sysfs):
            _log(5, f"pvmove in flight: wants {unit}")
    except Exception as exc:  # never fail the boot
        _log(3, f"error: {exc}")
    return 0
