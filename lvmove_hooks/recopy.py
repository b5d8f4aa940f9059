"""Bounded re-copy after a crash: how much of a new move LVM mirrors at once.

pvmove mirrors through a core (in-memory) log: after a crash the piece in flight is copied again from its
start, and a by-segment move's piece is a whole LV segment. From LVM 2.03.36 on, `lvm.conf`'s
`allocation/pvmove_max_segment_size_mb` makes pvmove split larger segments into pieces of at most that size,
each checkpointed on its own; `lvmove move` sets it (on pvmove's command line) to `max_recopy` of
lvmove.yaml. Older LVM has no such setting: when a segment is larger, `lvmove move` moves the source in
extent ranges instead (rangejob.py). An --atomic move is one mirror over everything whatever the setting: it
always starts again from 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lvmove_hooks.model import LogicalVolume, segments_on
from lvmove_hooks.progress import human_bytes

SETTING = "allocation/pvmove_max_segment_size_mb"
SINCE = "2.03.36"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Bound:
    setting: str = ""  # for pvmove's --config ("" = leave LVM's own)
    note: str = ""  # for the user: why a crash may make this move copy more than max_recopy again
    ranges: bool = False  # this LVM cannot split segments: move the source in extent ranges (rangejob.py)


def decide(*, max_recopy_mib: int, pieces: list[int], atomic: bool, lvm_value: int | None) -> Bound:
    """The bound for a new move of LV segments of `pieces` bytes off the source. `lvm_value`: LVM's own
    setting (0 = no limit), None where this LVM has no such setting (before 2.03.36)."""
    limit = max_recopy_mib * MIB
    largest = max(pieces, default=0)
    if not max_recopy_mib:
        return Bound()
    if atomic:
        total = sum(pieces)
        note = (f"an --atomic move is one mirror: a crash makes it copy all {human_bytes(total)} again, whatever "
                "max_recopy says" if total > limit else "")
        return Bound(note=note)
    if lvm_value is None:
        if largest <= limit:
            return Bound()
        return Bound(note=f"this LVM has no {SETTING} (LVM {SINCE} and later): a crash copies the segment in "
                     f"flight again in full, up to {human_bytes(largest)} (max_recopy is {human_bytes(limit)})",
                     ranges=True)
    if lvm_value and lvm_value <= max_recopy_mib:
        return Bound()  # lvm.conf already bounds it at least as tightly
    return Bound(setting=f"{SETTING}={max_recopy_mib}")


def pieces_on(volumes: Iterable[LogicalVolume], source: str, lv: str | None = None) -> list[int]:
    """Bytes of each LV segment on the source PV, of LV `lv` only when given: what a by-segment move mirrors
    at once without a bound."""
    return [seg.size_pe * volume.extent_size for volume, seg in segments_on(volumes, source, lv)]
