"""The picture of a move (`lvmove status VG/pvmoveN --map`, `lvmove abort`): each moved LV segment over the
pvmove LV's extents, and where its extents are now (pure, but for read_kernel()).

Built from the same report as `lvmove status` and the kernel's view of the pvmove device:
- by-segment: every pvmove LV segment is `mirror SRC DST` in the metadata; the kernel maps a checkpointed one
  linear to the destination (done), the one being copied as a `mirror` (its in-sync regions), the others
  linear to the source (pending). Without a kernel view the copy percent orders them (LVM copies in order).
- atomic: one mirror over the whole pvmove LV between its two images, `pvmoveN_mimage_0` (source) and
  `pvmoveN_mimage_1` (destination); nothing is final before the finish.
Where each moved LV segment sits on pvmoveN: LVM 2.03.16 reports every LV segment on pvmoveN as `pvmoveN(0)`
(tests/fixtures/captured/bookworm), so the report's starts are used only when they tile pvmoveN; else the
moved LVs' own dm tables say it (`linear <pvmoveN> <offset>`); else the order, as LVM lays pvmoveN out LV by LV,
segment by segment (the report sorts LVs by name, so that order is marked as inferred).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lvmove_hooks import dmstatus
from lvmove_hooks.model import LogicalVolume, Move
from lvmove_hooks.names import dm_join
from lvmove_hooks.progress import human_bytes

if TYPE_CHECKING:
    from lvmove_hooks.dm import Kernel, KernelState

SECTOR = 512
FILL = {"done": "#", "pending": ".", "unknown": "?"}
LEGEND = "  # done: on the destination   = copied, not final yet   . still on the source only"
ATOMIC_LEGEND = ("  = in sync on both images   . not copied yet; one mirror over all of {lv}: nothing is final "
                 "before the finish")


@dataclass(frozen=True)
class KernelSeen:
    """What the kernel showed: the pvmove device's table and status ("" when not read), the moved LVs'
    tables, the source PV's maj:min."""

    table: str = ""
    status: str = ""
    lv_tables: Mapping[str, str] = field(default_factory=dict)
    source_devs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Piece:
    """A moved LV segment (or the part of it in one pvmove LV segment)."""

    lv: str
    lv_start: int  # first extent in the LV
    start: int  # first extent in pvmoveN
    size: int  # extents
    state: str  # done, mirroring, pending, unknown
    fraction: float | None  # mirroring: the copied share
    source: tuple[str, ...]  # PV:first-last ranges
    dest: tuple[str, ...]


@dataclass(frozen=True)
class MoveMap:
    move: Move
    pieces: tuple[Piece, ...]
    total: int  # extents of pvmoveN
    percent: float | None
    how: str  # where the states come from: kernel, percent or unknown
    inferred_order: bool


def read_kernel(move: Move, kernel: Kernel, got: KernelState | None = None) -> KernelSeen:
    """The pvmove device's table and status and the moved LVs' tables (nothing when it is not live). `got`: a
    reading of the pvmove device the caller already made."""
    from lvmove_hooks import dm

    if not move.active:
        return KernelSeen()
    got = dm.owned(move, got or kernel.read(move.dm_name))
    if got is None:
        return KernelSeen()
    tables = {}
    for lv in move.moved:
        seen = kernel.read(dm_join(lv.vg, lv.name))
        if seen is not None and seen.uuid.startswith(lv.dm_uuid):
            tables[lv.name] = seen.table
    src = dm.devnum(move.source)
    return KernelSeen(got.table, got.status, tables, frozenset({src} if src else ()))


def _words(table: str) -> list[list[str]]:
    out = []
    for raw in table.splitlines():
        words = raw.split()
        if words and words[0].endswith(":"):
            words = words[1:]
        if len(words) >= 3:
            out.append(words)
    return out


def _tiles(places: list[tuple[str, int, int, int]], total: int) -> bool:
    at = 0
    for _lv, _a, n, start in sorted(places, key=lambda p: p[3]):
        if start != at:
            return False
        at += n
    return at == total


def _kernel_start(table: str | None, lv_start: int, ext: int) -> int:
    for words in _words(table or ""):
        if words[2] == "linear" and len(words) >= 5 and int(words[0]) == lv_start * ext and ext:
            return int(words[4]) // ext
    return -1


def places(move: Move, seen: KernelSeen, total: int) -> tuple[list[tuple[str, int, int, int]], bool]:
    """(LV, first LV extent, extents, first pvmoveN extent) of every moved LV segment, and whether the
    pvmoveN starts were inferred from the order."""
    raw: list[tuple[str, int, int, int]] = []
    for lv in move.moved:
        at = 0
        for seg in lv.segments:
            if len(seg.devices) == 1 and seg.devices[0][0] == move.pvmove.name:
                raw.append((lv.name, at, seg.size_pe, seg.devices[0][1]))
            at += seg.size_pe
    if _tiles(raw, total):
        return raw, False
    ext = move.pvmove.extent_size // SECTOR
    kernel = [(name, a, n, _kernel_start(seen.lv_tables.get(name), a, ext)) for name, a, n, _ in raw]
    if _tiles(kernel, total):
        return kernel, False
    ordered, at = [], 0
    for name, a, n, _ in raw:
        ordered.append((name, a, n, at))
        at += n
    return ordered, True


