"""Paused moves: `lvmove pause` keeps lvmove from carrying a move until `lvmove resume`, across uevents and
reboots. The flag is a file /var/lib/lvmove/paused/<unit instance> holding the pvmove LV's UUID; the unit's
`ConditionPathExists=!/var/lib/lvmove/paused/%i` makes every trigger (udev, the generator, systemctl start)
skip it, and the generator does not even want it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def state_dir() -> Path:
    return Path(os.environ.get("LVMOVE_STATEDIR", "/var/lib/lvmove")) / "paused"


def flag(instance: str) -> Path:
    return state_dir() / instance


def paused_uuid(instance: str) -> str | None:
    """The UUID of the move paused under this unit instance, or None when none is."""
    try:
        return flag(instance).read_text(encoding="utf-8").strip() or "?"
    except OSError:
        return None


def pause(instance: str, uuid: str) -> None:
    directory = state_dir()
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    tmp = directory / f".{instance}.tmp"
    tmp.write_text(uuid + "\n", encoding="utf-8")
    tmp.replace(flag(instance))


def resume(instance: str) -> bool:
    """Remove the flag; False when the move was not paused."""
    try:
        flag(instance).unlink()
    except FileNotFoundError:
        return False
    return True


def clear_stale(instance: str, uuid: str | None) -> None:
    """A flag left for an earlier move of the same name (aborted, finished by hand): not this move's."""
    held = paused_uuid(instance)
    if held is not None and held != uuid:
        with contextlib.suppress(OSError):
            flag(instance).unlink()
