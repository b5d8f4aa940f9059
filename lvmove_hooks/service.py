"""The unit body: resolve -> reload -> poll -> verify, for one pvmove LV."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

from lvmove_hooks import dmstatus, lvm, procscan, report, runner, statefile
from lvmove_hooks.config import Config
from lvmove_hooks.errors import (
    BadConfig,
    CommandFailed,
    Degraded,
    Interrupted,
    MoveAborted,
    VerifyFailed,
)
from lvmove_hooks.model import LogicalVolume, Move
from lvmove_hooks.names import LvRef
from lvmove_hooks.progress import RateMeter, eta, human_bytes, human_duration, status_line

log = logging.getLogger("lvmove.service")

TICK = 1.0  # seconds between cheap kernel progress reads
RECHECK_SECONDS = 30.0  # re-read LVM state at least this often while supervising
RESPAWN_LIMIT = 1000  # lvpoll runs per unit start, a guard against a loop
FAILURE_LIMIT = 5  # consecutive failed lvpoll runs before giving up
STOP_WAIT = 120.0  # how long to wait for a stopped lvpoll child to leave
ABORT_FLAG = "abort"


@dataclass
class Outcome:
    message: str
    moved_lvs: int = 0


@dataclass
class _Stop:
    requested: bool = False
    signum: int = 0

    def handler(self, signum: int, _frame: FrameType | None) -> None:
        self.requested = True
        self.signum = signum


@dataclass
class _Poll:
    """State of the poll phase."""

    move: Move
    child: subprocess.Popen[str] | None = None
    child_log: IO[bytes] | None = None
    child_output: list[str] = field(default_factory=list)
    runs: int = 0
    meter: RateMeter = field(default_factory=RateMeter)
    last_journal: float = 0.0
    last_journal_percent: float = -100.0
    percent: float = 0.0
    supervising: str = ""
    supervised_pid: int = 0
    failures: int = 0
    next_spawn: float = 0.0
    last_decide: float = 0.0


def resolve(ref: LvRef) -> Move | None:
    return lvm.find_move(ref)


def run(ref: LvRef, config: Config) -> Outcome:
    """Carry the move VG/pvmoveN to its end. Raises an LvmoveError subclass on anything but success."""
    if not config.wants_vg(ref.vg):
        return Outcome(f"nothing to do: volume group {ref.vg} is excluded by {config.path}")
    move = resolve(ref)
    if move is None:
        statefile.remove(ref.instance)
        return Outcome(f"nothing to do: {ref} is not moving (finished or aborted)")
    fields = report.MoveFields(ref.vg, ref.lv, move.uuid)
    started = time.monotonic()
    report.event(
        "started",
        f"{ref}: resuming {move.mode} move of {len(move.moved)} LV(s), {human_bytes(move.size)} "
        f"from {move.source} to {', '.join(move.destinations) or '?'}",
        fields,
        move.pvmove.copy_percent,
    )
    stop = _Stop()
    old = {sig: signal.signal(sig, stop.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            move = _reload(move, config)
            _poll(move, config, stop, fields)
            outcome = _verify(move, started)
        except (Interrupted, Degraded, CommandFailed, VerifyFailed, BadConfig) as exc:
            report.event("failed", f"{ref}: {exc}", fields)
            raise
        except MoveAborted as exc:
            report.event("aborted", f"{ref}: {exc}", fields)
            raise
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        statefile.remove(ref.instance)
    if outcome.message.startswith("aborted"):
        report.event("aborted", f"{ref}: {outcome.message}", fields)
    else:
        report.event("completed", f"{ref}: {outcome.message}", fields, 100.0)
    report.notify(f"STATUS={ref}: {outcome.message}")
    return outcome


def _reload(move: Move, config: Config) -> Move:
    """Make the kernel mirror run: activate an inactive move, refresh a table that is not live."""
    if not move.active:
        if not config.activate_inactive:
            raise BadConfig(
                f"{move.ref} is inactive and activate_inactive is false in {config.path}",
                hint="set 'activate_inactive: true' or activate it yourself: lvchange -ay "
                + " ".join(str(lv.ref) for lv in move.moved),
            )
        targets = [lv.ref for lv in move.moved]
        if not targets:
            raise CommandFailed(f"{move.ref} is inactive and no LV maps onto it", hint="run 'vgck' on the VG")
        report.notify(f"STATUS=Activating {move.ref} and its LVs")
        lvm.activate(targets)
        move = _reread(move)
    info = lvm.dm_info(move.dm_name)
    if move.active and (not info.exists or not info.live or info.suspended):
        log.info("%s: dm table not live (exists=%s live=%s suspended=%s): refreshing", move.ref,
                 info.exists, info.live, info.suspended)
        lvm.refresh([lv.ref for lv in move.moved])
        move = _reread(move)
    return move


def _reread(move: Move) -> Move:
    current, _ = lvm.find_by_uuid(move.ref.vg, move.uuid)
    if current is None:
        return move  # finished meanwhile: the poll phase sees it gone
    return _keep_baseline(current, move)


def _keep_baseline(current: Move, first: Move) -> Move:
    from dataclasses import replace

    return replace(current, baseline_on_source=first.baseline_on_source, moved=current.moved or first.moved)


def _poll(move: Move, config: Config, stop: _Stop, fields: report.MoveFields) -> None:
    state = _Poll(move)
    source_devs = frozenset(d for d in (lvm.devnum(move.source),) if d)
    try:
        while True:
            if stop.requested:
                _stop_child(state)
                raise Interrupted(
                    f"stopped by signal {stop.signum}; the move is intact and resumes on the next start",
                    hint=f"systemctl start {move.ref.unit}",
                )
            if statefile.has_flag(ABORT_FLAG, move.uuid):
                # `lvmove abort` is at work; let LVM finish the abort and classify afterwards.
                _stop_child(state)
                _wait_gone(state, stop)
                return
            alive = _watch_kernel(state, source_devs, config, fields)
            if state.child is not None and state.child.poll() is not None:
                _reap(state)
            if _needs_decision(state, alive) and _decide(state, config):
                return
            _sleep(TICK, stop)
    finally:
        _stop_child(state)


def _watch_kernel(state: _Poll, source_devs: frozenset[str], config: Config,
                  fields: report.MoveFields) -> bool:
    """Read progress from the kernel; False when the pvmove device is gone."""
    move = state.move
    got = lvm.dm_table_status(move.dm_name)
    if got is None:
        return False
    prog = dmstatus.progress(dmstatus.parse_table(got[0]), dmstatus.parse_status(got[1]), source_devs)
    if prog.bad_legs:
        legs = ", ".join(f"{lvm.devname(dev)} ({what})" for dev, what in prog.bad_legs)
        _stop_child(state)
        raise Degraded(
            f"mirror leg not healthy: {legs}; not finalizing over it",
            hint="check the disk, then 'lvmove abort " + str(move.ref) + "' or fix and 'lvmove start'",
        )
    now = time.monotonic()
    size = move.size or prog.total * 512
    done = size * prog.percent / 100.0
    state.meter.add(now, done)
    rate = state.meter.rate()
    remaining = eta(done, size, rate)
    state.percent = prog.percent
    line = status_line(str(move.ref), prog.percent, done, size, remaining)
    if state.supervising:
        line += f" (polled by {state.supervising})"
    report.notify(f"STATUS={line}")
    statefile.write(move.ref.instance, {
        "vg": move.ref.vg, "lv": move.ref.lv, "uuid": move.uuid, "percent": round(prog.percent, 2),
        "done_bytes": int(done), "size_bytes": size, "rate_bytes_per_s": rate, "eta_seconds": remaining,
        "poller": state.supervising or ("lvmove" if state.child else ""),
    })
    interval = config.progress_interval
    if now - state.last_journal >= interval or (
        prog.percent - state.last_journal_percent >= 5.0 and now - state.last_journal >= 2.0
    ):
        state.last_journal = now
        state.last_journal_percent = prog.percent
        extra = f", {human_bytes(rate)}/s" if rate else ""
        report.event("progress", line + extra, fields, prog.percent)
    return True


def _needs_decision(state: _Poll, alive: bool) -> bool:
    """Re-read LVM state only when something changed (or now and then), never on every tick."""
    if not alive or time.monotonic() - state.last_decide > RECHECK_SECONDS:
        return True
    if state.child is not None:
        return False
    return not state.supervised_pid or not procscan.pid_alive(state.supervised_pid)


def _decide(state: _Poll, config: Config) -> bool:
    """Between pollers: True when the move is gone; else make sure exactly one poller runs."""
    move = state.move
    state.last_decide = time.monotonic()
    current, _ = lvm.find_by_uuid(move.ref.vg, move.uuid)
    if current is None:
        return True
    state.move = _keep_baseline(current, move)
    if not current.active:
        raise Interrupted(
            f"{move.ref} was deactivated while moving; the move is intact",
            hint=f"activate it with 'lvmove start {move.ref}'",
        )
    own = {state.child.pid} if state.child else set()
    others = procscan.other_pollers(move.ref, current.source, own)
    if not others:
        busy = procscan.activators(move.ref.vg, own)
        if busy:
            # An activation of this VG is under way and may ask lvmpolld to poll when it ends.
            state.supervising = busy[0].describe()
            state.supervised_pid = busy[0].pid
            return False
    if others:
        if state.supervising != others[0].describe():
            log.info("%s: already polled by %s; supervising", move.ref, others[0].describe())
        state.supervising = others[0].describe()
        state.supervised_pid = others[0].pid
        return False
    if state.supervised_pid:
        # The poller we watched has ended; give a hand-over (e.g. to lvmpolld) a moment.
        state.supervised_pid = 0
        state.supervising = ""
        return False
    state.supervising = ""
    if state.child is None and time.monotonic() >= state.next_spawn:
        if state.runs >= RESPAWN_LIMIT:
            raise CommandFailed(
                f"LVM's poller ended {state.runs} times without finishing {move.ref}: "
                + (state.child_output[-1] if state.child_output else "no output"),
                hint="see 'journalctl -u " + move.ref.unit + "'",
            )
        state.runs += 1
        state.child_log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in _reap)
        state.child = runner.spawn(lvm.lvpoll_argv(move.ref, config.poll_interval), state.child_log)
    return False


def _reap(state: _Poll, *, stopped: bool = False) -> None:
    """Collect our finished lvpoll; a failure (not one we asked for) counts towards giving up."""
    child = state.child
    if child is None:
        return
    rc = child.wait()
    out = ""
    if state.child_log is not None:
        state.child_log.seek(0)
        out = state.child_log.read().decode(errors="replace")
        state.child_log.close()
        state.child_log = None
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    state.child_output = lines
    for line in lines[-5:]:
        log.info("lvpoll: %s", line)
    state.child = None
    if stopped:
        return
    if rc == 0:
        state.failures = 0
        return
    state.failures += 1
    state.next_spawn = time.monotonic() + min(60.0, 2.0**state.failures)
    log.warning("%s: lvpoll exited %d: %s", state.move.ref, rc, lines[-1] if lines else "")
    if state.failures >= FAILURE_LIMIT:
        raise CommandFailed(
            f"LVM's poller failed {state.failures} times on {state.move.ref}: "
            + (lines[-1] if lines else f"exit {rc}"),
            hint="see 'journalctl -u " + state.move.ref.unit + "'",
        )


def _stop_child(state: _Poll) -> None:
    """Stop our lvpoll safely: SIGINT only while it sleeps; never SIGKILL."""
    child = state.child
    if child is None:
        return
    deadline = time.monotonic() + STOP_WAIT
    while child.poll() is None:
        if procscan.is_sleeping(child.pid):
            child.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
            continue
        if time.monotonic() > deadline:
            log.error("lvpoll %d did not reach its sleep in %.0fs; leaving it to finish", child.pid, STOP_WAIT)
            return
        time.sleep(0.05)
    _reap(state, stopped=True)


def _wait_gone(state: _Poll, stop: _Stop) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        current, _ = lvm.find_by_uuid(state.move.ref.vg, state.move.uuid)
        if current is None:
            return
        _sleep(2.0, stop)
        if stop.requested:
            return


def _sleep(seconds: float, stop: _Stop) -> None:
    end = time.monotonic() + seconds
    while not stop.requested and time.monotonic() < end:
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))


def _verify(move: Move, started: float) -> Outcome:
    """After the poll: the move is gone by UUID and nothing of it is left behind."""
    current, volumes = lvm.find_by_uuid(move.ref.vg, move.uuid)
    if current is not None:
        raise VerifyFailed(f"{move.ref} (uuid {move.uuid}) is still there after the poll ended",
                           hint=f"systemctl start {move.ref.unit}")
    problems = _leftovers(move, volumes)
    if problems:
        raise VerifyFailed("; ".join(problems[0:3]), hint=problems[-1] if len(problems) > 3 else
                           f"inspect with 'lvs -a -o+devices {move.ref.vg}'")
    by_uuid = {lv.uuid: lv for lv in volumes}
    back = 0
    for old in move.moved:
        now = by_uuid.get(old.uuid)
        if now is not None:
            back += max(0, now.extents_on(move.source) - move.baseline_on_source.get(old.uuid, 0))
    elapsed = human_duration(time.monotonic() - started)
    if statefile.take_flag(ABORT_FLAG, move.uuid):
        return Outcome(f"aborted on request (lvmove abort) after {elapsed}", len(move.moved))
    if back:
        extent = move.pvmove.extent_size or 0
        amount = human_bytes(back * extent) if extent else f"{back} extents"
        raise MoveAborted(
            f"the move was aborted by someone else: {amount} went back to {move.source}",
            hint=f"start a new move with 'lvmove move {move.source}' if it is still wanted",
        )
    dests = ", ".join(move.destinations) or "?"
    return Outcome(
        f"completed: {len(move.moved)} LV(s), {human_bytes(move.size)} moved from {move.source} to {dests} "
        f"in {elapsed}",
        len(move.moved),
    )


def _leftovers(move: Move, volumes: list[LogicalVolume]) -> list[str]:
    name = move.ref.lv
    reused = any(lv.is_pvmove and lv.name == name for lv in volumes)
    problems: list[str] = []
    for lv in volumes:
        if lv.is_error_orphan and lv.name == name:
            problems.append(f"orphan error LV {move.ref.vg}/{name} left by an interrupted finish")
            problems.append(f"remove it with 'lvremove {move.ref.vg}/{name}'")
    if not reused:
        moved_uuids = {m.uuid for m in move.moved}
        for lv in volumes:
            if lv.uuid in moved_uuids and (lv.locked or lv.maps_to(name)):
                problems.append(f"{lv.ref} is still locked or mapped onto {name}")
    return problems
