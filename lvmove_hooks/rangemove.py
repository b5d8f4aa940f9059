"""Range jobs at work (the record and the extent arithmetic are rangejob.py): `lvmove move` begins one, the
unit that ends a range starts the next, and the poll phase shows the job's progress as one."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from lvmove_hooks import journal, lvm, rangejob
from lvmove_hooks.errors import CommandFailed
from lvmove_hooks.model import LogicalVolume, Move
from lvmove_hooks.progress import human_bytes
from lvmove_hooks.rangejob import Job, Share

log = logging.getLogger("lvmove.rangemove")


def create(vg: str, source: str, dests: Sequence[str], *, lv: str | None, alloc: str | None, chunk_mib: int,
           volumes: list[LogicalVolume], asked: tuple[rangejob.Run, ...]) -> Job | None:
    """Record a job that moves the source in ranges of at most `chunk_mib` of allocated extents. None when
    one range covers it all (a plain move is bounded already) or a segment on the source has more than one
    area (striped: a job could not count it, so one plain move takes it all)."""
    if not rangejob.only_single_areas(volumes, source, lv or ""):
        return None
    names = lvm.pv_names(vg)
    uuids = {os.path.realpath(name): uuid for uuid, name in names.items()}
    source_uuid = uuids.get(os.path.realpath(source))
    dest_uuids = tuple(uuids.get(os.path.realpath(d), "") for d in dests)
    if source_uuid is None or "" in dest_uuids:
        raise CommandFailed(f"cannot find the UUIDs of {', '.join([source, *dests])} in volume group {vg}",
                            hint="check the PVs with 'pvs'")
    extent = next((v.extent_size for v in volumes if v.vg == vg and v.extent_size), 0)
    runs = rangejob.left_on_source(volumes, source, lv or "", asked)
    chunk_pe = max(1, chunk_mib * 1024 * 1024 // extent) if extent else 0
    if not extent or rangejob.extents(runs) <= chunk_pe:
        return None
    job = Job(vg=vg, source_uuid=source_uuid, source=source, dest_uuids=dest_uuids, lv=lv or "", alloc=alloc or "",
              chunk_pe=chunk_pe, total_pe=rangejob.extents(runs), extent_size=extent, asked=asked)
    rangejob.save(job)
    return job


def start_next(job: Job, names: dict[str, str]) -> str | None:
    """Start the job's next range (pvmove SRC:a-b, handed to lvmove as `lvmove move` does) and return that
    argument; None when nothing is left (the job is dropped) or a PV of it is not there (the job waits).
    names: the VG's PV names by UUID (lvm.pv_names), read once per step by the caller."""
    source = names.get(job.source_uuid)
    dests = [names.get(uuid) for uuid in job.dest_uuids]
    fields = journal.MoveFields(job.vg, "", job.source_uuid)
    if source is None or None in dests:
        journal.event("job", f"{job.vg}: moving {job.source} in ranges waits: a PV of it is not there "
                      f"(PV UUIDs {', '.join([job.source_uuid, *job.dest_uuids])})", fields)
        return None
    volumes = lvm.report([job.vg])
    runs = rangejob.left_on_source(volumes, source, job.lv, job.asked)
    span = rangejob.next_range(runs, job.chunk_pe)
    if span is None:
        rangejob.drop(job)
        journal.event("job", f"{job.vg}: moved {human_bytes(job.total_pe * job.extent_size)} off {source} in "
                      f"ranges of at most {human_bytes(job.chunk_pe * job.extent_size)}: done", fields)
        return None
    argument = f"{source}:{span[0]}-{span[1]}"
    moved = job.total_pe - rangejob.extents(runs)
    journal.event("job", f"{job.vg}: next range {argument} ({human_bytes(moved * job.extent_size)} of "
                  f"{human_bytes(job.total_pe * job.extent_size)} moved so far)", fields)
    lvm.start_move(argument, [d for d in dests if d], lv=job.lv or None, atomic=False, alloc=job.alloc or None)
    return argument


