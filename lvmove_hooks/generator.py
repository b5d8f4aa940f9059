"""systemd generator: want lvmove@<VG/LV>.service for each pvmove dm device already active.

Stdlib only (and light: os, no re/pathlib), no LVM command, fast, and it never fails the boot: every error is
logged to /dev/kmsg and the generator exits 0. It writes only symlinks inside its output directory.
"""

from __future__ import annotations

import os

from lvmove_hooks.names import dm_split, escape_instance, is_pvmove_lv, name_problem

WANTED_BY = "sysinit.target"
TEMPLATE = "lvmove@.service"
UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
_OFF_WORDS = ("false", "no", "off")


def _log(level: int, message: str) -> None:
    path = os.environ.get("LVMOVE_KMSG", "/dev/kmsg")
    try:
        with open(path, "a", encoding="utf-8") as kmsg:
            kmsg.write(f"<{level}>lvmove-generator: {message}\n")
    except OSError:
        pass


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def in_initrd() -> bool:
    if os.environ.get("SYSTEMD_IN_INITRD") == "1":
        return True
    return os.path.exists(os.environ.get("LVMOVE_INITRD_RELEASE", "/etc/initrd-release"))


def auto_resume_off(text: str) -> bool:
    """`auto_resume: false` (or no/off) at the top level of the YAML config."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "auto_resume" and not line[:1].isspace():
            return value.split("#", 1)[0].strip().lower() in _OFF_WORDS
    return False


def opted_out() -> str | None:
    proc = os.environ.get("LVMOVE_PROC", "/proc")
    if "lvmove.auto=0" in _read(os.path.join(proc, "cmdline")).split():
        return "lvmove.auto=0 on the kernel command line"
    config = os.environ.get("LVMOVE_CONFIG") or "/etc/lvmove/lvmove.yaml"
    if auto_resume_off(_read(config)):
        return f"auto_resume is false in {config}"
    return None


def paused_dir() -> str:
    return os.path.join(os.environ.get("LVMOVE_STATEDIR", "/var/lib/lvmove"), "paused")


def find_instances(sysfs: str) -> list[str]:
    """Unit instances (escaped VG/LV) of the pvmove LVs whose dm devices exist."""
    found: list[str] = []
    block = os.path.join(sysfs, "block")
    try:
        entries = sorted(e for e in os.listdir(block) if e.startswith("dm-"))
    except OSError:
        return found
    for entry in entries:
        base = os.path.join(block, entry, "dm")
        name = _read(os.path.join(base, "name"))
        if "pvmove" not in name:  # cheap filter before reading the uuid
            continue
        uuid = _read(os.path.join(base, "uuid"))
        if not uuid.startswith("LVM-"):
            continue
        try:
            vg, lv, layer = dm_split(name)
        except Exception:
            continue
        if layer or not is_pvmove_lv(lv) or name_problem(vg) or name_problem(lv):
            continue
        instance = escape_instance(f"{vg}/{lv}")
        if os.path.exists(os.path.join(paused_dir(), instance)):
            continue  # `lvmove pause`: the unit's condition would skip it anyway
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
    return os.path.join(override or "/usr/lib/systemd/system", TEMPLATE)


def generate(out_dir: str, sysfs: str) -> list[str]:
    instances = find_instances(sysfs)
    if not instances:
        return []
    wants = os.path.join(out_dir, f"{WANTED_BY}.wants")
    os.makedirs(wants, exist_ok=True)
    target = template_path()
    made: list[str] = []
    for instance in instances:
        unit = f"lvmove@{instance}.service"
        if "/" in unit or unit.startswith("."):
            continue
        link = os.path.join(wants, unit)
        if os.path.lexists(link):
            continue
        os.symlink(target, link)
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
        for unit in generate(argv[0], os.environ.get("LVMOVE_SYSFS", "/sys")):
            _log(5, f"pvmove in flight: wants {unit}")
    except Exception as exc:  # never fail the boot
        _log(3, f"error: {exc}")
    return 0
