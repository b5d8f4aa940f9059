"""Turn what a user typed (VG/LV, unit instance, dm name, source PV) into a validated pvmove LV."""

from __future__ import annotations

import os

from lvmove_hooks.errors import BadInput, NoSuchMove
from lvmove_hooks.model import Move
from lvmove_hooks.names import (
    LvRef,
    dm_split,
    instance_from_unit,
    is_pvmove_lv,
    parse_lvref,
    unescape_instance,
)

FORMS = "VG/LV (vg0/pvmove0), a unit (lvmove@vg0-pvmove0.service), a dm name (vg0-pvmove0) or a source PV (/dev/sdb)"


def is_pv_name(text: str) -> bool:
    """A device path as LVM takes a PV name: anything under /dev (/dev/sdb, /dev/mapper/luks-..., multipath
    /dev/mapper/mpatha, /dev/disk/by-id/..., /dev/md/...); LVM itself resolves and checks it."""
    parts = text.split("/")
    return (text.startswith("/dev/") and len(text) > 5 and "\0" not in text and "\n" not in text
            and ".." not in parts and "" not in parts[2:])


def is_pv_path(text: str) -> bool:
    """A target that names a source PV rather than a pvmove LV's dm device."""
    if not is_pv_name(text):
        return False
    if text.startswith("/dev/mapper/"):
        try:
            _vg, lv, _layer = dm_split(text.removeprefix("/dev/mapper/"))
        except BadInput:
            return True
        # A LUKS, multipath or LV-backed PV; vg-pvmoveN and its sub-LVs and layers are the move's own devices.
        return not lv.startswith("pvmove")
    return True


def parse_target(text: str) -> LvRef | str:
    """An LvRef, or the PV path itself when the target names a source PV (resolved with a report)."""
    if not text or "\0" in text or "\n" in text:
        raise BadInput(f"empty or malformed target {text!r}", hint=f"use {FORMS}")
    if is_pv_path(text):
        return text
    if text.startswith("/dev/mapper/"):
        return _from_dm(text.removeprefix("/dev/mapper/"), text)  # vg-pvmoveN (other names are PVs, above)
    if "/" in text:
        return parse_lvref(text)
    instance = instance_from_unit(text)
    if "\\x" in instance or instance.count("-") == 1:
        try:
            return parse_lvref(unescape_instance(instance))
        except BadInput:
            pass
    return _from_dm(instance, text)


def _from_dm(name: str, text: str) -> LvRef:
    try:
        vg, lv, layer = dm_split(name)
    except BadInput:
        raise BadInput(f"cannot understand target {text!r}", hint=f"use {FORMS}") from None
    if layer or not is_pvmove_lv(lv):
        raise BadInput(f"{text!r} does not name a pvmove LV", hint=f"use {FORMS}")
    return parse_lvref(f"{vg}/{lv}")


def match(target: LvRef | str, moves: list[Move]) -> Move:
    """The in-flight move a parsed target names."""
    if isinstance(target, LvRef):
        for move in moves:
            if move.ref == target:
                return move
        raise NoSuchMove(f"{target} is not moving (no such pvmove LV)", hint="see 'lvmove status'")
    real = os.path.realpath(target)
    for move in moves:
        if move.source == target or os.path.realpath(move.source) == real:
            return move
    raise NoSuchMove(f"no move from {target} is in flight", hint="see 'lvmove status'")