def advance(vg: str) -> Move | None:
    """After a range (or at boot between two): the move now carrying one of the VG's jobs, started here if
    none is in flight; None when no job of the VG has work it can do now."""
    jobs = rangejob.load(vg)
    names = lvm.pv_names(vg) if jobs else {}
    for job in jobs:
        flight = _in_flight(job, names)
        if flight is not None:
            return flight
        if start_next(job, names) is not None:
            flight = _in_flight(job, names)
            if flight is not None:
                return flight
    return None


NEXT_WAIT = 120.0  # seconds for the unit to start a job's next range


def wait_next(job: Job, timeout: float = NEXT_WAIT) -> Move | None:
    """The job's next range once the unit has started it; None once the job is done (its record gone)."""
    deadline = time.monotonic() + timeout
    names = lvm.pv_names(job.vg)
    while any(j.key == job.key for j in rangejob.load(job.vg)):
        flight = _in_flight(job, names)
        if flight is not None:
            return flight
        if time.monotonic() > deadline:
            raise CommandFailed(f"the next range of the move off {job.source} did not start in {timeout:.0f}s",
                                hint=f"see 'lvmove status' and 'journalctl -t lvmove'; 'lvmove check-vg {job.vg}' "
                                     "starts it")
        time.sleep(1.0)
    return None


def _in_flight(job: Job, names: dict[str, str]) -> Move | None:
    source = names.get(job.source_uuid)
    if source is None:
        return None
    real = os.path.realpath(source)
    return next((m for m in lvm.moves([job.vg]) if os.path.realpath(m.source) == real), None)


def share_of(move: Move, volumes: list[LogicalVolume]) -> Share | None:
    """The job `move` is a range of, as progress: None for a move that is no job's."""
    jobs = rangejob.load(move.ref.vg)
    if not jobs:
        return None
    names = lvm.pv_names(move.ref.vg)
    real = os.path.realpath(move.source)
    for job in jobs:
        source = names.get(job.source_uuid)
        if source is None or os.path.realpath(source) != real:
            continue
        left = rangejob.extents(rangejob.left_on_source(volumes, source, job.lv, job.asked))
        total = job.total_pe * job.extent_size
        return Share(before=max(0, total - left * job.extent_size - move.size), total=total)
    return None


def drop_for(vg: str, source: str) -> list[Job]:
    """Forget the jobs off `source` (an abort ends the whole job); returns them."""
    jobs = rangejob.load(vg)
    if not jobs:
        return []  # no job: no LVM command
    names = lvm.pv_names(vg)
    real = os.path.realpath(source)
    dropped = [job for job in jobs
               if os.path.realpath(names.get(job.source_uuid, job.source)) == real]
    for job in dropped:
        rangejob.drop(job)
    return dropped


def pending(vg: str) -> list[Job]:
    """The VG's jobs with no range in flight (after a crash between two ranges)."""
    jobs = rangejob.load(vg)
    names = lvm.pv_names(vg) if jobs else {}
    return [job for job in jobs if _in_flight(job, names) is None]


def rows(volumes: list[LogicalVolume]) -> list[dict[str, Any]]:
    """Every range job, for `lvmove status` (no LVM command when there is none)."""
    found = []
    for vg in rangejob.vgs_with_jobs():
        names = lvm.pv_names(vg)
        for job in rangejob.load(vg):
            source = names.get(job.source_uuid, job.source)
            left = rangejob.extents(rangejob.left_on_source(volumes, source, job.lv, job.asked))
            total = job.total_pe * job.extent_size
            done = total - left * job.extent_size  # ranges done and the one in flight
            found.append({"vg": vg, "source": source, "source_uuid": job.source_uuid, "lv": job.lv or None,
                          "range_bytes": job.chunk_pe * job.extent_size, "size_bytes": total, "done_bytes": done,
                          "percent": round(100.0 * done / total, 2) if total else 100.0,
                          "source_present": job.source_uuid in names})
    return found


def describe(row: dict[str, Any]) -> str:
    return (f"{row['vg']}: moving {row['source']} in ranges of at most {human_bytes(row['range_bytes'])}: "
            f"{row['percent']:.1f}% ({human_bytes(row['done_bytes'])} of {human_bytes(row['size_bytes'])}) "
            "done or in flight" + ("" if row["source_present"] else "; its source PV is missing"))
