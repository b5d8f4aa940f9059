"""Every rule of the poll phase in one place: when LVM is asked to look, when lvmove waits, stops or gives up.

Pure: `next_action(observation, state)` reads what the loop saw (the kernel's mirror, the LVM pollers,
the requests) and the state so far, and returns one Action with the state it leaves. `after(state, outcome)`
folds in what an action found (an lvpoll's exit code, what a re-read of LVM said, a launch that failed).
Neither runs a command, reads a clock or sends a signal: poller.py does, and the table tests in
tests/test_pollrules.py check each rule as one row.

The modes (stored in PollState.mode, reported as LVMOVE_POLL_MODE):
- WARM: LVM's forked background poller, launched by lvmove, sleeps WARM_INTERVAL and is woken with SIGCHLD
  when the kernel has a segment in sync; one warm LVM process checkpoints and finishes.
- LVPOLL: one `lvpoll` per segment in sync, stopped with SIGINT in the sleep after its checkpoint (when no
  warm poller can be had: no source PV device, a launch that found no forked poller).
- INTERVAL: one long `lvpoll --interval N` as lvmpolld runs it (the kernel cannot be read, or
  `watch_kernel: false`).
- WATCHED: another process polls the LV (lvmpolld, an admin's pvmove, vgchange's poller): lvmove watches
  it and wakes it when it is LVM's forked poller; when it ends lvmove carries on in its own mode.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace

from lvmove_hooks.dmstatus import Progress

# ---- pacing of the loop (seconds) --------------------------------------------------------------------------
TICK = 0.5  # between kernel reads while nothing better predicts the next change
CHECKPOINT_TICK = 1.0  # after waking LVM's poller for a segment in sync: its checkpoint takes about this long
TICK_MIN = 0.1  # a predicted tick (a third of the time the segment still needs) stays within these bounds:
TICK_MAX = 5.0  # a rate off by less than 3x still wakes lvmove before the segment is in sync
EVENT_TICK = 15.0  # while a DM event wait is armed: only STATUS= and a dead poller need the loop
WATCH_TICK = 2.0  # while another process polls and cannot be woken: only progress to report

# ---- when LVM is asked ---------------------------------------------------------------------------------------
WARM_INTERVAL = 300  # the warm poller's own interval: lvmove wakes it; this only guards against lvmove dying
REREAD_SECONDS = 5.0  # at most one lvs per this many seconds while the pvmove device is not ours to read
FINISH_REREAD_SECONDS = 1.0  # a poller is inside LVM's finish: read again this soon
PROC_SCAN_SECONDS = 5.0  # how often to look for another poller while none is known
HANDOVER_SECONDS = 1.5  # after another poller ends, wait this long before carrying on (vgchange -> lvmpolld)
FAILURE_BACKOFF_MAX = 60.0  # after a failed lvpoll: wait 2**failures seconds, at most this
TAKEOVER_MARGIN = 10.0  # a watched poller that leaves a segment in sync longer than twice LVM's interval plus this
#                         makes no progress (seen: vgchange's poller from the initramfs, alive after switch-root,
#                         never checkpointing): lvmove runs a one-shot lvpoll itself beside it (15 s: after 40 s)

# ---- when lvmove gives up -------------------------------------------------------------------------------------
WARM_LAUNCH_LIMIT = 3  # warm pollers per unit start: a warm poller that dies is replaced twice, then LVPOLL.
#                        A launch that creates no wakeable poller means this LVM cannot give one: LVPOLL at once.
FAILURE_LIMIT = 5  # consecutive failed lvpoll runs
SPAWN_LIMIT = 10000  # lvpoll runs per unit start: a guard against a loop that never ends the move
ABORT_WAIT = 600.0  # how long to stand aside for `lvmove abort` before carrying the move again


class Mode(enum.Enum):
    WARM = "warm"
    LVPOLL = "lvpoll-per-segment"
    INTERVAL = "interval"
    WATCHED = "watched"


class Do(enum.Enum):
    """What the loop does next (poller.py has one method per member)."""

    INTERRUPTED = "stop: a stop signal came (the move is intact)"
    STAND_ASIDE = "stop our pollers and wait while `lvmove abort` ends the move"
    DEGRADED = "give up: a mirror leg is not healthy"
    GIVE_UP = "give up: LVM's poller keeps failing or looping"
    REAP = "collect our lvpoll, which has exited"
    STOP_LVPOLL = "end our one-shot lvpoll's sleep: its checkpoint is committed"
    RELEASE = "forget the poller we watched: it has ended"
    REREAD = "ask LVM (lvs, by UUID) whether the move is still there"
    SCAN = "look for another process polling this LV"
    WAKE = "end the sleep of the watched forked poller: a segment is in sync"
    TAKE_OVER = "the watched poller leaves a segment in sync: a one-shot lvpoll of lvmove's own beside it"
    LAUNCH_WARM = "have LVM fork its background poller"
    SPAWN_LVPOLL = "start an lvpoll (one-shot per segment, or on LVM's interval)"
    WAIT = "sleep until the next look (a DM event or a stop signal ends it early)"


@dataclass(frozen=True)
class Action:
    do: Do
    seconds: float = 0.0  # WAIT: how long
    oneshot: bool = False  # SPAWN_LVPOLL: stop it after its check (kernel watched) or let it run its interval
    why: str = ""


@dataclass(frozen=True)
class PollerSeen:
    """One LVM poller process as the loop saw it this round."""

    pid: int
    alive: bool
    asleep: bool  # inside its sleep: the only moment LVM takes SIGINT (and SIGCHLD wakes a forked poller)
    wakeable: bool = False  # LVM's forked background poller (SIGCHLD ends its sleep)
    ours: bool = False  # launched by lvmove (the warm poller): stopped when the unit stops
    exit_code: int | None = None  # our lvpoll only, once it has exited


@dataclass(frozen=True)
class Observation:
    now: float
    stop_requested: bool = False
    abort_requested: bool = False
    progress: Progress | None = None  # None: the pvmove device is not ours to read (gone, reused, finished)
    table: str = ""
    lvpoll: PollerSeen | None = None  # our lvpoll child
    other: PollerSeen | None = None  # the poller lvmove watches (its warm poller or another's)
    event_armed: bool = False  # a DM event wait is in flight: the mirror's next event wakes the loop
    changes: Sequence[tuple[float, float]] = ()  # (when, sectors done) each time the kernel's count changed


@dataclass(frozen=True)
class PollState:
    mode: Mode
    kernel_watch: bool = True  # False: INTERVAL for good (the kernel cannot be read)
    can_warm: bool = True  # a warm poller can be launched: the source PV's device exists, no PV is missing
    poll_interval: float = 15.0  # LVM's interval (config): the longest lvmove leaves LVM without a look
    lvpoll_oneshot: bool = False  # the running lvpoll is one-shot
    spawns: int = 0
    failures: int = 0
    warm_launches: int = 0
    wakes: int = 0
    next_spawn: float = 0.0
    next_reread: float = 0.0
    reread_now: bool = True
    next_scan: float = 0.0
    handover_until: float = 0.0
    wake_table: str = ""  # the table the watched poller was last woken for
    woke_at: float = -1e9
    last_check_table: str = ""  # the table our last one-shot lvpoll looked at
    stood_aside: bool = False  # the abort wait ran out once: carry on despite the flag
    synced_table: str = ""  # the table the kernel has shown fully in sync since synced_since
    synced_since: float = 0.0
    used: frozenset[Mode] = frozenset()


def initial(*, kernel_watch: bool, can_warm: bool, poll_interval: float) -> PollState:
    mode = own_mode(kernel_watch=kernel_watch, can_warm=can_warm, warm_launches=0)
    return PollState(mode, kernel_watch, can_warm, float(poll_interval))


def own_mode(*, kernel_watch: bool, can_warm: bool, warm_launches: int) -> Mode:
    """How lvmove carries the move itself when no other process polls it."""
    if not kernel_watch:
        return Mode.INTERVAL
    return Mode.WARM if can_warm and warm_launches < WARM_LAUNCH_LIMIT else Mode.LVPOLL


def _carry_on(state: PollState) -> Mode:
    return own_mode(kernel_watch=state.kernel_watch, can_warm=state.can_warm,
                    warm_launches=state.warm_launches)


def _segment_done(progress: Progress | None) -> bool:
    """The kernel has nothing left to copy of the current segment (or no mirror is loaded at all)."""
    return progress is not None and (progress.segment_synced or not progress.mirroring)


def next_action(obs: Observation, state: PollState) -> tuple[Action, PollState]:
    """The next thing to do, and the state it leaves. Called again at once after anything but WAIT."""
    now = obs.now
    state = _note_in_sync(obs, state)
    # 1. Requests first: a stop signal, then `lvmove abort`.
    if obs.stop_requested:
        return Action(Do.INTERRUPTED, why="stop signal"), state
    if obs.abort_requested and not state.stood_aside:
        return Action(Do.STAND_ASIDE, why="lvmove abort is at work"), state
    # 2. A mirror leg that is not healthy: LVM must not finalize over it.
    if obs.progress is not None and obs.progress.bad_legs:
        return Action(Do.DEGRADED, why="mirror leg not healthy"), state
    # 3. Our lvpoll, while it runs: collect it when it exits; a one-shot one asleep has checkpointed.
    child = obs.lvpoll
    if child is not None:
        if not child.alive:
            return Action(Do.REAP), state
        if state.lvpoll_oneshot and child.asleep:
            return Action(Do.STOP_LVPOLL), state
        return _wait(obs, state), state
    if state.failures >= FAILURE_LIMIT:
        return Action(Do.GIVE_UP, why=f"LVM's poller failed {state.failures} times"), state
    alive = obs.progress is not None
    # 4. The device is not ours to read: ask LVM whether the move has ended (not more often than REREAD_SECONDS).
    if not alive and (state.reread_now or now >= state.next_reread):
        return Action(Do.REREAD), replace(state, reread_now=False, next_reread=now + REREAD_SECONDS)
    # 5. Another process polls: watch it, and wake it when it can be woken and a segment is in sync.
    other = obs.other
    if other is not None:
        if not other.alive:
            mode = _carry_on(state)
            return Action(Do.RELEASE), replace(state, mode=mode, reread_now=True, next_scan=0.0,
                                               handover_until=now + HANDOVER_SECONDS)
        if (other.wakeable and other.asleep and _segment_done(obs.progress)
                and not (obs.table == state.wake_table and now - state.woke_at < state.poll_interval)):
            return Action(Do.WAKE), replace(state, wake_table=obs.table, woke_at=now, wakes=state.wakes + 1)
        if _stuck(obs, state):
            return _take_over(obs, state)
        return _wait(obs, state), state
    if now < state.handover_until:
        return _wait(obs, state), state
    if now >= state.next_scan:
        return Action(Do.SCAN), replace(state, next_scan=now + PROC_SCAN_SECONDS)
    # 6. Nobody polls: lvmove carries the move in its own mode.
    if now < state.next_spawn:
        return _wait(obs, state), state
    if state.mode is Mode.WARM and alive:
        return Action(Do.LAUNCH_WARM), replace(state, warm_launches=state.warm_launches + 1)
    return _lvpoll_or_wait(obs, state)


def _note_in_sync(obs: Observation, state: PollState) -> PollState:
    """Remember since when the kernel has shown this table fully in sync (LVM has work it has not done)."""
    if not _segment_done(obs.progress):
        return replace(state, synced_table="", synced_since=0.0) if state.synced_table else state
    if obs.table != state.synced_table:
        return replace(state, synced_table=obs.table, synced_since=obs.now)
    return state


def _stuck(obs: Observation, state: PollState) -> bool:
    """The watched poller has left this table in sync for longer than twice LVM's interval plus a margin."""
    return (state.kernel_watch and obs.progress is not None and obs.table == state.synced_table
            and obs.now - state.synced_since > 2 * state.poll_interval + TAKEOVER_MARGIN)


