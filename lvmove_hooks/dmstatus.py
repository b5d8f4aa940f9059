"""Device-mapper table/status parsing and progress maths for pvmove devices (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from lvmove_hooks.errors import CommandFailed

HEALTH_WORDS = {
    "A": "alive",
    "D": "write failed",
    "S": "sync failed",
    "F": "flush failed",
    "R": "read failed",
    "U": "unknown",
}


@dataclass(frozen=True)
class TableLine:
    start: int
    length: int
    target: str
    devices: tuple[str, ...]  # maj:min (or names) of the devices the line maps to, in order


@dataclass(frozen=True)
class MirrorStatus:
    start: int
    length: int
    devices: tuple[str, ...]
    in_sync: int
    regions: int
    health: str

    @property
    def fraction(self) -> float:
        return self.in_sync / self.regions if self.regions else 1.0

    @property
    def synced(self) -> bool:
        return self.regions > 0 and self.in_sync >= self.regions

    def bad_legs(self) -> list[tuple[str, str]]:
        """(device, what is wrong) for every leg whose health is not 'A'."""
        return [
            (dev, HEALTH_WORDS.get(ch, f"state {ch}"))
            for dev, ch in zip(self.devices, self.health, strict=False)
            if ch != "A"
        ]


@dataclass(frozen=True)
class StatusLine:
    start: int
    length: int
    target: str
    mirror: MirrorStatus | None


def _strip_name(line: str) -> str:
    # `dmsetup status` without a name prefixes "name: " when several devices are listed.
    head = line.split(None, 1)[0] if line.split() else ""
    if head.endswith(":"):
        return line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
    return line


def _lines(text: str, what: str) -> list[tuple[int, int, str, list[str], str]]:
    """(start, length, target, args, raw line) for every line of `dmsetup table|status` output."""
    out = []
    for raw in text.splitlines():
        line = _strip_name(raw.strip())
        if not line:
            continue
        words = line.split()
        try:
            out.append((int(words[0]), int(words[1]), words[2], words[3:], raw))
        except (IndexError, ValueError):
            raise CommandFailed(f"unexpected dm {what} line: {raw!r}") from None
    return out


def parse_table(text: str) -> list[TableLine]:
    """Parse `dmsetup table NAME` output (linear and mirror targets)."""
    lines: list[TableLine] = []
    for start, length, target, args, _raw in _lines(text, "table"):
        devices: tuple[str, ...] = ()
        if target == "linear" and args:
            devices = (args[0],)
        elif target == "mirror":
            devices = _mirror_table_devices(args)
        lines.append(TableLine(start, length, target, devices))
    return lines


def _mirror_table_devices(args: list[str]) -> tuple[str, ...]:
    # mirror <log type> <#log args> <log args...> <#devs> <dev> <offset> ... [<#features> <features>]
    try:
        nlog = int(args[1])
        pos = 2 + nlog
        ndev = int(args[pos])
        return tuple(args[pos + 1 + 2 * i] for i in range(ndev))
    except (IndexError, ValueError):
        raise CommandFailed(f"unexpected mirror table: {' '.join(args)!r}") from None


def parse_status(text: str) -> list[StatusLine]:
    """Parse `dmsetup status NAME` output; mirror lines give in-sync regions and leg health."""
    lines: list[StatusLine] = []
    for start, length, target, args, raw in _lines(text, "status"):
        mirror = _parse_mirror_status(start, length, args, raw) if target == "mirror" else None
        lines.append(StatusLine(start, length, target, mirror))
    return lines


def _parse_mirror_status(start: int, length: int, args: list[str], raw: str) -> MirrorStatus:
    # <#devs> <dev>... <in_sync>/<regions> <#health args> <health> <#log args> <log args>
    try:
        ndev = int(args[0])
        devices = tuple(args[1 : 1 + ndev])
        sync_text = args[1 + ndev]
        in_sync, regions = (int(x) for x in sync_text.split("/"))
        nhealth = int(args[2 + ndev])
        health = args[3 + ndev] if nhealth >= 1 else "A" * ndev
    except (IndexError, ValueError):
        raise CommandFailed(f"unexpected mirror status: {raw!r}") from None
    return MirrorStatus(start, length, devices, in_sync, regions, health)


@dataclass(frozen=True)
class Progress:
    """How far the kernel has copied, in 512-byte sectors."""

    done: int
    total: int
    mirroring: bool  # a mirror segment is live (the kernel is copying or waiting for a checkpoint)
    segment_synced: bool  # every live mirror segment is fully in sync: LVM should look now
    bad_legs: tuple[tuple[str, str], ...]
    segment_left: int = 0  # sectors the live mirror segments still have to copy

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0


def progress(table: list[TableLine], status: list[StatusLine], source_devs: frozenset[str]) -> Progress:
    """Combine a pvmove device's table and status.

    Finished segments map linear to a destination, the mirroring segment is a `mirror`, and segments not yet
    started map linear to the source. `source_devs` holds the source PV's maj:min (and any alias seen in the
    mirror lines' first leg).
    """
    mirrors = [s.mirror for s in status if s.mirror is not None]
    sources = set(source_devs)
    for line in table:
        if line.target == "mirror" and line.devices:
            sources.add(line.devices[0])
    total = sum(line.length for line in table)
    done = left = 0
    by_start = {m.start: m for m in mirrors}
    for line in table:
        if line.target == "mirror":
            m = by_start.get(line.start)
            copied = int(line.length * m.fraction) if m else 0
            done += copied
            left += line.length - copied
        elif line.target == "linear" and line.devices and line.devices[0] not in sources:
            done += line.length
    bad = tuple(leg for m in mirrors for leg in m.bad_legs())
    synced = bool(mirrors) and all(m.synced for m in mirrors)
    return Progress(done, total, bool(mirrors), synced, bad, left)