def _ranges(dev: str, start: int, n: int, by_name: Mapping[str, LogicalVolume]) -> tuple[str, ...]:
    """Where extents start..start+n-1 of `dev` (a PV, or an image LV of pvmoveN) are, as PV:first-last."""
    image = by_name.get(dev)
    if image is None:
        return (f"{dev}:{start}-{start + n - 1}",)
    out: list[str] = []
    at = 0
    for seg in image.segments:
        lo, hi = max(start, at), min(start + n, at + seg.size_pe)
        if lo < hi and seg.devices:
            pv, pe = seg.devices[0]
            out.append(f"{pv}:{pe + lo - at}-{pe + hi - at - 1}")
        at += seg.size_pe
    return tuple(out)


def _segment_states(move: Move, segs: list[tuple[int, int]], seen: KernelSeen,
                    percent: float | None) -> tuple[list[tuple[str, float | None]], str]:
    """(state, copied share) of every pvmove LV segment, and where that comes from."""
    ext = move.pvmove.extent_size // SECTOR
    table = dmstatus.parse_table(seen.table) if seen.table.strip() else []
    mirrors = {s.start: s.mirror for s in dmstatus.parse_status(seen.status) if s.mirror is not None}
    if move.mode == "atomic" and mirrors:
        fraction = next(iter(mirrors.values())).fraction
        return [("mirroring", fraction)] * len(segs), "kernel"
    sources = set(seen.source_devs) | {t.devices[0] for t in table if t.target == "mirror" and t.devices}
    if table and sources and move.mode != "atomic":
        states: list[tuple[str, float | None]] = []
        for start, _n in segs:
            line = next((t for t in table if t.start <= start * ext < t.start + t.length), None)
            if line is None:
                states.append(("unknown", None))
            elif line.target == "mirror":
                m = mirrors.get(line.start)
                states.append(("mirroring", m.fraction if m else None))
            else:
                states.append(("pending" if line.devices and line.devices[0] in sources else "done", None))
        return states, "kernel"
    if percent is None:
        return [("unknown", None)] * len(segs), "unknown"
    if move.mode == "atomic":
        return [("mirroring", percent / 100)] * len(segs), "percent"
    done = percent / 100 * sum(n for _, n in segs)
    out: list[tuple[str, float | None]] = []
    for start, n in segs:
        share = min(1.0, max(0.0, (done - start) / n)) if n else 1.0
        out.append(("done", None) if share >= 1.0 else ("pending", None) if share <= 0 else ("mirroring", share))
    return out, "percent"


def build(move: Move, volumes: list[LogicalVolume], seen: KernelSeen, percent: float | None) -> MoveMap:
    by_name = {lv.name: lv for lv in volumes if lv.vg == move.ref.vg}
    segs, at = [], 0
    for seg in move.pvmove.segments:
        segs.append((at, seg.size_pe))
        at += seg.size_pe
    total = at
    states, how = _segment_states(move, segs, seen, percent)
    placed, inferred = places(move, seen, total)
    pieces = []
    for lv, lv_start, n, start in sorted(placed, key=lambda p: p[3]):
        for (s_start, s_size), seg, (state, fraction) in zip(segs, move.pvmove.segments, states, strict=True):
            lo, hi = max(start, s_start), min(start + n, s_start + s_size)
            if lo >= hi or len(seg.devices) < 2:
                continue
            (src, src_pe), (dst, dst_pe) = seg.devices[0], seg.devices[1]
            off = lo - s_start
            pieces.append(Piece(lv, lv_start + lo - start, lo, hi - lo, state, fraction,
                                _ranges(src, src_pe + off, hi - lo, by_name),
                                _ranges(dst, dst_pe + off, hi - lo, by_name)))
    return MoveMap(move, tuple(pieces), total, percent, how, inferred)


# ---- text ---------------------------------------------------------------------------------------------------

def _fill(piece: Piece, width: int) -> str:
    if piece.state == "mirroring":
        copied = round(width * (piece.fraction or 0.0))
        return "=" * copied + "." * (width - copied)
    return FILL.get(piece.state, "?") * width