def _take_over(obs: Observation, state: PollState) -> tuple[Action, PollState]:
    """A one-shot lvpoll of lvmove's own beside the stuck poller; if LVM looked at this very table and left it,
    not again before its own interval (as for lvmove's own lvpoll)."""
    if obs.table == state.last_check_table:
        return _wait(obs, state), replace(state, next_spawn=obs.now + state.poll_interval, last_check_table="")
    if obs.now < state.next_spawn:
        return _wait(obs, state), state
    if state.spawns >= SPAWN_LIMIT:
        return Action(Do.GIVE_UP, why=f"started LVM's poller {state.spawns} times without the move ending"), state
    return Action(Do.TAKE_OVER, oneshot=True, why=f"in sync for {obs.now - state.synced_since:.0f}s"), replace(
        state, spawns=state.spawns + 1, lvpoll_oneshot=True, last_check_table=obs.table,
        used=state.used | {Mode.LVPOLL})


def _lvpoll_or_wait(obs: Observation, state: PollState) -> tuple[Action, PollState]:
    """LVPOLL/INTERVAL (or WARM while the device cannot be read): when LVM should look, start an lvpoll."""
    now = obs.now
    watched = state.kernel_watch and obs.progress is not None
    if watched and not _segment_done(obs.progress):
        return _wait(obs, state), state  # the kernel is still copying: LVM has nothing to do
    if watched and obs.table == state.last_check_table:
        # LVM looked at this very table and left it: do not ask again before its own interval.
        return _wait(obs, state), replace(state, next_spawn=now + state.poll_interval, last_check_table="")
    if state.spawns >= SPAWN_LIMIT:
        return Action(Do.GIVE_UP, why=f"started LVM's poller {state.spawns} times without the move ending"), state
    return Action(Do.SPAWN_LVPOLL, oneshot=watched), replace(
        state, spawns=state.spawns + 1, lvpoll_oneshot=watched, last_check_table=obs.table if watched else "",
        used=state.used | {Mode.LVPOLL if watched else Mode.INTERVAL})


