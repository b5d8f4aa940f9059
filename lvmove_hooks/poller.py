"""The poll phase: observe -> decide -> act until the move (by UUID) is gone.

LVM's own poll loop makes every metadata change; lvmove decides when it looks. Each round the loop observes
(kernelwatch.KernelWatch: the pvmove device's mirror; lvmpoller: the LVM pollers' processes; the stop and abort
requests), asks pollrules.next_action() what to do, and does it here, one method per pollrules.Do. The rules,
the modes and every limit are in pollrules.py; progress for people in progressreport.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from lvmove_hooks import dm, lvm, lvmpoller, procscan, statefile
from lvmove_hooks import pollrules as rules
from lvmove_hooks.config import Config
from lvmove_hooks.errors import CommandFailed, Degraded, Interrupted
from lvmove_hooks.journal import MoveFields, event
from lvmove_hooks.kernelwatch import KernelWatch, Seen
from lvmove_hooks.model import LogicalVolume, Move
from lvmove_hooks.progressreport import ProgressReporter
from lvmove_hooks.rangejob import Share

log = logging.getLogger("lvmove.poller")

ABORT_FLAG = statefile.ABORT_FLAG
STEPS_PER_ROUND = 16  # decisions between two kernel reads (each changes the state; a guard, never reached)


@dataclass
class StopRequest:
    requested: bool = False
    signum: int = 0

    def handler(self, signum: int, _frame: object) -> None:
        self.requested = True
        self.signum = signum


class _Ended(Exception):
    """The move is gone: the loop's only normal way out."""


