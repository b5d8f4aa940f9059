"""`lvmove watch` (and `lvmove move --wait`): follow moves until they end.

On a terminal: one line per move, `VG/LV [bar] percent done/total rate ETA`, redrawn in place (cursor up,
carriage return, erase line), a move that ended keeps its last word there. Not a terminal: plain lines, one
per move and tick, as a log reads them. The kernel is read every tick (and the unit's shared state for its rate
and ETA); LVM only when a move's device is gone, to say how it ended.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from lvmove_hooks import dm, lvm, statefile
from lvmove_hooks.ending import ending
from lvmove_hooks.errors import Exit
from lvmove_hooks.model import Move
from lvmove_hooks.names import LvRef, parse_lvref, unescape_instance
from lvmove_hooks.progress import RateMeter, eta, human_bytes, human_duration
from lvmove_hooks.status import current_percent

UP = "\x1b[{n}A"  # cursor up n lines
ERASE = "\r\x1b[2K"  # to column 1, erase the line
CLEAR_BELOW = "\r\x1b[J"  # to column 1, erase to the end of the screen (a wrapped log line above is gone too)


@dataclass
class Reading:
    """One move at one tick."""

    ref: LvRef
    percent: float | None
    total: int
    rate: float | None = None
    eta_s: float | None = None

    @property
    def done(self) -> float | None:
        return None if self.percent is None else self.total * self.percent / 100


def bar(fraction: float, width: int) -> str:
    filled = max(0, min(width, round(width * fraction)))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def plain_line(r: Reading) -> str:
    text = f"{r.ref}: " + (f"{r.percent:.1f}%" if r.percent is not None else "inactive") + \
        f" of {human_bytes(r.total)}"
    if r.rate:
        text += f", {human_bytes(r.rate)}/s"
    if r.eta_s is not None:
        text += f", ETA {human_duration(r.eta_s)}"
    return text


def tty_line(r: Reading, columns: int, name_width: int) -> str:
    """`vg/pvmove0  [#####-----]  45.2%  21.7 MiB/48.0 MiB  1.2 MiB/s  ETA 22s`, fitted to the terminal."""
    pct = f"{r.percent:5.1f}%" if r.percent is not None else "inactive"
    done = human_bytes(r.done) if r.done is not None else "?"
    tail = f"  {pct}  {done}/{human_bytes(r.total)}  " + \
        (f"{human_bytes(r.rate)}/s" if r.rate is not None else "-/s") + \
        f"  ETA {human_duration(r.eta_s) if r.eta_s is not None else '-'}"
    head = str(r.ref).ljust(name_width)
    width = max(10, min(40, columns - 1 - len(head) - 2 - len(tail) - 2))
    return f"{head}  {bar((r.percent or 0.0) / 100, width)}{tail}"[: max(1, columns - 1)]


class Screen:
    """Where the lines go: redrawn in place on a terminal, appended otherwise."""

    def __init__(self, out: TextIO, tty: bool) -> None:
        self.out, self.tty, self.drawn = out, tty, 0
        self.notes: list[str] = []  # messages (log lines) to print above the block at the next draw

    def draw(self, lines: list[str], fresh: list[bool]) -> None:
        """`lines`: one per move, in a fixed order; `fresh`: which changed this tick (plain mode prints those)."""
        if not self.tty:
            for line, new in zip(lines, fresh, strict=True):
                if new:
                    print(line, file=self.out, flush=True)
            return
        columns = shutil.get_terminal_size((80, 24)).columns
        text = (UP.format(n=self.drawn) + CLEAR_BELOW) if self.drawn else ""
        text += "".join(ERASE + note + "\n" for note in self.notes)
        self.notes.clear()
        text += "".join(ERASE + line[: max(1, columns - 1)] + "\n" for line in lines)
        self.out.write(text)
        self.out.flush()
        self.drawn = len(lines)


class _NoteHandler(logging.Handler):
    """Log lines go above the redrawn block (written between the lines, they would break the redraw)."""

    def __init__(self, screen: Screen, formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.screen = screen
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.screen.notes.append(self.format(record))


@contextlib.contextmanager
def _logs_above(screen: Screen) -> Iterator[None]:
    root = logging.getLogger()
    if not (screen.tty and sys.stderr.isatty()):
        yield
        return
    saved = root.handlers[:]
    root.handlers = [_NoteHandler(screen, saved[0].formatter if saved else None)]
    try:
        yield
    finally:
        root.handlers = saved
        for note in screen.notes:
            print(note, file=sys.stderr)


@dataclass
class Tracked:
    move: Move
    meter: RateMeter = field(default_factory=RateMeter)
    ended: str | None = None  # the last word once the move is gone
    aborted: bool = False


def read(t: Tracked, kernel: dm.Kernel) -> Reading | None:
    """The move now, or None (t.ended set) when it is gone."""
    move = t.move
    state = dm.owned(move, kernel.read(move.dm_name))
    if state is None:
        current, volumes = lvm.find_by_uuid(move.ref.vg, move.uuid)
        if current is None:
            end = ending(move, volumes)
            t.ended, t.aborted = f"{move.ref}: {end.summary}", end.aborted
            return None
        t.move = move = current
        state = None
    shared = statefile.read(move.ref.instance) or {}
    pct = current_percent(move, kernel, state)
    r = Reading(move.ref, pct, move.size)
    if pct is not None:
        t.meter.add(time.monotonic(), move.size * pct / 100)
    r.rate = t.meter.rate()
    if r.rate is None and shared.get("rate_bytes_per_s"):
        r.rate = float(shared["rate_bytes_per_s"])
    r.eta_s = eta(r.done, move.size, r.rate) if r.done is not None and r.rate else shared.get("eta_seconds")
    return r


def follow(instances: list[str], *, interval: float, out: TextIO | None = None) -> int:
    """Follow these moves until every one has ended: exit 0, or 11 when one was aborted."""
    out = out or sys.stdout
    refs = [parse_lvref(unescape_instance(inst)) for inst in instances]
    found = {m.ref: m for m in lvm.moves(sorted({r.vg for r in refs}))}
    for ref in refs:
        if ref not in found:
            print(f"{ref}: not moving (finished or aborted)", file=out)
    tracked = [Tracked(found[ref]) for ref in refs if ref in found]
    screen = Screen(out, out.isatty())
    kernel = dm.Kernel()
    try:
        with _logs_above(screen):
            _loop(tracked, screen, kernel, interval)
    finally:
        kernel.close()
    return int(Exit.ABORTED if any(t.aborted for t in tracked) else Exit.OK)


def _loop(tracked: list[Tracked], screen: Screen, kernel: dm.Kernel, interval: float) -> None:
    width = max((len(str(t.move.ref)) for t in tracked), default=0)
    while tracked:
        lines, fresh = [], []
        for t in tracked:
            was_over = t.ended is not None
            r = None if was_over else read(t, kernel)
            if r is None:
                lines.append(str(t.ended))
            else:
                lines.append(tty_line(r, shutil.get_terminal_size((80, 24)).columns, width) if screen.tty
                             else plain_line(r))
            fresh.append(not was_over)
        screen.draw(lines, fresh)
        if all(t.ended is not None for t in tracked):
            break
        time.sleep(interval)
