"""How a move that is gone ended, and what stayed where (pure).

One answer for every place that reports the end of a move: the unit's completion entry, `lvmove watch`,
`lvmove abort` and `lvmove move --wait`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lvmove_hooks.model import LogicalVolume, Move
from lvmove_hooks.progress import human_bytes


@dataclass(frozen=True)
class Ending:
    aborted: bool
    summary: str  # one line: "completed: ..." or "aborted: ..."
    placement: tuple[str, ...]  # one line per moved LV: how much is on the source, how much elsewhere

    @property
    def kind(self) -> str:
        return "aborted" if self.aborted else "completed"


def placement(move: Move, volumes: list[LogicalVolume]) -> tuple[str, ...]:
    """Where each moved LV's extents are now that the move is gone."""
    by_uuid = {lv.uuid: lv for lv in volumes}
    lines = []
    for old in move.moved:
        now = by_uuid.get(old.uuid)
        if now is None:
            continue
        extent = now.extent_size or move.pvmove.extent_size
        on_source = now.extents_on(move.source) * extent
        lines.append(f"{now.ref}: {human_bytes(on_source)} on {move.source}, "
                     f"{human_bytes(now.size - on_source)} elsewhere")
    return tuple(lines)


def ending(move: Move, volumes: list[LogicalVolume]) -> Ending:
    """`volumes`: a report read after the move (by its UUID) was found gone."""
    back = move.returned_to_source(volumes)
    where = placement(move, volumes)
    if back:
        amount = human_bytes(back * move.pvmove.extent_size) if move.pvmove.extent_size else f"{back} extents"
        return Ending(True, f"aborted: {amount} went back to {move.source}", where)
    dests = ", ".join(move.destinations) or "?"
    return Ending(False, f"completed: {human_bytes(move.size)} moved from {move.source} to {dests}", where)