def bars(m: MoveMap, width: int = 64) -> list[str]:
    """Rows over pvmoveN's extents, one column per piece: extent numbers, LVs, how far the copy is, and
    where each piece is copied from and to (atomic: the two images; one mirror over all of pvmoveN)."""
    mv, ps = m.move, m.pieces
    atomic = mv.mode == "atomic"
    labels = ([f"{mv.pvmove.name}_mimage_0", f"{mv.pvmove.name}_mimage_1"] if atomic else ["from", "to"])
    head = max(len(x) for x in ["extent", mv.pvmove.name, *labels])
    widths = [max(len(p.lv) + 2, len(str(p.start)) + 1, len(" ".join(p.source)) + 2, len(" ".join(p.dest)) + 2,
                  round(width * p.size / (m.total or 1))) for p in ps]

    def row(label: str, cells: list[str], end: str = "|") -> str:
        return f"  {label.ljust(head)}  " + "".join("|" + c.ljust(w - 1) for c, w in zip(cells, widths,
                                                                                    strict=True)) + end

    axis = f"  {'extent'.ljust(head)}  " + "".join(str(p.start).ljust(w) for p, w in zip(ps, widths, strict=True))
    lines = [axis + str(m.total), row("LV", [p.lv for p in ps])]
    if atomic:
        inner = sum(widths) - 1
        fraction = ps[0].fraction if ps and ps[0].fraction is not None else None
        fill = ("?" * inner if fraction is None
                else "=" * round(inner * fraction) + "." * (inner - round(inner * fraction)))
        lines.append(f"  {mv.pvmove.name.ljust(head)}  |{fill}|" +
                     (f" mirror, {100 * fraction:.1f}% in sync" if fraction is not None else " mirror"))
        lines.append(row(labels[0], [" ".join(p.source) for p in ps], "| source, in use until the finish"))
        lines.append(row(labels[1], [" ".join(p.dest) for p in ps], "| destination"))
    else:
        lines.append(f"  {mv.pvmove.name.ljust(head)}  " + "".join("|" + _fill(p, w - 1)
                                                              for p, w in zip(ps, widths, strict=True)) + "|")
        lines.append(row(labels[0], [" ".join(p.source) for p in ps]))
        lines.append(row(labels[1], [" ".join(p.dest) for p in ps]))
    return lines


def _state(p: Piece) -> str:
    if p.state == "mirroring" and p.fraction is not None:
        return f"mirroring {100 * p.fraction:.0f}%"
    return p.state


def _now_on(p: Piece) -> str:
    src, dst = " ".join(p.source), " ".join(p.dest)
    if p.state == "done":
        return dst
    if p.state == "mirroring":
        return f"{src}, copying to {dst}"
    if p.state == "pending":
        return f"{src} (to {dst})"
    return f"{src} or {dst}"


def pieces_table(m: MoveMap) -> list[str]:
    ext = m.move.pvmove.extent_size
    rows = [("LV EXTENTS", m.move.pvmove.name.upper(), "SIZE", "STATE", "NOW ON")]
    rows += [(f"{p.lv}:{p.lv_start}-{p.lv_start + p.size - 1}", f"{p.start}-{p.start + p.size - 1}",
              human_bytes(p.size * ext), _state(p), _now_on(p)) for p in m.pieces]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return ["  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]


def if_aborted(m: MoveMap) -> list[str]:
    """What an abort now would leave where."""
    mv = m.move
    if mv.mode == "atomic":
        return [f"  if aborted now: everything ({human_bytes(mv.size)}) stays on {mv.source}; nothing is final "
                "before the finish"]
    if m.how == "unknown":
        return ["  if aborted now: checkpointed segments stay on the destination, the rest goes back to "
                f"{mv.source} (which ones is not known: the move is not active)"]
    ext, lines = mv.pvmove.extent_size, []
    for lv in dict.fromkeys(p.lv for p in m.pieces):
        mine = [p for p in m.pieces if p.lv == lv]
        kept, size = sum(p.size for p in mine if p.state == "done"), sum(p.size for p in mine)
        dests = ",".join(dict.fromkeys(r.split(":")[0] for p in mine if p.state == "done" for r in p.dest))
        if kept == 0:
            lines.append(f"{mv.ref.vg}/{lv}: all {human_bytes(size * ext)} back on {mv.source}")
        elif kept == size:
            lines.append(f"{mv.ref.vg}/{lv}: all {human_bytes(size * ext)} stays on {dests}")
        else:
            lines.append(f"{mv.ref.vg}/{lv}: {human_bytes(kept * ext)} stays on {dests}, "
                         f"{human_bytes((size - kept) * ext)} back on {mv.source}")
    return ["  if aborted now:"] + [f"    {line}" for line in lines]


def render(m: MoveMap, width: int = 64) -> list[str]:
    mv = m.move
    pct = f", {m.percent:.1f}% copied" if m.percent is not None else ""
    lines = [f"{mv.ref}: {mv.mode} move {mv.source} -> {', '.join(mv.destinations) or '?'}, {m.total} extents "
             f"of {human_bytes(mv.pvmove.extent_size)} ({human_bytes(mv.size)}){pct}"]
    lines += bars(m, width)
    legend = ATOMIC_LEGEND.format(lv=mv.pvmove.name) if mv.mode == "atomic" else LEGEND
    lines.append(legend + ("   ? not known" if m.how == "unknown" else ""))
    lines += pieces_table(m)
    lines += if_aborted(m)
    if m.how == "percent":
        lines.append("  (states from the copy percent: the kernel's table could not be read)")
    if m.inferred_order:
        lines.append(f"  (places on {mv.pvmove.name} inferred from the order of the LVs' segments)")
    return lines
