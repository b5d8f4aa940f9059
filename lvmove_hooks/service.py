"""The unit body: resolve -> reload -> poll -> verify, for one pvmove LV."""

from __future__ import annotations

import logging
import resource
import signal
import time
from dataclasses import dataclass, replace

from lvmove_hooks import carry, dm, journal, lvm, orphan, poller, rangejob, rangemove, runner, statefile
from lvmove_hooks.config import Config
from lvmove_hooks.ending import ending
from lvmove_hooks.errors import BadConfig, CommandFailed, Interrupted, LvmoveError, VerifyFailed
from lvmove_hooks.model import LogicalVolume, MissingPv, Move, find_moves
from lvmove_hooks.names import LvRef
from lvmove_hooks.progress import human_bytes, human_duration

log = logging.getLogger("lvmove.service")


@dataclass(frozen=True)
class Outcome:
    message: str
    moved_lvs: int = 0
    aborted: bool = False  # by `lvmove abort` or LVM's own `pvmove --abort`: a deliberate, clean end
    logged: bool = False  # a journal event already says it (the CLI then prints it only outside systemd)
    ended: bool = False  # the move is gone (completed, aborted, or none there): a range job may go on
    source: str = ""  # the PV it moved off (for an abort: the range job it ends)


MAX_RANGES = 100_000  # ranges one unit run carries (a guard; a job has as many as its source has chunks)


