"""`lvmove status`: every move in flight, and what needs the admin (stalled moves, orphans), from one report.

A move needs the admin when nothing carries it and it will not go on by itself: inactive (its LVs were kept
out of activation) with no unit running, or fully copied with no unit and no LVM poller. A paused move
(`lvmove pause`) is deliberate and does not. Orphan error `pvmoveN` LVs (see orphan.py) always do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lvmove_hooks import dm, orphan, pause, procscan, rangemove, statefile
from lvmove_hooks.model import LogicalVolume, MissingPv, Move, find_moves

if TYPE_CHECKING:
    from lvmove_hooks.fields import Field, Style

SCHEMA = 2  # the version of `lvmove status --json`; bumped when a key changes meaning or goes
RUNNING = ("activating", "active", "deactivating", "reloading")


def current_percent(move: Move, kernel: dm.Kernel, got: dm.KernelState | None = None) -> float | None:
    """The kernel's reading now, else the unit's last one, else what lvs said."""
    prog = dm.move_progress(move, kernel, got)
    if prog is not None:
        return round(prog.percent, 2)
    shared = statefile.read(move.ref.instance) or {}
    if isinstance(shared.get("percent"), int | float):
        return float(shared["percent"])
    return move.pvmove.copy_percent


def attention(move: Move, percent: float | None, unit_state: str, paused: bool,
              missing: Sequence[MissingPv] = ()) -> dict[str, str] | None:
    """Why this move needs the admin, and the command that helps; None when it goes on (or is paused)."""
    waiting = move.waits_for(missing)
    if waiting:
        return {"reason": "waiting for " + ", ".join(pv.describe() for pv in waiting)
                          + ": missing, nothing copies (lvmove changed nothing)",
                "fix": "connect the disk again; the move resumes when LVM activates the VG"
                       + (f" (it was activated partially: lvchange --refresh the moved LVs, then lvmove start "
                          f"{move.ref})" if move.active else "")}
    if paused or unit_state in RUNNING:
        return None
    if not move.active:
        incomplete = [pv for pv in missing if pv.vg == move.ref.vg]
        if incomplete:  # LVM does not autoactivate a VG with a PV missing, though the move's own PVs are there
            return {"reason": f"inactive: volume group {move.ref.vg} is incomplete ("
                              + ", ".join(pv.describe() for pv in incomplete)
                              + " missing, not one of the move's), so LVM did not activate it",
                    "fix": f"connect the disk again; or, to finish the move without it: vgchange -ay "
                           f"--activationmode partial {move.ref.vg}, then lvmove start {move.ref}"}
        return {"reason": "inactive: its LVs were not activated (autoactivation off?) and no unit carries it",
                "fix": f"lvmove start {move.ref}"}
    if percent is not None and percent >= 100.0 and not procscan.other_pollers(move.ref, move.source, set()):
        return {"reason": "stalled: fully copied, but no unit and no LVM poller finishes it",
                "fix": f"lvmove start {move.ref}"}
    return None


def describe(move: Move, unit_states: dict[str, dict[str, str]] | None, kernel: dm.Kernel,
             missing: Sequence[MissingPv] = ()) -> dict[str, Any]:
    shared = statefile.read(move.ref.instance) or {}
    percent = current_percent(move, kernel)
    unit = (unit_states or {}).get(move.ref.unit, {})
    unit_state = unit.get("ActiveState", "inactive") if unit_states is not None else None
    paused = pause.paused_uuid(move.ref.instance) == move.uuid
    return {
        "vg": move.ref.vg,
        "lv": move.ref.lv,
        "uuid": move.uuid,
        "percent": percent,
        "size_bytes": move.size,
        "rate_bytes_per_s": shared.get("rate_bytes_per_s"),
        "eta_seconds": shared.get("eta_seconds"),
        "mode": move.mode,
        "active": move.active,
        "source": move.source,
        "destinations": list(move.destinations),
        "moved_lvs": [lv.name for lv in move.moved],
        "unit": move.ref.unit,
        "unit_state": unit_state,
        "unit_status": unit.get("StatusText") or None,
        "poller": shared.get("poller") or None,
        "paused": paused,
        "attention": attention(move, percent, unit_state or "unknown", paused, missing),
    }


def orphan_rows(volumes: list[LogicalVolume]) -> list[dict[str, Any]]:
    return [{"vg": o.ref.vg, "lv": o.ref.lv, "uuid": o.uuid,
             "reason": "orphan error LV left by a crash inside LVM's finish"
                       + (f" ({o.problem})" if o.problem else ""),
             "fix": o.fix if o.problem else f"lvmove start {o.ref}   (or: {o.fix})"}
            for o in orphan.find(volumes)]


def collect(volumes: list[LogicalVolume], unit_states: dict[str, dict[str, str]] | None,
            only: list[Move] | None = None, missing: Sequence[MissingPv] = ()) -> dict[str, Any]:
    moves = find_moves(volumes) if only is None else only
    kernel = dm.Kernel()
    try:
        rows = [describe(m, unit_states, kernel, missing) for m in moves]
    finally:
        kernel.close()
    orphans = orphan_rows(volumes) if only is None else []
    jobs = rangemove.rows(volumes) if only is None else []
    return {"schema": SCHEMA, "moves": rows, "orphans": orphans, "jobs": jobs,
            "attention": bool(orphans) or any(r["attention"] for r in rows)}


def table(view: dict[str, Any], columns: Sequence[Field] | None = None, style: Style | None = None) -> list[str]:
    """The human view: one line per move (lvs-like columns, see fields.py), then what needs the admin."""
    from lvmove_hooks import fields

    rows = view["moves"]
    lines = ["no pvmove in flight"] if not rows else fields.render(rows, columns or fields.select(()),
                                                                   style or fields.Style())
    return lines + [f"job: {rangemove.describe(job)}" for job in view.get("jobs", ())] + notes(view)


def notes(view: dict[str, Any]) -> list[str]:
    """One line per move or orphan that needs the admin: why, and the command that helps."""
    lines = [f"{r['vg']}/{r['lv']}: {r['attention']['reason']}; fix: {r['attention']['fix']}"
             for r in view["moves"] if r["attention"]]
    return lines + [f"{o['vg']}/{o['lv']}: {o['reason']}; fix: {o['fix']}" for o in view["orphans"]]
