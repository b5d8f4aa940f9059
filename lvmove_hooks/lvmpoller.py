"""One LVM poller process's lifetime: lvmove's own `lvpoll`, the forked background poller lvmove launched
(the warm poller), or another's poller it watches. Asleep?, wake (SIGCHLD), interrupt in its sleep (SIGINT,
LVM's safe point; never SIGKILL), reap. Cleanup is entered on the caller's ExitStack.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

from lvmove_hooks import procscan, runner
from lvmove_hooks.pollrules import PollerSeen

log = logging.getLogger("lvmove.poller")

STOP_WAIT = 120.0  # how long to wait for an LVM poller to reach its sleep before leaving it to finish
SIGNAL_AGAIN = 5.0  # a SIGINT LVM deferred (it blocks signals while it holds the VG lock) is sent again


def interrupt_in_sleep(pid: int, alive: Callable[[], bool], what: str, wait: float = STOP_WAIT,
                       on_signal: Callable[[], None] | None = None) -> bool:
    """End an LVM process with SIGINT while it sleeps: True once it has ended (by the signal or by itself),
    False when it did not reach its sleep within `wait` seconds (it is left to finish its work). `on_signal`
    is called for each SIGINT sent."""
    deadline = time.monotonic() + wait
    signalled = -1e9
    while alive():
        now = time.monotonic()
        if now > deadline:
            log.error("%s %d did not reach its sleep in %.0fs; leaving it to finish", what, pid, wait)
            return False
        if now - signalled > SIGNAL_AGAIN and procscan.is_sleeping(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
                if on_signal is not None:
                    on_signal()
            signalled = now
        time.sleep(0.02)
    return True


@dataclass
class Watched:
    """A poller lvmove did not start as its child: its warm poller (`ours`) or another's."""

    proc: procscan.Process
    wakeable: bool
    ours: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def describe(self) -> str:
        return self.proc.describe()

    def seen(self) -> PollerSeen:
        alive = procscan.pid_alive(self.pid)
        return PollerSeen(self.pid, alive, alive and procscan.is_sleeping(self.pid), self.wakeable, self.ours)

    def busy(self) -> bool:
        """Alive and out of its sleep: checking, checkpointing or finishing."""
        return procscan.pid_alive(self.pid) and not procscan.is_sleeping(self.pid)

    def wake(self) -> bool:
        """End its sleep with SIGCHLD (LVM's forked poller handles it and checks at once), only while asleep."""
        if not (self.wakeable and procscan.is_sleeping(self.pid)):
            return False
        try:
            os.kill(self.pid, signal.SIGCHLD)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        """Only for lvmove's own warm poller; another's poller is never stopped by lvmove."""
        if self.ours:
            interrupt_in_sleep(self.pid, lambda: procscan.pid_alive(self.pid), "LVM poller")


def adopt(found: Sequence[procscan.Process], *, ours: bool = False) -> Watched:
    """Of the pollers found, the one to watch: the newest that SIGCHLD wakes, else the first."""
    wakeable = [p for p in found if procscan.catches_sigchld(p.pid)]
    chosen = max(wakeable, key=lambda p: p.pid) if wakeable else found[0]
    return Watched(chosen, bool(wakeable), ours)


def launch_warm(source_pv: str, interval: int) -> tuple[Watched | None, str]:
    """Have LVM fork its background poller for the move off `source_pv` and return the process that launch
    created (found by what it is, not by its argv: see procscan) if SIGCHLD wakes it, else None and why.
    Anything else the launch left running is stopped: lvmove cannot wake it and would leave it behind."""
    from lvmove_hooks import lvm  # lvm.py uses interrupt_in_sleep from here

    before = procscan.pids()
    result = lvm.start_background_poller(source_pv, interval)
    launched = procscan.launched_pollers(source_pv, before)
    chosen = adopt(launched, ours=True) if launched else None
    if chosen is not None and not chosen.wakeable:
        chosen = None
    for proc in launched:
        if chosen is None or proc.pid != chosen.pid:
            log.warning("stopping %s: lvmove launched it and cannot wake it", proc.describe())
            interrupt_in_sleep(proc.pid, functools.partial(procscan.pid_alive, proc.pid), "LVM poller")
    if chosen is not None:
        return chosen, ""
    return None, (lvm.summary(result) if not result.ok
                  else "its forked poller has no SIGCHLD handler" if launched else "no forked poller found")


@dataclass
class Lvpoll:
    """lvmove's own `lvm lvpoll` child, its output kept in a temporary file."""

    proc: subprocess.Popen[str]
    output: IO[bytes]
    oneshot: bool
    lines: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, argv: list[str], *, oneshot: bool) -> Lvpoll:
        output = tempfile.TemporaryFile()  # noqa: SIM115 (closed in reap)
        return cls(runner.spawn(argv, output), output, oneshot)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def seen(self) -> PollerSeen:
        code = self.proc.poll()
        return PollerSeen(self.pid, code is None, code is None and procscan.is_sleeping(self.pid),
                          exit_code=code)

    def busy(self) -> bool:
        return self.proc.poll() is None and not procscan.is_sleeping(self.pid)

    def reap(self) -> int:
        """Collect the exited process: its exit code; its last lines go to the log."""
        code = self.proc.wait()
        self.output.seek(0)
        text = self.output.read().decode(errors="replace")
        self.output.close()
        self.lines = [line.strip() for line in text.splitlines() if line.strip()]
        for line in self.lines[-3:]:
            log.info("lvpoll: %s", line)
        return code

    def stop(self) -> bool:
        """SIGINT in its sleep; True once it has ended (then reap it), False when it was left to finish."""
        return interrupt_in_sleep(self.pid, lambda: self.proc.poll() is None, "lvpoll")

    @property
    def last_line(self) -> str:
        return self.lines[-1] if self.lines else ""
