"""Progress the unit shares with `lvmove status`/`watch`: /run/lvmove/<instance>.json (and, through
`metrics`, with Prometheus)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

STALE_SECONDS = 120.0

# Flags in /run/lvmove (set_flag/take_flag): the one spelling of each.
ABORT_FLAG = "abort"  # abort-<pvmove LV uuid>: `lvmove abort` is at work; the unit stands aside
MANUAL_FLAG = "manual"  # manual-<instance>: started by hand (lvmove start/move), overrides auto_resume: false
VG_CHECKED_FLAG = "vg-checked"  # vg-checked/<VG>: the per-VG check ran this boot (the udev rule TESTs it)
EXCLUDED_FLAG = "excluded"  # excluded/<VG>: the unit found the VG excluded by lvmove.yaml; the udev rule starts no
#                              more lvmove@ units for it until a unit run finds it wanted (lvmove start) or a reboot


def run_dir() -> Path:
    return Path(os.environ.get("LVMOVE_RUNDIR", "/run/lvmove"))


def _path(instance: str) -> Path:
    return run_dir() / f"{instance}.json"


def write(instance: str, data: dict[str, Any]) -> None:
    directory = run_dir()
    try:
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        tmp = directory / f".{instance}.json.tmp"
        tmp.write_text(json.dumps({**data, "updated": time.time()}), encoding="utf-8")
        tmp.replace(_path(instance))
    except OSError:
        pass  # progress sharing is best effort
    from lvmove_hooks import metrics  # lazily: only the unit writes progress

    metrics.move_written(instance, data)  # the Prometheus textfile, at the same cadence (never raises)


def read(instance: str) -> dict[str, Any] | None:
    try:
        data = json.loads(_path(instance).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or time.time() - float(data.get("updated", 0)) > STALE_SECONDS:
        return None
    return data


def remove(instance: str) -> None:
    with contextlib.suppress(OSError):
        _path(instance).unlink()
    from lvmove_hooks import metrics

    metrics.move_removed(instance)


def flag_path(kind: str, key: str, *, subdir: bool = False) -> Path:
    return run_dir() / kind / key if subdir else run_dir() / f"{kind}-{key}"


def set_flag(kind: str, key: str, *, subdir: bool = False) -> None:
    """A flag file `/run/lvmove/KIND-KEY`, or `/run/lvmove/KIND/KEY` (for a udev rule's TEST)."""
    path = flag_path(kind, key, subdir=subdir)
    with contextlib.suppress(OSError):
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        path.write_text(str(time.time()), encoding="utf-8")


def take_flag(kind: str, key: str, *, subdir: bool = False) -> bool:
    try:
        flag_path(kind, key, subdir=subdir).unlink()
    except OSError:
        return False
    return True


def has_flag(kind: str, key: str) -> bool:
    return flag_path(kind, key).exists()
