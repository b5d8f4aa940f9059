"""The poll phase: watch the kernel's copy, and make sure LVM looks exactly when there is work for it.

LVM's own poll loop makes every metadata change; lvmove decides when it looks:
- **kernel-watch with a warm poller** (default): lvmove has LVM fork its background poller once
  (`pvmove -b -i WARM_INTERVAL SRC`, without lvmpolld) and reads the pvmove device's mirror status from the
  kernel (DM ioctl, no VG lock) and waits for the device's DM event (dm-raid1 raises one when a mirror is
  in sync), else looks more often as a segment nears its end. When a segment is fully in sync it
  ends the poller's sleep with SIGCHLD (a signal the forked poller handles, so it checks at once instead
  of exiting): the same warm process checkpoints, or finishes, with no new LVM process per segment.
- **kernel-watch with one lvpoll per segment** (when the warm poller cannot be had: no source PV device,
  lvmlockd, a failed fork): start `lvpoll` when a segment is in sync; it checks at once, checkpoints and
  goes to sleep, and lvmove stops it with SIGINT in that sleep.
- **interval** (fallback when the kernel cannot be read, or `watch_kernel: false`): one long
  `lvpoll --interval N`, as lvmpolld would run.

When another process already polls the LV (lvmpolld's lvpoll, a user's pvmove), lvmove watches; if that
process is LVM's forked background poller it also wakes it when a segment is in sync.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import select
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from lvmove_hooks import dmstatus, lvm, procscan, report, runner, statefile
from lvmove_hooks.config import Config
from lvmove_hooks.errors import CommandFailed, Degraded, Interrupted
from lvmove_hooks.model import LogicalVolume, Move
from lvmove_hooks.progress import RateMeter, eta, human_bytes, status_line

log = logging.getLogger("lvmove.poller")

TICK = 0.5  # seconds between kernel reads while lvmove drives LVM's poller
CHECKPOINT_TICK = 1.0  # after waking LVM's poller for a segment in sync: its checkpoint takes about this long
TICK_MIN = 0.1  # ... as a segment nears its end (a third of its expected time left, within these bounds:
TICK_MAX = 5.0  # a rate off by less than 3x still wakes lvmove before the segment is in sync)
# While a DM event wait is armed the loop wakes on the event; this tick only refreshes STATUS= and the progress
# file (`lvmove status`/`watch` read the kernel themselves) and notices a poller that died: LVM's own interval.
EVENT_TICK = 15.0
WARM_INTERVAL = 300  # the warm poller's own interval: lvmove wakes it; this only guards against lvmove dying
WARM_LAUNCH_LIMIT = 3  # warm poller launches per unit start before settling for lvpoll per segment
WATCH_TICK = 2.0  # the same while another process polls (only progress to report)
NOTIFY_SECONDS = 2.0  # STATUS= (systemctl status) at most this often
STATE_SECONDS = 10.0  # /run/lvmove/<instance>.json (rate and ETA for lvmove status/watch) at most this often
PROC_SCAN_SECONDS = 5.0  # how often to look for other pollers while none is known
REREAD_SECONDS = 5.0  # at most one lvs per this many seconds while the device is missing
HANDOVER_SECONDS = 1.5  # after another poller ends, wait this long before scanning again
SPAWN_LIMIT = 10000  # lvpoll runs per unit start: a guard against a loop
FAILURE_LIMIT = 5  # consecutive failed lvpoll runs before giving up
STOP_WAIT = 120.0  # how long to wait for our lvpoll to reach its sleep
ABORT_FLAG = "abort"


@dataclass
class StopRequest:
    requested: bool = False
    signum: int = 0

    def handler(self, signum: int, _frame: object) -> None:
        self.requested = True
        self.signum = signum


@dataclass
class Poller:
    move: Move
    config: Config
    stop: StopRequest
    fields: report.MoveFields
    kernel: lvm.Kernel = field(default_factory=lvm.Kernel)
    kernel_watch: bool = True
    child: subprocess.Popen[str] | None = None
    child_log: IO[bytes] | None = None
    child_oneshot: bool = False
    child_output: list[str] = field(default_factory=list)
    spawns: int = 0
    failures: int = 0
    next_spawn: float = 0.0
    last_check_table: str = ""
    other: procscan.Process | None = None
    next_scan: float = 0.0
    meter: RateMeter = field(default_factory=RateMeter)
    changes: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=8))  # (when, sectors done)
    last_journal: float = 0.0
    last_journal_percent: float = -100.0
    progress: dmstatus.Progress | None = None
    table: str = ""
    source_devs: frozenset[str] = frozenset()
    reread_now: bool = True
    volumes: list[LogicalVolume] | None = None  # the VG as last read, kept for the verification
    last_write: float = -1e9
    last_state: float = -1e9
    last_look: float = 0.0
    handover_until: float = 0.0
    next_reread: float = 0.0
    other_wakeable: bool = False  # `other` is LVM's forked background poller: SIGCHLD ends its sleep
    warm_pid: int | None = None  # the background poller lvmove launched (stopped with the unit)
    warm_launches: int = 0
    wake_table: str = ""
    woke_at: float = 0.0
    wakes: int = 0
    warm_used: bool = False
    wake_pipe: tuple[int, int] | None = None
    waiter: threading.Thread | None = None  # blocked in DM_DEV_WAIT until the mirror raises an event
    events_ok: bool = True  # False once a wait failed: predicted ticks only
    events_seen: int = 0

    def __post_init__(self) -> None:
        self.kernel_watch = self.config.watch_kernel
        self.source_devs = frozenset(d for d in (lvm.devnum(self.move.source),) if d)

    # ---- the loop -------------------------------------------------------------------------------------

    def run(self) -> Move:
        """Return when the move (by UUID) is gone; raise Interrupted/Degraded/CommandFailed otherwise."""
        if not self.kernel.direct and self.kernel_watch:
            log.info("%s: no DM ioctl access; reading the kernel through dmsetup", self.move.ref)
        previous_fd = self._open_wake_pipe()
        try:
            while True:
                self._check_requests()
                alive = self._watch_kernel()
                self._collect_child()
                if self.child is None:
                    if not alive and self._reread_due() and self._gone():
                        return self.move
                    if self._poller_elsewhere():
                        self._wake_other(alive)
                    elif self._warm_wanted(alive):
                        self._launch_warm()
                    elif self._lvm_should_look(alive):
                        self._spawn()
                self._pause()
        finally:
            self._close_wake_pipe(previous_fd)
            self._stop_child()
            self._stop_warm()
            self.kernel.close()

    def _check_requests(self) -> None:
        if self.stop.requested:
            self._stop_child()
            raise Interrupted(
                f"stopped by signal {self.stop.signum}; the move is intact and resumes on the next start",
                hint=f"systemctl start {self.move.ref.unit}",
            )
        if statefile.has_flag(ABORT_FLAG, self.move.uuid):
            # `lvmove abort` is at work: step aside and let LVM's abort finish.
            self._stop_child()
            self._stop_warm()
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and not self.stop.requested:
                if self._gone():
                    raise _Gone
                self._sleep(2.0)

    # ---- kernel ---------------------------------------------------------------------------------------

    def _watch_kernel(self) -> bool:
        """Read progress from the kernel and report it; False when the pvmove device is gone."""
        got = self.kernel.read(self.move.dm_name)
        if (got is None or (got.uuid and not got.uuid.startswith(self.move.pvmove.dm_uuid))
                or lvm.is_error_table(got.table)):
            # Gone, the name now belongs to another move (pvmove0 is reused), or LVM's finish has left only
            # an error LV of the same UUID there: ours is not there.
            self.progress = None
            return False
        self.table = got.table
        prog = dmstatus.progress(dmstatus.parse_table(got.table), dmstatus.parse_status(got.status),
                                 self.source_devs)
        self.progress = prog
        if got.event_nr is not None and prog.mirroring and not prog.segment_synced:
            self._arm_event_wait(got.event_nr)
        if prog.bad_legs:
            legs = ", ".join(f"{lvm.devname(dev)} ({what})" for dev, what in prog.bad_legs)
            self._stop_child()
            raise Degraded(
                f"mirror leg not healthy: {legs}; not finalizing over it",
                hint=f"check the disk, then 'lvmove abort {self.move.ref}', or repair it and 'lvmove start'",
            )
        self._report(prog)
        return True

    def _report(self, prog: dmstatus.Progress) -> None:
        move = self.move
        now = time.monotonic()
        size = move.size or prog.total * 512
        done = size * prog.percent / 100.0
        self.meter.add(now, done)
        if not self.changes or prog.done != self.changes[-1][1]:
            # The count changed somewhere since the last look: take the midpoint.
            seen = (self.last_look + now) / 2 if self.last_look else now
            self.changes.append((seen, prog.done))
        self.last_look = now
        if now - self.last_write < NOTIFY_SECONDS:
            return  # told a moment ago: keep the tick cheap
        rate = self.meter.rate()
        remaining = eta(done, size, rate)
        line = status_line(str(move.ref), prog.percent, done, size, remaining)
        poller = self.other.describe() if self.other else ("lvmove" if self.child or self.kernel_watch else "")
        if self.other:
            line += f" (polled by pid {self.other.pid})"
        self.last_write = now
        report.notify(f"STATUS={line}")
        if now - self.last_state >= STATE_SECONDS:
            self.last_state = now
            statefile.write(move.ref.instance, {
                "vg": move.ref.vg, "lv": move.ref.lv, "uuid": move.uuid, "percent": round(prog.percent, 2),
                "done_bytes": int(done), "size_bytes": size, "rate_bytes_per_s": rate,
                "eta_seconds": remaining, "poller": poller,
            })
        if now - self.last_journal >= self.config.progress_interval or (
            prog.percent - self.last_journal_percent >= 5.0 and now - self.last_journal >= 2.0
        ):
            self.last_journal = now
            self.last_journal_percent = prog.percent
            extra = f", {human_bytes(rate)}/s" if rate else ""
            report.event("progress", line + extra, self.fields, prog.percent)

    # ---- who polls --------------------------------------------------------------------------------------

    def _reread_due(self) -> bool:
        """Ask LVM again only after our poller ended, or every few seconds: lvs is not free."""
        now = time.monotonic()
        if self.reread_now or now >= self.next_reread:
            self.reread_now = False
            self.next_reread = now + REREAD_SECONDS
            return True
        return False

    def _gone(self) -> bool:
        """Re-read LVM (by UUID): True when the move has ended; raise when it was deactivated."""
        busy_before = self._poller_busy()  # a poller that finishes while lvs runs has ended when it returns
        current, self.volumes = lvm.find_by_uuid(self.move.ref.vg, self.move.uuid)
        if current is None:
            return not self._finishing(busy_before)
        from dataclasses import replace

        self.move = replace(current, baseline_on_source=self.move.baseline_on_source,
                            moved=current.moved or self.move.moved)
        if not current.active:
            if busy_before or self._poller_busy():
                # LVM's finish removes the pvmove device before it commits the metadata without the pvmove
                # LV: a poller out of its sleep is finishing, not deactivating. Read again once it is done.
                self.next_reread = time.monotonic() + 1.0
                return False
            raise Interrupted(
                f"{self.move.ref} was deactivated while moving; the move is intact",
                hint=f"resume it with 'lvmove start {self.move.ref}'",
            )
        if self.kernel_watch and self.progress is None:
            # Active in LVM but unreadable in the kernel: poll on LVM's interval instead.
            log.warning("%s: kernel mirror status unavailable; falling back to LVM interval polling every %ds",
                        self.move.ref, self.config.poll_interval)
            report.event("progress", f"{self.move.ref}: kernel status unavailable, polling every "
                         f"{self.config.poll_interval}s", self.fields)
            self.kernel_watch = False
        return False

    def _finishing(self, busy_before: bool) -> bool:
        """Between the two commits of LVM's finish the pvmove LV is an error LV of the same UUID (its device
        showing an error table until LVM deactivates it): with a poller at work that is the finish in progress,
        not yet an orphan. Read again once it is done."""
        leftover = any(lv.uuid == self.move.uuid and lv.is_error_orphan for lv in self.volumes or ())
        if leftover and (busy_before or self._poller_busy()):
            self.next_reread = time.monotonic() + 1.0
            return True
        return False

    def _poller_busy(self) -> bool:
        """Some poller of this move is alive and out of its sleep (at work: checking, checkpointing or
        finishing)."""
        if self.child is not None and self.child.poll() is None:
            return True
        other = self.other
        return other is not None and procscan.pid_alive(other.pid) and not procscan.is_sleeping(other.pid)

    def _poller_elsewhere(self) -> bool:
        """Another process polls (or is about to poll) this LV: watch only."""
        now = time.monotonic()
        if self.other is not None:
            if procscan.pid_alive(self.other.pid):
                return True
            log.info("%s: %s has ended", self.move.ref, self.other.describe())
            if self.other.pid == self.warm_pid:
                self.warm_pid = None
            self.other = None
            self.other_wakeable = False
            self.reread_now = True
            self.handover_until = now + HANDOVER_SECONDS  # e.g. vgchange handing over to lvmpolld
            self.next_scan = 0.0
            return True
        if now < self.handover_until:
            return True
        if now < self.next_scan:
            return False
        self.next_scan = now + PROC_SCAN_SECONDS
        found = procscan.other_pollers(self.move.ref, self.move.source, set()) or procscan.activators(
            self.move.ref.vg, set())
        if found:
            self._adopt(found)
            return True
        return False

    def _adopt(self, found: list[procscan.Process]) -> None:
        wakeable = [p for p in found if procscan.catches_sigchld(p.pid)]
        self.other = max(wakeable, key=lambda p: p.pid) if wakeable else found[0]
        self.other_wakeable = bool(wakeable)
        self.wake_table = ""
        if self.other_wakeable:
            log.info("%s: polled by %s; waking it when the kernel has a segment in sync", self.move.ref,
                     self.other.describe())
        else:
            log.info("%s: polled by %s; watching only", self.move.ref, self.other.describe())

    def _wake_other(self, alive: bool) -> None:
        """End the sleep of LVM's forked background poller when the kernel has a segment in sync."""
        other, prog = self.other, self.progress
        if other is None or not self.other_wakeable or not alive or prog is None:
            return
        if prog.mirroring and not prog.segment_synced:
            return
        now = time.monotonic()
        if self.table == self.wake_table and now - self.woke_at < self.config.poll_interval:
            return  # woken for this very table: give it time, then ask again on LVM's interval
        if not procscan.is_sleeping(other.pid):
            return  # busy (or just woken): a signal now could land outside LVM's sleep
        try:
            os.kill(other.pid, signal.SIGCHLD)
        except ProcessLookupError:
            return
        self.wake_table, self.woke_at = self.table, now
        self.wakes += 1
        log.debug("%s: woke pid %d (segment in sync)", self.move.ref, other.pid)

    # ---- the warm poller ------------------------------------------------------------------------------------

    def _warm_wanted(self, alive: bool) -> bool:
        return (self.kernel_watch and alive and self.progress is not None and bool(self.move.source)
                and self.warm_launches < WARM_LAUNCH_LIMIT and time.monotonic() >= self.next_spawn)

    def _launch_warm(self) -> None:
        """Have LVM fork its background poller for this move, and adopt the process that launch created
        (found by what it is, not by its argv: see procscan). Anything else it left running is stopped."""
        self.warm_launches += 1
        before = procscan.pids()
        result = lvm.start_background_poller(self.move.source, WARM_INTERVAL)
        launched = procscan.launched_pollers(self.move.source, before)
        wakeable = [p for p in launched if procscan.catches_sigchld(p.pid)]
        chosen = max(wakeable, key=lambda p: p.pid) if wakeable else None
        for proc in launched:
            if proc is not chosen:
                log.warning("%s: stopping %s: lvmove launched it and cannot wake it", self.move.ref,
                            proc.describe())
                interrupt_in_sleep(proc.pid, functools.partial(procscan.pid_alive, proc.pid), "LVM poller")
        if chosen is None:
            why = (lvm.summary(result) if not result.ok
                   else "its forked poller has no SIGCHLD handler" if launched else "no forked poller found")
            log.warning("%s: LVM's background poller did not start (%s); one lvpoll per segment instead",
                        self.move.ref, why)
            self.warm_launches = WARM_LAUNCH_LIMIT
            self.reread_now = True
            return
        self._adopt([chosen])
        self.warm_pid = chosen.pid
        self.warm_used = True
        self.next_scan = time.monotonic() + PROC_SCAN_SECONDS

    def _stop_warm(self) -> None:
        """Stop the background poller lvmove launched: SIGINT while it sleeps; never SIGKILL."""
        pid = self.warm_pid
        if pid is None:
            return
        self.warm_pid = None
        if self.other is not None and self.other.pid == pid:
            self.other = None
            self.other_wakeable = False
        interrupt_in_sleep(pid, lambda: procscan.pid_alive(pid), "LVM poller")

    def _lvm_should_look(self, alive: bool) -> bool:
        now = time.monotonic()
        if now < self.next_spawn:
            return False
        if not self.kernel_watch or not alive or self.progress is None:
            return True
        if not (self.progress.segment_synced or not self.progress.mirroring):
            return False
        if self.table == self.last_check_table:
            # LVM looked at this very table and left it: don't ask again before its own interval.
            self.next_spawn = now + self.config.poll_interval
            self.last_check_table = ""
            return False
        return True

    # ---- our lvpoll ---------------------------------------------------------------------------------------

    def _spawn(self) -> None:
        if self.spawns >= SPAWN_LIMIT:
            raise CommandFailed(f"started LVM's poller {self.spawns} times without {self.move.ref} ending",
                                hint=f"see 'journalctl -u {self.move.ref.unit}'")
        self.spawns += 1
        self.child_oneshot = self.kernel_watch and self.progress is not None
        self.last_check_table = self.table if self.child_oneshot else ""
        self.child_log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in _reap)
        self.child = runner.spawn(lvm.lvpoll_argv(self.move.ref, self.config.poll_interval), self.child_log)

    def _collect_child(self) -> None:
        child = self.child
        if child is None:
            return
        if child.poll() is not None:
            self._reap(stopped=False)
        elif self.child_oneshot and procscan.is_sleeping(child.pid):
            # lvpoll checks first, then sleeps: asleep means its checkpoint (or finish) is committed.
            self._stop_child()

    def _reap(self, *, stopped: bool) -> None:
        child = self.child
        if child is None:
            return
        rc = child.wait()
        out = ""
        if self.child_log is not None:
            self.child_log.seek(0)
            out = self.child_log.read().decode(errors="replace")
            self.child_log.close()
            self.child_log = None
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        self.child_output = lines
        for line in lines[-3:]:
            log.info("lvpoll: %s", line)
        self.child = None
        self.reread_now = True
        if stopped or rc == 0:
            self.failures = 0
            return
        self.failures += 1
        self.next_spawn = time.monotonic() + min(60.0, 2.0**self.failures)
        log.warning("%s: lvpoll exited %d: %s", self.move.ref, rc, lines[-1] if lines else "")
        if self.failures >= FAILURE_LIMIT:
            raise CommandFailed(
                f"LVM's poller failed {self.failures} times on {self.move.ref}: "
                + (lines[-1] if lines else f"exit {rc}"),
                hint=f"see 'journalctl -u {self.move.ref.unit}'",
            )

    def _stop_child(self) -> None:
        """Stop our lvpoll: SIGINT while it sleeps (LVM's safe point); never SIGKILL."""
        child = self.child
        if child is None:
            return
        if not interrupt_in_sleep(child.pid, lambda: child.poll() is None, "lvpoll"):
            self.child = None
            return
        self._reap(stopped=True)

    def _arm_event_wait(self, event_nr: int) -> None:
        """Wait for the mirror's next DM event in a helper thread (the ioctl releases the GIL), which wakes
        the loop through the wake-up pipe: the segment coming into sync is seen at once, without ticking."""
        if not (self.events_ok and self.kernel_watch and self.wake_pipe is not None):
            return
        if self.waiter is not None and self.waiter.is_alive():
            return
        name = self.move.dm_name
        writer = os.dup(self.wake_pipe[1])  # its own fd: never a reused number after the loop has closed

        def wait() -> None:
            try:
                if not self.kernel.wait_event(name, event_nr):
                    log.debug("%s: no event: device gone or no DM access", name)
            except OSError as exc:
                self.events_ok = False
                log.warning("%s: waiting for DM events failed (%s); predicting the segment's end instead",
                            name, exc)
            self.events_seen += 1
            try:
                os.write(writer, b"e")
            except OSError:
                pass
            finally:
                os.close(writer)

        self.waiter = threading.Thread(target=wait, name="dm-event", daemon=True)
        self.waiter.start()

    def _pause(self) -> None:
        """Wait for the next look: EVENT_TICK while the DM event wait is armed (the event ends the wait);
        otherwise predicted ticks, shorter as a segment nears its end; WATCH_TICK while another process polls
        and cannot be woken."""
        if self.other is not None and not self.other_wakeable:
            self._sleep(WATCH_TICK)
            return
        armed = self.waiter is not None and self.waiter.is_alive()
        self._sleep(EVENT_TICK if armed else self._tick())

    def _tick(self) -> float:
        """The kernel reports copy progress in whole regions, so the copy is ahead of what it says by the time
        since the last change times the rate: predict when the segment's last region completes from the
        moments the count changed, and look again at a third of the time still to go."""
        prog = self.progress
        if prog is not None and prog.segment_synced and self.table == self.wake_table:
            return CHECKPOINT_TICK  # LVM's poller is at this checkpoint: nothing to do until the table moves on
        if prog is None or not prog.mirroring or prog.segment_synced or len(self.changes) < 2:
            return TICK
        (t0, d0), (t1, d1) = self.changes[0], self.changes[-1]
        if t1 <= t0 or d1 <= d0:
            return TICK
        rate = (d1 - d0) / (t1 - t0)  # sectors per second, between changes of the count
        left = prog.segment_left / rate - (time.monotonic() - t1)
        return min(TICK_MAX, max(TICK_MIN, left / 3))

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once on a stop signal (the handler's byte arrives on the wake-up pipe)."""
        if self.wake_pipe is None:
            end = time.monotonic() + seconds
            while not self.stop.requested and time.monotonic() < end:
                time.sleep(min(0.5, max(0.0, end - time.monotonic())))
            return
        if self.stop.requested:
            return
        ready, _, _ = select.select([self.wake_pipe[0]], [], [], seconds)
        if ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self.wake_pipe[0], 64)

    def _open_wake_pipe(self) -> int | None:
        """Route signals to a pipe (signal.set_wakeup_fd) so that _sleep() needs no periodic wake-ups.
        Returns the previous wake-up fd to restore, or None when that is not possible (not the main thread)."""
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            previous = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except ValueError:
            os.close(r)
            os.close(w)
            return None
        self.wake_pipe = (r, w)
        return previous

    def _close_wake_pipe(self, previous: int | None) -> None:
        if self.wake_pipe is None:
            return
        signal.set_wakeup_fd(previous if previous is not None else -1)
        for fd in self.wake_pipe:
            os.close(fd)
        self.wake_pipe = None


    def stats(self) -> dict[str, str]:
        """How the move was polled, for the completion journal entry (LVMOVE_POLL_MODE, LVMOVE_POLLER_WAKES)."""
        if self.warm_used:
            mode = "warm"
        elif self.spawns and self.kernel_watch:
            mode = "lvpoll-per-segment"
        elif self.spawns:
            mode = "interval"
        else:
            mode = "watched"
        return {"LVMOVE_POLL_MODE": mode, "LVMOVE_POLLER_WAKES": str(self.wakes),
                "LVMOVE_LVPOLL_RUNS": str(self.spawns), "LVMOVE_DM_EVENTS": str(self.events_seen),
                "LVMOVE_DM_EVENTS_OK": "1" if self.events_ok and self.events_seen else "0"}


def interrupt_in_sleep(pid: int, alive: Callable[[], bool], what: str) -> bool:
    """End an LVM poller with SIGINT while it sleeps (LVM's safe point; never SIGKILL): True once it has
    ended, False when it did not reach its sleep within STOP_WAIT (it is left to finish its work)."""
    deadline = time.monotonic() + STOP_WAIT
    signalled = -10.0
    while alive():
        now = time.monotonic()
        if now > deadline:
            log.error("%s %d did not reach its sleep in %.0fs; leaving it to finish", what, pid, STOP_WAIT)
            return False
        if now - signalled > 5.0 and procscan.is_sleeping(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
            signalled = now
        time.sleep(0.02)
    return True


class _Gone(Exception):
    """Internal: the move ended while lvmove stood aside for an abort."""


def poll(move: Move, config: Config, stop: StopRequest,
         fields: report.MoveFields) -> tuple[Move, list[LogicalVolume] | None, dict[str, str]]:
    """Return the move as last seen, the VG's LVs as read when it was found gone, and how it was polled."""
    poller = Poller(move, config, stop, fields)
    try:
        final = poller.run()
    except _Gone:
        final = poller.move
    return final, poller.volumes, poller.stats()