def run(ref: LvRef, config: Config) -> Outcome:
    """Carry the move VG/pvmoveN to its end and, when it is a range of a range job (rangemove.py), the job's
    next ranges after it. Raises an LvmoveError subclass on anything but success."""
    outcome = _carry(ref, config)
    if not config.wants_vg(ref.vg) or not rangejob.load(ref.vg):
        return outcome  # no job: no more LVM commands
    stop = poller.StopRequest()
    carried: set[str] = set()
    for _ in range(MAX_RANGES):
        if outcome.aborted:
            for job in rangemove.drop_for(ref.vg, outcome.source):
                journal.event("job", f"{ref.vg}: the move off {job.source} in ranges ends with the abort of {ref}",
                              journal.MoveFields(ref.vg, "", job.source_uuid))
            return outcome
        if not outcome.ended:
            return outcome  # waiting for a PV, excluded: the job waits too
        old = {sig: signal.signal(sig, stop.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            following = rangemove.advance(ref.vg)
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
        if following is None or following.uuid in carried:
            return outcome
        if stop.requested:
            raise Interrupted(f"stopped by signal {stop.signum} between two ranges; {following.ref} is intact and "
                              f"resumes on the next start (systemctl start {following.ref.unit})")
        if following.ref != ref:
            journal.notify(f"STATUS={ref}: the next range is {following.ref}: {carry.hand_over(following)}")
            return outcome
        carried.add(following.uuid)
        outcome = _carry(ref, config)
    return outcome


def _carry(ref: LvRef, config: Config) -> Outcome:


    """Carry the move VG/pvmoveN to its end (one pvmove LV)."""
    excluded = _excluded(ref, config)
    if excluded is not None:
        return excluded
    vg_report = lvm.read([ref.vg])
    seen = vg_report.volumes
    move = next((m for m in find_moves(seen) if m.pvmove.name == ref.lv), None)
    if move is None:
        statefile.remove(ref.instance)
        orphans = orphan.find(seen, ref.lv)
        if orphans:
            return replace(_repair(orphans[0], config), ended=True)
        return Outcome(f"nothing to do: {ref} is not moving (finished or aborted)", ended=True)
    fields = journal.MoveFields(ref.vg, ref.lv, move.uuid, move.source, move.mode)
    waiting = move.waits_for(vg_report.missing)
    if waiting:
        return _waiting(move, waiting, fields)
    started = time.monotonic()
    journal.event(
        "started",
        f"{ref}: carrying {move.mode} move of {len(move.moved)} LV(s), {human_bytes(move.size)} "
        f"from {move.source} to {', '.join(move.destinations) or '?'}"
        + ("" if move.active else " (inactive: activating)"),
        fields,
        move.pvmove.copy_percent,
    )
    stop = poller.StopRequest()
    old = {sig: signal.signal(sig, stop.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        move = _reload(move, config)
        move, volumes, poll_stats = poller.poll(move, config, stop, fields, handle_missing=bool(vg_report.missing),
                                                share=rangemove.share_of(move, seen))
        outcome = _verify(move, started, config, volumes)
    except Interrupted as exc:  # stopped or deactivated: the move is intact and resumes, not a failure
        journal.event("interrupted", f"{ref}: {exc}", fields)
        raise
    except LvmoveError as exc:
        journal.event("failed", f"{ref}: {exc}", fields)
        raise
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        statefile.remove(ref.instance)
    return _ended(move, outcome, fields, poll_stats)


def _ended(move: Move, outcome: Outcome, fields: journal.MoveFields, poll_stats: dict[str, str]) -> Outcome:
    """The journal's completed or aborted event, with how the move was polled."""
    kind = "aborted" if outcome.aborted else "completed"
    mine, waited = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    counts = {"LVMOVE_LVM_COMMANDS": str(runner.started["lvm"]),
              "LVMOVE_DMSETUP_COMMANDS": str(runner.started["dmsetup"]),
              # CPU seconds of lvmove itself and of the commands it waited for (a forked LVM poller is in neither).
              "LVMOVE_CPU_SELF": f"{mine.ru_utime + mine.ru_stime:.3f}",
              "LVMOVE_CPU_COMMANDS": f"{waited.ru_utime + waited.ru_stime:.3f}", **poll_stats}
    journal.event(kind, f"{move.ref}: {outcome.message}", fields, None if kind == "aborted" else 100.0, counts)
    journal.notify(f"STATUS={move.ref}: {outcome.message}")
    return replace(outcome, logged=True, ended=True, source=move.source)


def _excluded(ref: LvRef, config: Config) -> Outcome | None:
    """A VG lvmove.yaml excludes: nothing to do, and a flag the udev rule tests so that the move's uevents
    start no more units; a VG that is wanted (again): the flag goes."""
    if config.wants_vg(ref.vg):
        statefile.take_flag(statefile.EXCLUDED_FLAG, ref.vg, subdir=True)
        return None
    statefile.set_flag(statefile.EXCLUDED_FLAG, ref.vg, subdir=True)
    return Outcome(f"nothing to do: volume group {ref.vg} is excluded by {config.path} (udev starts no more "
                   f"units for it until 'lvmove start' or the next boot)")


def _waiting(move: Move, missing: tuple[MissingPv, ...], fields: journal.MoveFields) -> Outcome:
    """A PV the move copies from or to is missing: change nothing (no partial activation, no finish); LVM's
    activation of the VG when the disk is back brings the unit again."""
    pvs = ", ".join(pv.describe() for pv in missing)
    then = ("refresh the moved LVs (lvchange --refresh) once it is back, then 'lvmove start " f"{move.ref}'"
            if move.active else "the move resumes by itself when LVM activates the VG")
    message = f"{move.ref}: waiting for {pvs}: nothing changed; connect the disk again ({then})"
    journal.event("waiting-for-pv", message, fields, move.pvmove.copy_percent)
    return Outcome(message.split(": ", 1)[1], logged=True)


def _repair(found: orphan.Orphan, config: Config) -> Outcome:
    """An orphan error pvmoveN left by a crash inside LVM's finish: remove it through LVM when unambiguous,
    else say what stands in the way and the command that removes it."""
    fields = journal.MoveFields(found.ref.vg, found.ref.lv, found.uuid)
    now, busy = orphan.settle(found)
    if now is None:
        return Outcome(f"nothing to do: {found.ref} is gone (LVM finished the move)")
    problem = now.problem or ("LVM is still at work on the VG: " + "; ".join(busy) if busy else "")
    if not problem and not config.remove_orphans:
        problem = f"remove_orphans is false in {config.path}"
    problem = problem or orphan.try_remove(now)
    if not problem:
        journal.event("orphan-removed", f"{now.ref}: removed {now.describe()} that an interrupted finish of "
                     "LVM's pvmove left behind; the moved LVs were already complete", fields)
        return Outcome(f"removed orphan error LV {now.listing()} left by an interrupted finish", logged=True)
    journal.event("orphan-found", f"{now.ref}: {now.describe().removeprefix('the ')} left by an interrupted "
                 f"finish, not removed: {problem}; remove it with '{now.fix}'", fields)
    raise VerifyFailed(f"orphan error LV {now.ref} not removed: {problem}", hint=f"remove it with '{now.fix}'")


def _reload(move: Move, config: Config) -> Move:
    """Make the kernel mirror run: activate an inactive move, refresh a table that is not live."""
    targets = [lv.ref for lv in move.moved]
    if not move.active:
        if not config.activate_inactive:
            raise BadConfig(
                f"{move.ref} is inactive and activate_inactive is false in {config.path}",
                hint="set 'activate_inactive: true' there, or activate it yourself: lvchange -ay --poll n "
                + " ".join(str(t) for t in targets),
            )
        if not targets:
            raise CommandFailed(f"{move.ref} is inactive and no LV maps onto it", hint=f"run 'vgck {move.ref.vg}'")
        journal.notify(f"STATUS=Activating {move.ref} and {len(targets)} locked LV(s)")
        lvm.activate(targets)
        move = _reread(move)
    kernel = dm.Kernel()
    info = kernel.read(move.dm_name)
    kernel.close()
    if move.active and targets and (info is None or not info.live or info.suspended):
        log.warning("%s: dm table not live (%s): refreshing", move.ref,
                    "no device" if info is None else f"live={info.live} suspended={info.suspended}")
        lvm.refresh(targets)
        move = _reread(move)
    return move


def _reread(move: Move) -> Move:
    current, _ = lvm.find_by_uuid(move.ref.vg, move.uuid)
    return move if current is None else move.refreshed(current)  # ended meanwhile: the poll phase sees it gone


def _verify(move: Move, started: float, config: Config, volumes: list[LogicalVolume] | None = None) -> Outcome:
    """After the poll: the move is gone by UUID and nothing of it is left behind. `volumes`: the report that
    found it gone, if the poll phase just read one."""
    current = None
    if volumes is None:
        current, volumes = lvm.find_by_uuid(move.ref.vg, move.uuid)
    if current is not None:
        raise VerifyFailed(f"{move.ref} (uuid {move.uuid}) is still there after the poll ended",
                           hint=f"systemctl start {move.ref.unit}")
    orphans = [o for o in orphan.find(volumes, move.ref.lv) if o.uuid == move.uuid]
    if orphans:  # LVM's finish stopped between its commits (its poller has exited: this is no finish in progress)
        return _repair(orphans[0], config)
    problems, fix = _leftovers(move, volumes)
    if problems:
        raise VerifyFailed("; ".join(problems), hint=fix)
    end = ending(move, volumes)
    elapsed = human_duration(time.monotonic() - started)
    where = "".join(f"; {line}" for line in end.placement)
    if statefile.take_flag(statefile.ABORT_FLAG, move.uuid):
        return Outcome(f"aborted on request (lvmove abort) after {elapsed}{where}", len(move.moved), True)
    if end.aborted:
        return Outcome(f"{end.summary} (aborted with LVM's pvmove --abort) after {elapsed}{where}",
                       len(move.moved), True)
    dests = ", ".join(move.destinations) or "?"
    return Outcome(
        f"completed: {len(move.moved)} LV(s), {human_bytes(move.size)} moved from {move.source} to {dests} "
        f"in {elapsed}",
        len(move.moved),
    )


def _leftovers(move: Move, volumes: list[LogicalVolume]) -> tuple[list[str], str]:
    name = move.ref.lv
    problems: list[str] = []
    fix = f"inspect with 'lvs -a -o+devices {move.ref.vg}'"
    reused = any(lv.is_pvmove and lv.name == name for lv in volumes)
    if not reused:  # a new move may use the name again; its LVs are locked rightly
        moved = {m.uuid for m in move.moved}
        problems += [f"{lv.ref} is still locked or mapped onto {name}" for lv in volumes
                     if lv.uuid in moved and (lv.locked or lv.maps_to(name))]
    return problems, fix
