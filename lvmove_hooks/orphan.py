"""Orphan pvmoveN LVs: what a crash between LVM's two finish commits leaves behind, and their repair.

LVM's finish first commits the moved LVs back onto their new PVs with pvmoveN turned into an `error` LV,
then removes pvmoveN in a second commit. A crash between the two leaves that LV for good: hidden and with
no device on 2.03.16, visible and autoactivated (a device that returns I/O errors) from 2.03.31 on. Nothing
in LVM ever removes it. It is removed here, through LVM (`lvremove`), only when that is unambiguous:
- its name is pvmoveN, it carries no PVMOVE flag and every segment is `error`;
- no LV's segments map onto it;
- no LVM command that could be finishing a move in its VG is running (that would be LVM's finish in
  progress between its commits, not an orphan);
- LVM itself refuses to remove an LV that is open (`lvremove` without --force).
Otherwise it is reported with the command that removes it.

An --atomic move's finish interrupted there on LVM 2.03.39 also leaves the mirror's images,
`pvmoveN_mimage_K`, as visible, active `error` LVs (seen in a guest; 2.03.31 leaves none). They belong to
the orphan and go with it under the same rules; images whose pvmoveN is already gone (a removal cut short)
are an orphan of their own, named by that pvmoveN.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass

from lvmove_hooks import lvm, procscan, runner
from lvmove_hooks.lvm import LVM
from lvmove_hooks.model import LogicalVolume
from lvmove_hooks.names import LvRef

log = logging.getLogger("lvmove.orphan")

_FINISHERS = ("pvmove", "lvpoll")
SETTLE_WAIT = 120.0  # seconds to let running LVM work end before an error pvmoveN counts as an orphan
# Seconds to retry an lvremove that LVM refuses because the device is open (LVMOVE_ORPHAN_REMOVE_WAIT: tests).
REMOVE_WAIT = float(os.environ.get("LVMOVE_ORPHAN_REMOVE_WAIT", "30"))


@dataclass(frozen=True)
class Orphan:
    ref: LvRef  # vg/pvmoveN
    uuid: str  # pvmoveN's; of its first image when only images are left
    problem: str  # "" when it may be removed; else why not
    images: tuple[LvRef, ...] = ()  # its leftover pvmoveN_mimage_K error LVs
    whole: bool = True  # False: pvmoveN itself is gone, only its images are left

    @property
    def refs(self) -> tuple[LvRef, ...]:
        """What to remove, pvmoveN first."""
        return ((self.ref,) if self.whole else ()) + self.images

    @property
    def fix(self) -> str:
        return "lvremove " + " ".join(str(r) for r in self.refs)

    def listing(self) -> str:
        """`vg/pvmove0`, `vg/pvmove0 and its images pvmove0_mimage_0, ...`, or `images ... of vg/pvmove0`."""
        images = ", ".join(r.lv for r in self.images)
        if not self.whole:
            return f"images {images} of {self.ref}"
        return f"{self.ref}" + (f" and its images {images}" if images else "")

    def describe(self) -> str:
        """`the orphan error LV (uuid U)`, with its images when it has any."""
        what = f"the orphan error LV (uuid {self.uuid})" if self.whole else "the orphan error LVs"
        return what + (f" with its image LVs {', '.join(r.lv for r in self.images)}" if self.images else "")


def find(volumes: list[LogicalVolume], name: str | None = None) -> list[Orphan]:
    """Orphan error LVs in a report (only pvmoveN `name` when given), each with what stands against removing
    it."""
    images: dict[str, list[LogicalVolume]] = {}
    for lv in volumes:
        parent = lv.orphan_image_of
        if parent is not None:
            images.setdefault(parent, []).append(lv)
    for own in images.values():
        own.sort(key=lambda i: i.name)
    names = {lv.name for lv in volumes}
    found = []
    for lv in volumes:
        if lv.is_error_orphan:
            found.append(_orphan(volumes, lv.ref, lv.uuid, images.get(lv.name, []), whole=True))
    for parent, own in sorted(images.items()):
        if parent not in names:  # pvmoveN went before its images (or a move of that name is back: kept)
            found.append(_orphan(volumes, LvRef(own[0].vg, parent), own[0].uuid, own, whole=False))
    return [o for o in found if name is None or o.ref.lv == name]


def _orphan(volumes: list[LogicalVolume], ref: LvRef, uuid: str, images: list[LogicalVolume], *,
            whole: bool) -> Orphan:
    parts = ([ref.lv] if whole else []) + [i.name for i in images]
    users = sorted(str(other.ref) for other in volumes
                   if other.name not in parts and any(other.maps_to(part) for part in parts))
    problem = f"still referenced by {', '.join(users)}" if users else ""
    return Orphan(ref, uuid, problem, tuple(i.ref for i in images), whole)


def lvm_busy(vg: str) -> list[str]:
    """LVM commands that may be finishing a move in `vg` right now (any pvmove/lvpoll, or an activation of
    the VG that hands it to a poller): while one runs, an error pvmoveN may be LVM's finish in progress."""
    busy = [p.describe() for p in procscan.processes() if p.lvm_command in _FINISHERS]
    return busy + [p.describe() for p in procscan.activators(vg, set())]


def remove(ref: LvRef) -> runner.Result:
    """`lvremove` one of it by name, after the caller re-checked it by UUID; never forced (an open LV stays)."""
    return runner.run([LVM, "lvremove", "--yes", str(ref)], mutating=True, check=False)


def settle(found: Orphan, wait: float = SETTLE_WAIT) -> tuple[Orphan | None, list[str]]:
    """Wait until no LVM command is at work on the VG (it may be LVM's finish between its two commits), then
    re-read it by UUID: (the orphan as it is now, or None when LVM removed it; what LVM still runs)."""
    deadline = time.monotonic() + wait
    said = False
    while (busy := lvm_busy(found.ref.vg)) and time.monotonic() < deadline:
        if not said:
            log.warning("%s: an error LV while LVM is at work (%s): waiting for that to end", found.ref,
                        "; ".join(busy))
            said = True
        time.sleep(1.0)
    if busy:
        return found, busy
    again = [o for o in find(lvm.report([found.ref.vg]), found.ref.lv) if o.uuid == found.uuid]
    return (again[0] if again else None), []


_IN_USE = re.compile(r"\bin use\b|\bis open\b|\bopen count\b|Device or resource busy", re.IGNORECASE)


def _in_use(problem: str) -> bool:
    """LVM refused because the device is held open ("Logical volume vg/pvmove0 in use", "... is open",
    EBUSY): worth another try. Not any message that merely contains "open" ("Failed to open ...")."""
    return _IN_USE.search(problem) is not None


def try_remove(found: Orphan, wait: float = REMOVE_WAIT) -> str:
    """Remove it (pvmoveN, then its images); "" on success, else LVM's reason. An open device (a scan, a
    reader that lets go) is tried again for `wait` seconds; LVM itself refuses to remove an open LV."""
    deadline = time.monotonic() + wait
    for ref in found.refs:
        while True:
            result = remove(ref)
            if result.ok:
                break
            problem = lvm.summary(result)
            if not _in_use(problem) or time.monotonic() > deadline:
                return f"lvremove {ref} refused: {problem}"
            time.sleep(2.0)
    return ""