def _wait(obs: Observation, state: PollState) -> Action:
    """How long to sleep before the next look."""
    other = obs.other
    if other is not None and other.alive and not other.wakeable:
        return Action(Do.WAIT, WATCH_TICK)
    if obs.event_armed:
        return Action(Do.WAIT, EVENT_TICK)
    return Action(Do.WAIT, predicted_tick(obs, state))


def predicted_tick(obs: Observation, state: PollState) -> float:
    """The kernel reports copy progress in whole regions, so the copy is ahead of what it says by the time
    since the last change times the rate: predict when the segment's last region completes from the moments
    the count changed, and look again at a third of the time still to go."""
    prog = obs.progress
    if prog is not None and prog.segment_synced and obs.table == state.wake_table:
        return CHECKPOINT_TICK  # LVM's poller is at this checkpoint: nothing to do until the table moves on
    if prog is None or not prog.mirroring or prog.segment_synced or len(obs.changes) < 2:
        return TICK
    (t0, d0), (t1, d1) = obs.changes[0], obs.changes[-1]
    if t1 <= t0 or d1 <= d0:
        return TICK
    rate = (d1 - d0) / (t1 - t0)  # sectors per second, between changes of the count
    left = prog.segment_left / rate - (obs.now - t1)
    return min(TICK_MAX, max(TICK_MIN, left / 3))


