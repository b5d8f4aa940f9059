"""`lvmove status -o FIELD,...`: lvs-like field names over the rows of `status.collect()`, with lvs's
`--units`, `--nosuffix`, `--separator` and `--noheadings` (pure).

Every cell is one word in the aligned table (no spaces: `awk '{print $2}'` works) except the free-text fields
`unit_status`, `attention` and `fix`; with `--separator` cells are joined as they are and an unknown value is
empty, as lvs prints it; aligned, it is `-`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lvmove_hooks.errors import BadInput
from lvmove_hooks.progress import human_duration

Row = dict[str, Any]
UNITS = ("b", "k", "m", "g", "t", "h")  # lvs's lowercase units: powers of 1024; h picks one per value
_SUFFIX = {"b": "B", "k": "k", "m": "m", "g": "g", "t": "t"}


@dataclass(frozen=True)
class Field:
    name: str
    header: str
    kind: str  # size, rate, percent, duration, seconds, bool, list, text
    get: Callable[[Row], Any]
    help: str


def _key(key: str) -> Callable[[Row], Any]:
    return lambda r: r.get(key)


def _move_state(r: Row) -> str:
    return "paused" if r.get("paused") else (r.get("unit_state") or "unknown")


def _attention(part: str) -> Callable[[Row], Any]:
    return lambda r: (r.get("attention") or {}).get(part)


FIELDS: tuple[Field, ...] = (
    Field("lv_full_name", "MOVE", "text", lambda r: f"{r['vg']}/{r['lv']}", "the pvmove LV as VG/LV"),
    Field("vg_name", "VG", "text", _key("vg"), "volume group"),
    Field("lv_name", "LV", "text", _key("lv"), "the pvmove LV (pvmoveN)"),
    Field("lv_uuid", "UUID", "text", _key("uuid"), "the pvmove LV's UUID"),
    Field("copy_percent", "DONE", "percent", _key("percent"), "percent copied (kernel, else unit, else LVM)"),
    Field("lv_size", "SIZE", "size", _key("size_bytes"), "bytes to move (the pvmove LV's size)"),
    Field("rate", "RATE", "rate", _key("rate_bytes_per_s"), "copy rate per second (from the running unit)"),
    Field("eta", "ETA", "duration", _key("eta_seconds"), "time left, e.g. 4m05s (from the running unit)"),
    Field("eta_seconds", "ETASEC", "seconds", _key("eta_seconds"), "time left in seconds"),
    Field("move_mode", "MODE", "text", _key("mode"), "by-segment or atomic"),
    Field("move_pv", "FROM", "text", _key("source"), "source PV"),
    Field("dest_pvs", "TO", "list", _key("destinations"), "destination PVs, comma-separated"),
    Field("moved_lvs", "LVS", "list", _key("moved_lvs"), "LVs being moved, comma-separated"),
    Field("lv_active", "ACTIVE", "bool", _key("active"), "the pvmove LV is active (yes/no)"),
    Field("unit", "UNIT", "text", _key("unit"), "the lvmove@ unit that carries the move"),
    Field("move_state", "STATE", "text", _move_state, "paused, else the unit's ActiveState"),
    Field("unit_state", "UNITSTATE", "text", _key("unit_state"), "the unit's ActiveState (unknown: not asked)"),
    Field("unit_status", "UNITSTATUS", "text", _key("unit_status"), "the unit's status line (free text)"),
    Field("poller", "POLLER", "text", _key("poller"), "who polls the move, as the unit saw it"),
    Field("paused", "PAUSED", "bool", _key("paused"), "paused by 'lvmove pause' (yes/no)"),
    Field("attention", "ATTENTION", "text", _attention("reason"), "why the move needs the admin (free text)"),
    Field("fix", "FIX", "text", _attention("fix"), "the command that helps (free text)"),
)
BY_NAME = {f.name: f for f in FIELDS}
DEFAULT = ("lv_full_name", "copy_percent", "lv_size", "rate", "eta", "move_mode", "move_pv", "dest_pvs", "unit",
           "move_state")


def help_text() -> list[str]:
    width = max(len(f.name) for f in FIELDS)
    lines = ["lvmove status fields (-o FIELD,...; -o +FIELD adds to, -o -FIELD removes from the default):"]
    lines += [f"  {f.name.ljust(width)}  {f.header.ljust(10)}  {f.help}" for f in FIELDS]
    lines.append(f"default: {','.join(DEFAULT)}")
    lines.append("sizes: --units b|k|m|g|t (powers of 1024) or h (human, the default), --nosuffix drops the unit")
    return lines


def _lookup(name: str) -> str:
    name = name.strip()
    for candidate in (name, f"lv_{name}"):
        if candidate in BY_NAME:
            return candidate
    raise BadInput(f"unknown field {name!r}", hint="'lvmove status -o help' lists them")


def select(options: Sequence[str]) -> list[Field]:
    """The columns that the -o options give, as lvs reads them: a list replaces, `+LIST` adds, `-LIST`
    removes; several -o options apply in order."""
    names = list(DEFAULT)
    for option in options:
        sign = option[:1] if option[:1] in "+-" else ""
        wanted = [_lookup(n) for n in option[len(sign):].split(",") if n.strip()]
        if sign == "+":
            names += wanted
        elif sign == "-":
            names = [n for n in names if n not in wanted]
        else:
            names = wanted
    if not names:
        raise BadInput("no fields to show", hint="name some with -o, see 'lvmove status -o help'")
    return [BY_NAME[n] for n in names]


def size_text(n: float, units: str = "h", suffix: bool = True) -> str:
    """A byte count as lvs prints it: `48.00m` (--units m or h), `50331648B` (--units b), no unit letter with
    --nosuffix."""
    unit = units
    if unit == "h":
        unit = next((u for u in ("t", "g", "m", "k") if abs(n) >= 1024 ** "bkmgt".index(u)), "b")
    text = str(round(n)) if unit == "b" else f"{n / 1024 ** 'bkmgt'.index(unit):.2f}"
    return text + (_SUFFIX[unit] if suffix else "")


@dataclass(frozen=True)
class Style:
    units: str = "h"
    suffix: bool = True
    separator: str | None = None  # None: aligned columns
    headings: bool = True


def cell(field: Field, row: Row, style: Style) -> str:
    value = field.get(row)
    if value is None or value == [] or (field.kind == "rate" and not value):
        return "" if style.separator is not None else "-"
    if field.kind == "size":
        return size_text(value, style.units, style.suffix)
    if field.kind == "rate":
        return size_text(value, style.units, style.suffix) + ("/s" if style.suffix else "")
    if field.kind == "percent":
        return f"{value:.2f}"
    if field.kind == "duration":
        return human_duration(value)
    if field.kind == "seconds":
        return str(round(value))
    if field.kind == "bool":
        return "yes" if value else "no"
    if field.kind == "list":
        return ",".join(str(v) for v in value)
    return str(value)


def render(rows: Sequence[Row], columns: Sequence[Field], style: Style) -> list[str]:
    """The table: a header line (unless --noheadings) and one line per row."""
    cells = [[cell(f, r, style) for f in columns] for r in rows]
    if style.headings:
        cells.insert(0, [f.header for f in columns])
    if style.separator is not None:
        return [style.separator.join(line) for line in cells]
    if not cells:
        return []
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return ["  ".join(c.ljust(widths[i]) for i, c in enumerate(line)).rstrip() for line in cells]
