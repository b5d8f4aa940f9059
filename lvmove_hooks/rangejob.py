"""Range jobs: bounded re-copy on LVM without `allocation/pvmove_max_segment_size_mb` (before 2.03.36).

pvmove's mirror log is in memory: after a crash the piece in flight is copied again from its start, and a
by-segment move's piece is a whole LV segment. Where LVM cannot split segments itself, `lvmove move` moves the
source in extent ranges instead, one `pvmove SRC:a-b` after another, each covering at most `max_recopy` of
allocated extents: a crash then re-copies at most that.

The job's intent survives a crash in /var/lib/lvmove/jobs/<VG>/<source PV UUID>.json: the VG, the source and
destination PVs by UUID (device names may change across reboots), the LV and the PE ranges the admin asked
for, and the chunk size. Nothing else is stored: what is left to move is read from LVM's metadata each time
(the extents of the source in the asked ranges that no pvmove is moving now), so any crash, before, during or
between ranges, resumes from the truth. The unit that finishes a range starts the next one (service.py); the
per-VG check at boot starts the unit when a job has no range in flight (vgcheck.py).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lvmove_hooks.model import LogicalVolume, segments_on

Run = tuple[int, int]  # (first extent, number of extents) on the source PV


@dataclass(frozen=True)
class Job:
    vg: str
    source_uuid: str
    source: str  # the device path named when it started (for people; the UUID is what counts)
    dest_uuids: tuple[str, ...]  # empty: LVM chooses
    lv: str  # "" = every LV on the source
    alloc: str  # "" = LVM's default
    chunk_pe: int  # allocated extents per range
    total_pe: int  # allocated extents to move when the job started
    extent_size: int  # bytes
    asked: tuple[Run, ...] = ()  # the PE ranges the admin named (SRC:a-b), as runs; empty = the whole PV

    @property
    def key(self) -> str:
        return f"{self.vg}/{self.source_uuid}"


@dataclass(frozen=True)
class Share:
    """How far the whole job is, besides the range in flight."""

    before: int  # bytes of the job moved by earlier ranges
    total: int  # bytes of the whole job


def jobs_dir() -> Path:
    return Path(os.environ.get("LVMOVE_STATEDIR", "/var/lib/lvmove")) / "jobs"


def _path(vg: str, source_uuid: str) -> Path:
    return jobs_dir() / vg / f"{source_uuid}.json"


def save(job: Job) -> None:
    """Write the job atomically (raises OSError: without its record a job must not start)."""
    path = _path(job.vg, job.source_uuid)
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(asdict(job)) + "\n", encoding="utf-8")
    tmp.replace(path)


def _job(data: dict[str, Any]) -> Job:
    return Job(
        vg=str(data["vg"]), source_uuid=str(data["source_uuid"]), source=str(data["source"]),
        dest_uuids=tuple(str(u) for u in data.get("dest_uuids", ())), lv=str(data.get("lv", "")),
        alloc=str(data.get("alloc", "")), chunk_pe=int(data["chunk_pe"]), total_pe=int(data["total_pe"]),
        extent_size=int(data["extent_size"]),
        asked=tuple((int(a), int(n)) for a, n in data.get("asked", ())),
    )


def load(vg: str) -> list[Job]:
    """The VG's jobs; a record that cannot be read is skipped (and left for the admin to see)."""
    found = []
    for path in sorted((jobs_dir() / vg).glob("*.json")):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            found.append(_job(json.loads(path.read_text(encoding="utf-8"))))
    return found


def vgs_with_jobs() -> list[str]:
    with contextlib.suppress(OSError):
        return sorted(p.name for p in jobs_dir().iterdir() if p.is_dir() and any(p.glob("*.json")))
    return []


def drop(job: Job) -> None:
    with contextlib.suppress(OSError):
        _path(job.vg, job.source_uuid).unlink()
    with contextlib.suppress(OSError):
        (jobs_dir() / job.vg).rmdir()  # only when empty


def parse_ranges(text: str) -> tuple[Run, ...]:
    """pvmove's PE ranges `a-b:c:d+n` (after SRC:) as runs; ValueError for anything else."""
    runs = []
    for part in text.split(":"):
        if "-" in part:
            first, last = (int(x) for x in part.split("-", 1))
        elif "+" in part:
            first, count = (int(x) for x in part.split("+", 1))
            last = first + count - 1
        else:
            first = last = int(part)
        if first < 0 or last < first:
            raise ValueError(part)
        runs.append((first, last - first + 1))
    return tuple(runs)


def _clip(run: Run, asked: tuple[Run, ...]) -> list[Run]:
    if not asked:
        return [run]
    start, count = run
    out = []
    for a, n in asked:
        lo, hi = max(start, a), min(start + count, a + n)
        if lo < hi:
            out.append((lo, hi - lo))
    return out


def left_on_source(volumes: list[LogicalVolume], source: str, lv: str = "", asked: tuple[Run, ...] = ()) -> list[Run]:
    """Allocated extents of the source PV (by resolved path) that a job would still move, in order: of LV `lv`
    only when given, inside the asked ranges only when given; extents a pvmove LV is moving now are not left.
    Only single-area segments count (see only_single_areas)."""
    runs = []
    for _, seg in segments_on(volumes, source, lv):
        if len(seg.devices) == 1:
            runs += _clip((seg.devices[0][1], seg.size_pe), asked)
    return _merged(sorted(runs))


def only_single_areas(volumes: list[LogicalVolume], source: str, lv: str = "") -> bool:
    """Every segment with an area on the source has that one area (linear): what a range job can count and
    split. A striped segment on the source is moved whole by one pvmove instead."""
    return all(len(seg.devices) == 1 for _, seg in segments_on(volumes, source, lv))


def _merged(runs: list[Run]) -> list[Run]:
    out: list[Run] = []
    for start, count in runs:
        if out and out[-1][0] + out[-1][1] == start:
            out[-1] = (out[-1][0], out[-1][1] + count)
        else:
            out.append((start, count))
    return out


def next_range(runs: list[Run], chunk_pe: int) -> Run | None:
    """The next range to move as (first, last) extent: from the first extent left, as far as covers at most
    `chunk_pe` allocated extents (free extents inside the range move nothing)."""
    if not runs or chunk_pe < 1:
        return None
    want = chunk_pe
    for start, count in runs:
        if count >= want:
            return runs[0][0], start + want - 1
        want -= count
    last_start, last_count = runs[-1]
    return runs[0][0], last_start + last_count - 1


def extents(runs: list[Run]) -> int:
    return sum(count for _, count in runs)