# ---- what an action found ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reaped:
    """Our lvpoll has been collected: its exit code, or stopped=True when lvmove ended its sleep."""

    exit_code: int
    stopped: bool = False


@dataclass(frozen=True)
class Launched:
    """A warm launch: ok when it created a forked poller lvmove can wake (now the watched one)."""

    ok: bool


@dataclass(frozen=True)
class Found:
    """A scan for other pollers: wakeable when the one found is LVM's forked background poller."""

    found: bool
    wakeable: bool = False


@dataclass(frozen=True)
class Reread:
    """What LVM said about the move, by its UUID. `busy`: a poller of the move was out of its sleep (at work)
    before or after the report; `leftover`: the VG holds an error LV of the move's UUID (what LVM's finish
    leaves between its two commits)."""

    present: bool
    active: bool = True
    leftover: bool = False
    busy: bool = False


class Verdict(enum.Enum):
    GONE = "the move has ended"
    FINISHING = "LVM's finish is under way: read again soon"
    DEACTIVATED = "the move was deactivated while moving"
    THERE = "the move is still there"


def after(state: PollState, outcome: Reaped | Launched | Found, now: float) -> PollState:
    """Fold what REAP/STOP_LVPOLL, LAUNCH_WARM or SCAN found into the state."""
    if isinstance(outcome, Reaped):
        if outcome.stopped or outcome.exit_code == 0:
            return replace(state, failures=0, reread_now=True)
        failures = state.failures + 1
        return replace(state, failures=failures, reread_now=True,
                       next_spawn=now + min(FAILURE_BACKOFF_MAX, 2.0**failures))
    if isinstance(outcome, Launched):
        if outcome.ok:
            return replace(state, mode=Mode.WATCHED, wake_table="", next_scan=now + PROC_SCAN_SECONDS,
                           used=state.used | {Mode.WARM})
        # This LVM gives no wakeable forked poller: one lvpoll per segment from now on.
        return replace(state, mode=Mode.LVPOLL, warm_launches=WARM_LAUNCH_LIMIT, reread_now=True)
    if outcome.found:
        return replace(state, mode=Mode.WATCHED, wake_table="", used=state.used | {Mode.WATCHED})
    return state


def judge(state: PollState, seen: Reread, *, now: float) -> tuple[Verdict, PollState]:
    """What a re-read of LVM means. Between the two commits of LVM's finish the pvmove LV is an error LV of the
    same UUID, and before its last commit the device is gone while the LV is still listed inactive: with a
    poller at work either is the finish in progress, not an orphan or a deactivation. LVM is re-read only while
    the device is not ours to read: a move LVM calls active is then one the kernel cannot show."""
    soon = replace(state, next_reread=now + FINISH_REREAD_SECONDS)
    if not seen.present:
        return (Verdict.FINISHING, soon) if seen.leftover and seen.busy else (Verdict.GONE, state)
    if not seen.active:
        return (Verdict.FINISHING, soon) if seen.busy else (Verdict.DEACTIVATED, state)
    if state.kernel_watch:
        # Active in LVM but unreadable in the kernel: poll on LVM's interval instead, for good.
        return Verdict.THERE, replace(state, kernel_watch=False,
                                      mode=Mode.WATCHED if state.mode is Mode.WATCHED else Mode.INTERVAL)
    return Verdict.THERE, state


def mode_used(state: PollState) -> Mode:
    """The mode the completion journal entry names: how lvmove (or another poller) carried the move."""
    for mode in (Mode.WARM, Mode.LVPOLL, Mode.INTERVAL):
        if mode in state.used:
            return mode
    return Mode.WATCHED
