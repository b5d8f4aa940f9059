"""Who carries a move: lvmove's unit when it will really run, else LVM's own poller. Never neither.

`lvmove move` interrupts pvmove's own polling to hand the move to the unit, and `lvmove start` only asks
systemd to start the unit; either would leave a move that nothing polls if the unit then does not run. So
every reason the unit would not run is checked first, and after the start that it runs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from lvmove_hooks import lvm, units
from lvmove_hooks.config import Config
from lvmove_hooks.errors import CommandFailed
from lvmove_hooks.model import Move
from lvmove_hooks.names import LvRef

log = logging.getLogger("lvmove.carry")

CONFIRM_TIMEOUT = 15.0  # seconds for systemd to run a start job (a busy boot may queue it)
FALLBACK_INTERVAL = 15  # LVM's own default interval, for the poller that carries a move lvmove cannot


def blockers(vg: str | None, cfg: Config, ref: LvRef | None = None) -> list[str]:
    """Why lvmove's unit would not carry a move in `vg` (empty: it would)."""
    found = []
    if vg is not None and not cfg.wants_vg(vg):
        found.append(f"volume group {vg} is excluded by {cfg.path}")
    cmdline = Path(os.environ.get("LVMOVE_PROC", "/proc")) / "cmdline"
    try:
        if "lvmove.auto=0" in cmdline.read_text().split():
            found.append("lvmove.auto=0 is on the kernel command line (the unit's condition skips it)")
    except OSError:
        pass
    if ref is None and vg is not None:
        ref = LvRef(vg, "pvmove0")  # a masked template masks every instance
    if ref is not None:
        unit = ref.unit
        load = units.show(unit, ("LoadState",)).get("LoadState", "")
        if load == "masked":
            found.append(f"{unit} is masked")
    return found


def confirm_running(unit: str, gone: Callable[[], bool], timeout: float = CONFIRM_TIMEOUT) -> str | None:
    """None once the unit runs (or the move has ended); otherwise why the unit is not carrying it."""
    deadline = time.monotonic() + timeout
    while True:
        props = units.show(unit, ("ActiveState", "Result", "ConditionResult", "Job"))
        state = props.get("ActiveState", "")
        if state in ("activating", "active", "reloading"):
            return None
        if state == "failed":
            return f"{unit} failed ({props.get('Result') or 'see journalctl -u ' + unit})"
        if props.get("ConditionResult") == "no" and not props.get("Job"):
            return f"{unit} was skipped: a start condition of the unit is not met (see systemctl status {unit})"
        if gone():
            return None
        if time.monotonic() > deadline:
            return f"{unit} is still {state or 'unknown'} {timeout:.0f}s after its start"
        time.sleep(0.2)


def hand_over(move: Move) -> str:
    """Start the unit for `move` and make sure something carries it. Returns who does, in words."""
    unit = move.ref.unit
    try:
        units.start(unit)
        why = confirm_running(unit, lambda: lvm.find_by_uuid(move.ref.vg, move.uuid)[0] is None)
    except CommandFailed as exc:
        why = str(exc)
    if why is None:
        return f"carried by {unit}"
    return lvm_carries(move.source, why)


def lvm_carries(source: str, why: str) -> str:
    """lvmove's unit will not run: let LVM's own background poller carry the move off `source`."""
    log.warning("%s: LVM's own poller carries the move instead", why)
    result = lvm.start_background_poller(source, FALLBACK_INTERVAL)
    if not result.ok:
        raise CommandFailed(
            f"nothing carries the move off {source}: {why}, and LVM's own poller did not start "
            f"({result.summary()})",
            hint=f"continue it with 'pvmove {source}' or 'lvmove run VG/pvmoveN'",
        )
    return f"carried by LVM's own background poller (lvmove's unit does not run: {why})"

