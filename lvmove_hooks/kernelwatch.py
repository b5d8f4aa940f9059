"""What the poll phase sees of the kernel: the pvmove device's mirror table and status (DM ioctls, no VG lock),
whether it is still our move (dm.owned), the DM event wait that wakes the loop when a mirror comes into sync,
and the sleep between looks, which a stop signal or that event ends early (signal.set_wakeup_fd on one pipe).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lvmove_hooks import dm
from lvmove_hooks.dmstatus import Progress
from lvmove_hooks.model import Move

log = logging.getLogger("lvmove.poller")

CHANGES_KEPT = 8  # moments the kernel's count changed, for the predicted tick


@dataclass(frozen=True)
class Seen:
    progress: Progress | None  # None: the device is not our move (see dm.owned)
    table: str = ""


@dataclass
class KernelWatch:
    kernel: dm.Kernel = field(default_factory=dm.Kernel)
    events_wanted: bool = True  # False: never wait for DM events (the kernel is not watched)
    events_ok: bool = True  # False once a wait failed: predicted ticks only
    events_seen: int = 0
    changes: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=CHANGES_KEPT))
    last_look: float = 0.0
    wake_pipe: tuple[int, int] | None = None
    waiter: threading.Thread | None = None  # blocked in DM_DEV_WAIT until the mirror raises an event

    @contextlib.contextmanager
    def opened(self) -> Iterator[KernelWatch]:
        """Route signals to the wake-up pipe for the loop's lifetime (main thread only; elsewhere the sleep
        polls the stop flag), and close the DM control fd at the end."""
        previous = self._open_wake_pipe()
        try:
            yield self
        finally:
            self._close_wake_pipe(previous)
            self.kernel.close()

    def look(self, move: Move, sources: frozenset[str], now: float) -> Seen:
        got = dm.owned(move, self.kernel.read(move.dm_name))
        if got is None:
            return Seen(None)
        prog = dm.progress_of(move, got, sources)
        assert prog is not None
        if not self.changes or prog.done != self.changes[-1][1]:
            # The count changed somewhere since the last look: take the midpoint.
            self.changes.append(((self.last_look + now) / 2 if self.last_look else now, prog.done))
        self.last_look = now
        if got.event_nr is not None and prog.mirroring and not prog.segment_synced:
            self._arm(move.dm_name, got.event_nr)
        return Seen(prog, got.table)

    @property
    def armed(self) -> bool:
        return self.waiter is not None and self.waiter.is_alive()

    def _arm(self, name: str, event_nr: int) -> None:
        """Wait for the mirror's next DM event in a helper thread (the ioctl releases the GIL), which wakes
        the loop through the wake-up pipe: the segment coming into sync is seen at once, without ticking."""
        if not (self.events_ok and self.events_wanted and self.wake_pipe is not None) or self.armed:
            return
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

    def sleep(self, seconds: float, stopped: Callable[[], bool]) -> None:
        """Sleep, but wake at once on a signal (its byte arrives on the wake-up pipe) or a DM event."""
        if self.wake_pipe is None:
            end = time.monotonic() + seconds
            while not stopped() and time.monotonic() < end:
                time.sleep(min(0.5, max(0.0, end - time.monotonic())))
            return
        if stopped():
            return
        ready, _, _ = select.select([self.wake_pipe[0]], [], [], seconds)
        if ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self.wake_pipe[0], 64)

    def _open_wake_pipe(self) -> int | None:
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            previous = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except ValueError:  # not the main thread
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
        return {"LVMOVE_DM_EVENTS": str(self.events_seen),
                "LVMOVE_DM_EVENTS_OK": "1" if self.events_ok and self.events_seen else "0"}
