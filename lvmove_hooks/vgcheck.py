"""The per-VG check (`lvmove check-vg VG`, lvmove-vg@<VG>.service): once per VG per boot, when any LV of the
VG comes up, find what no device of its own announces and no other trigger sees:

- a move whose pvmove LV stayed inactive (its LVs kept out of autoactivation, `--setautoactivation n`,
  `auto_activation_volume_list`): resumed by starting its lvmove@ unit when `auto_resume` and
  `activate_inactive` allow it, else reported as stalled with the command that resumes it; a paused one
  (`lvmove pause`) is only reported;
- an orphan error `pvmoveN` (hidden and without a device on 2.03.16): handed to its lvmove@ unit, which
  removes it through LVM when that is unambiguous (orphan.py).

One `lvs` report per VG, read without waiting for the VG lock, after LVM's own activation of the VG has
ended (so a move LVM is about to activate is not taken for an inactive one).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from lvmove_hooks import journal, lvm, orphan, pause, procscan, rangejob, rangemove, units
from lvmove_hooks.config import Config
from lvmove_hooks.model import LogicalVolume, find_moves
from lvmove_hooks.names import LvRef

log = logging.getLogger("lvmove.vgcheck")

ACTIVATION_WAIT = 120.0  # seconds to let LVM's activation of the VG end before reading it


@dataclass(frozen=True)
class Finding:
    ref: LvRef
    uuid: str
    what: str  # "inactive", "paused", "orphan", "waiting-for-pv" or "job"
    action: str  # what was done, or what the admin should run


def _wait_for_activation(vg: str, wait: float = ACTIVATION_WAIT) -> None:
    deadline = time.monotonic() + wait
    while procscan.activators(vg, set()) and time.monotonic() < deadline:
        time.sleep(1.0)


def check(vg: str, config: Config) -> list[Finding]:
    """Look at VG once and start or report what needs doing."""
    if not config.wants_vg(vg):
        return []
    _wait_for_activation(vg)
    vg_report = lvm.read([vg])
    volumes = vg_report.volumes
    found: list[Finding] = []
    for move in find_moves(volumes):
        waiting = move.waits_for(vg_report.missing)
        if waiting:
            found.append(Finding(move.ref, move.uuid, "waiting-for-pv", "waiting for " + ", ".join(
                pv.describe() for pv in waiting) + ": nothing changed; it resumes when the disk is back"))
            continue
        if move.active:
            continue  # its device is there: the udev rule or the generator started its unit
        if pause.paused_uuid(move.ref.instance) == move.uuid:
            found.append(Finding(move.ref, move.uuid, "paused", f"left until lvmove resume {move.ref}"))
            continue
        if config.auto_resume and config.activate_inactive:
            units.start(move.ref.unit)
            found.append(Finding(move.ref, move.uuid, "inactive", f"started {move.ref.unit}"))
        else:
            setting = "auto_resume" if not config.auto_resume else "activate_inactive"
            found.append(Finding(move.ref, move.uuid, "inactive",
                                 f"not resumed ({setting} is false in {config.path}): lvmove start {move.ref}"))
    for left in orphan.find(volumes):
        if config.remove_orphans and not left.problem:
            units.start(left.ref.unit)  # the unit re-checks and removes it (one path for every trigger)
            found.append(Finding(left.ref, left.uuid, "orphan", f"started {left.ref.unit} to remove it"))
        else:
            why = left.problem or f"remove_orphans is false in {config.path}"
            found.append(Finding(left.ref, left.uuid, "orphan", f"not removed ({why}): {left.fix}"))
    found += _jobs(vg, volumes, config)
    for item in found:
        fields = journal.MoveFields(item.ref.vg, item.ref.lv, item.uuid)
        kind = ("waiting-for-pv" if item.what == "waiting-for-pv"
                else "stalled" if item.what == "inactive" and item.action.startswith("not")
                else "orphan-found" if item.what == "orphan" and item.action.startswith("not") else "vg-check")
        what = {"inactive": "inactive move", "paused": "paused inactive move", "orphan": "orphan error LV",
                "job": "move in ranges with no range in flight"}.get(item.what, "move")
        journal.event(kind, f"{item.ref}: {what} found when {vg} came up; {item.action}", fields)
    return found


def _jobs(vg: str, volumes: list[LogicalVolume], config: Config) -> list[Finding]:
    """Range jobs between two ranges (a crash after one range ended, before the next began): the unit of the
    name LVM gives the next move carries the job on (service.py)."""
    if not rangejob.load(vg):
        return []  # no job: no LVM command
    found = []
    used = {lv.name for lv in volumes}
    ref = LvRef(vg, next(f"pvmove{n}" for n in range(len(used) + 1) if f"pvmove{n}" not in used))
    for job in rangemove.pending(vg):
        if config.auto_resume:
            units.start(ref.unit)
            found.append(Finding(ref, job.source_uuid, "job", f"started {ref.unit} for the next range"))
        else:
            found.append(Finding(ref, job.source_uuid, "job",
                                 f"not resumed (auto_resume is false in {config.path}): lvmove run {ref}"))
        break  # one unit carries every job of the VG in turn
    return found