@dataclass
class PollPhase:
    move: Move
    config: Config
    stop: StopRequest
    reporter: ProgressReporter
    clock: Callable[[], float]
    watch: KernelWatch = field(default_factory=KernelWatch)
    lvpoll: lvmpoller.Lvpoll | None = None
    other: lvmpoller.Watched | None = None
    volumes: list[LogicalVolume] | None = None  # the VG as last read, kept for the verification
    seen: Seen = field(default_factory=lambda: Seen(None))
    failed_lines: str = ""  # the last line of the last lvpoll that failed
    handle_missing: bool = False  # the VG has a missing PV the move does not use: lvpoll --handlemissingpvs

    def __post_init__(self) -> None:
        self.sources = dm.source_devices(self.move)
        # With a PV of the VG missing LVM's `pvmove -b` refuses the VG ("Cannot change VG ... while PVs are
        # missing"): no warm poller is tried, one lvpoll --handlemissingpvs per segment instead.
        self.state = rules.initial(kernel_watch=self.config.watch_kernel,
                                   can_warm=bool(self.move.source) and not self.handle_missing,
                                   poll_interval=self.config.poll_interval)

    def run(self) -> Move:
        """Return the move as last seen once it is gone; raise Interrupted/Degraded/CommandFailed otherwise."""
        if not self.watch.kernel.direct and self.state.kernel_watch:
            log.info("%s: no DM ioctl access; reading the kernel through dmsetup", self.move.ref)
        with contextlib.ExitStack() as stack:
            stack.enter_context(self.watch.opened())
            stack.callback(self._stop_ours)
            try:
                while True:
                    self._round()
            except _Ended:
                return self.move
        raise AssertionError("unreachable")

    def _round(self) -> None:
        self.watch.events_wanted = self.state.kernel_watch
        if not self.stop.requested:  # a stop is answered first, without waiting for a kernel read
            self.seen = self.watch.look(self.move, self.sources, self.clock())
            if self.seen.progress is not None:
                self._report()
        for _ in range(STEPS_PER_ROUND):
            action, self.state = rules.next_action(self._observe(), self.state)
            if action.do is rules.Do.WAIT:
                self.watch.sleep(action.seconds, lambda: self.stop.requested)
                return
            log.debug("%s: %s (%s)", self.move.ref, action.do.name, action.why or action.do.value)
            getattr(self, "_do_" + action.do.name.lower())(action)

    def _observe(self) -> rules.Observation:
        return rules.Observation(
            now=self.clock(), stop_requested=self.stop.requested,
            abort_requested=statefile.has_flag(ABORT_FLAG, self.move.uuid),
            progress=self.seen.progress, table=self.seen.table,
            lvpoll=self.lvpoll.seen() if self.lvpoll else None, other=self.other.seen() if self.other else None,
            event_armed=self.watch.armed, changes=tuple(self.watch.changes))

    def _report(self) -> None:
        assert self.seen.progress is not None
        who = self.other.describe() if self.other else "lvmove"
        self.reporter.report(self.move, self.seen.progress, self.clock(), who,
                             self.other.pid if self.other and not self.other.ours else None)

    # ---- requests and give-ups --------------------------------------------------------------------------

    def _do_interrupted(self, _action: rules.Action) -> None:
        raise Interrupted(
            f"stopped by signal {self.stop.signum}; the move is intact and resumes on the next start",
            hint=f"systemctl start {self.move.ref.unit}")

    def _do_stand_aside(self, _action: rules.Action) -> None:
        """`lvmove abort` is at work: step aside and let LVM's abort end the move."""
        self._stop_ours()
        gone = lvm.wait_gone(self.move.ref.vg, self.move.uuid, rules.ABORT_WAIT, lambda: self.stop.requested)
        if gone is not None:
            self.volumes = gone
            raise _Ended
        if not self.stop.requested:
            log.warning("%s: still there %.0fs after 'lvmove abort' began; carrying it again", self.move.ref,
                        rules.ABORT_WAIT)
            self.state = replace(self.state, stood_aside=True, reread_now=True)

    def _do_degraded(self, _action: rules.Action) -> None:
        assert self.seen.progress is not None
        legs = ", ".join(f"{dm.devname(dev)} ({what})" for dev, what in self.seen.progress.bad_legs)
        raise Degraded(f"mirror leg not healthy: {legs}; not finalizing over it",
                       hint=f"check the disk, then 'lvmove abort {self.move.ref}', or repair it and 'lvmove start'")

    def _do_give_up(self, action: rules.Action) -> None:
        last = self.failed_lines
        raise CommandFailed(f"{action.why} on {self.move.ref}" + (f": {last}" if last else ""),
                            hint=f"see 'journalctl -u {self.move.ref.unit}'")

    # ---- our lvpoll -------------------------------------------------------------------------------------

    def _do_spawn_lvpoll(self, action: rules.Action) -> None:
        argv = lvm.lvpoll_argv(self.move.ref, self.config.poll_interval, handle_missing=self.handle_missing)
        self.lvpoll = lvmpoller.Lvpoll.start(argv, oneshot=action.oneshot)

    def _do_take_over(self, action: rules.Action) -> None:
        assert self.other is not None
        event("stalled", f"{self.move.ref}: polled by {self.other.describe()}, but the kernel has had the segment "
              f"{action.why} with no checkpoint; lvmove runs LVM's poller itself beside it", self.reporter.fields)
        self._do_spawn_lvpoll(action)

    def _do_reap(self, _action: rules.Action) -> None:
        self._collect(stopped=False)

    def _do_stop_lvpoll(self, _action: rules.Action) -> None:
        """lvpoll checks first, then sleeps: asleep means its checkpoint (or finish) is committed."""
        assert self.lvpoll is not None
        if self.lvpoll.stop():
            self._collect(stopped=True)
        else:
            self.lvpoll = None  # left to finish its work, untracked

    def _collect(self, *, stopped: bool) -> None:
        assert self.lvpoll is not None
        child, self.lvpoll = self.lvpoll, None
        code = child.reap()
        if code and not stopped:
            log.warning("%s: lvpoll exited %d: %s", self.move.ref, code, child.last_line)
            self.failed_lines = child.last_line or f"exit {code}"
        self.state = rules.after(self.state, rules.Reaped(code, stopped), self.clock())

    # ---- the watched poller -----------------------------------------------------------------------------

    def _do_scan(self, _action: rules.Action) -> None:
        found = procscan.other_pollers(self.move.ref, self.move.source, set()) or procscan.activators(
            self.move.ref.vg, set())
        if found:
            self.other = lvmpoller.adopt(found)
            log.info("%s: polled by %s; %s", self.move.ref, self.other.describe(),
                     "waking it when the kernel has a segment in sync" if self.other.wakeable else "watching only")
        self.state = rules.after(self.state, rules.Found(bool(found), bool(self.other and self.other.wakeable)),
                                 self.clock())

    def _do_wake(self, _action: rules.Action) -> None:
        if self.other is not None and self.other.wake():
            log.debug("%s: woke pid %d (segment in sync)", self.move.ref, self.other.pid)

    def _do_release(self, _action: rules.Action) -> None:
        assert self.other is not None
        log.info("%s: %s has ended", self.move.ref, self.other.describe())
        self.other = None

    def _do_launch_warm(self, _action: rules.Action) -> None:
        warm, why = lvmpoller.launch_warm(self.move.source, rules.WARM_INTERVAL)
        if warm is None:
            log.warning("%s: LVM's background poller did not start (%s); one lvpoll per segment instead",
                        self.move.ref, why)
        self.other = warm or self.other
        self.state = rules.after(self.state, rules.Launched(warm is not None), self.clock())

    def _stop_ours(self) -> None:
        """Stop what lvmove started (SIGINT in the sleep; never SIGKILL); another's poller is left alone."""
        if self.lvpoll is not None:
            child, self.lvpoll = self.lvpoll, None
            if child.stop():
                child.reap()
        if self.other is not None and self.other.ours:
            warm, self.other = self.other, None
            warm.stop()

    # ---- asking LVM -------------------------------------------------------------------------------------

    def _do_reread(self, _action: rules.Action) -> None:
        busy_before = self._busy()  # a poller that finishes while lvs runs has ended when it returns
        current, self.volumes = lvm.find_by_uuid(self.move.ref.vg, self.move.uuid)
        leftover = current is None and any(lv.uuid == self.move.uuid and lv.is_error_orphan
                                           for lv in self.volumes)
        seen = rules.Reread(current is not None, current is not None and current.active, leftover,
                            busy_before or self._busy())
        if current is not None:
            self.move = self.move.refreshed(current)
        watched = self.state.kernel_watch
        verdict, self.state = rules.judge(self.state, seen, now=self.clock())
        if verdict is rules.Verdict.GONE:
            raise _Ended
        if verdict is rules.Verdict.DEACTIVATED:
            raise Interrupted(f"{self.move.ref} was deactivated while moving; the move is intact",
                              hint=f"resume it with 'lvmove start {self.move.ref}'")
        if watched and not self.state.kernel_watch:
            log.warning("%s: kernel mirror status unavailable; falling back to LVM interval polling every %ds",
                        self.move.ref, self.config.poll_interval)
            event("progress", f"{self.move.ref}: kernel status unavailable, polling every "
                  f"{self.config.poll_interval}s", self.reporter.fields)

    def _busy(self) -> bool:
        """Some poller of this move is alive and out of its sleep (checking, checkpointing or finishing)."""
        return bool((self.lvpoll and self.lvpoll.busy()) or (self.other and self.other.busy()))

    def stats(self) -> dict[str, str]:
        """How the move was polled, for the completion journal entry (LVMOVE_POLL_MODE, LVMOVE_POLLER_WAKES)."""
        return {"LVMOVE_POLL_MODE": rules.mode_used(self.state).value, "LVMOVE_POLLER_WAKES": str(self.state.wakes),
                "LVMOVE_LVPOLL_RUNS": str(self.state.spawns), **self.watch.stats()}


def poll(move: Move, config: Config, stop: StopRequest, fields: MoveFields, *, handle_missing: bool = False,
         clock: Callable[[], float] | None = None,
         share: Share | None = None) -> tuple[Move, list[LogicalVolume] | None, dict[str, str]]:
    """Return the move as last seen, the VG's LVs as read when it was found gone, and how it was polled.
    `share`: the range job the move is part of, whose progress it shows."""
    import time

    phase = PollPhase(move, config, stop, ProgressReporter(fields, config.progress_interval, share=share),
                      clock or time.monotonic, handle_missing=handle_missing)
    final = phase.run()
    return final, phase.volumes, phase.stats()
