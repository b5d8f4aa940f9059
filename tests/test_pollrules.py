"""pollrules: every rule of the poll phase as one row (no process, no clock)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lvmove_hooks import pollrules as r
from lvmove_hooks.dmstatus import Progress
from lvmove_hooks.pollrules import Do, Mode, Observation, PollerSeen, PollState


def progress(*, synced: bool = False, mirroring: bool = True, bad: tuple[tuple[str, str], ...] = (),
             left: int = 4096) -> Progress:
    return Progress(done=8192 - (0 if synced else left), total=16384, mirroring=mirroring,
                    segment_synced=synced, segment_left=0 if synced else left, bad_legs=bad)


NOW = 1000.0
COPYING = progress()
SYNCED = progress(synced=True)
WARM = r.initial(kernel_watch=True, can_warm=True, poll_interval=15)
LVPOLL = replace(WARM, mode=Mode.LVPOLL, warm_launches=r.WARM_LAUNCH_LIMIT)
INTERVAL = r.initial(kernel_watch=False, can_warm=True, poll_interval=15)
# A state that has read LVM and scanned /proc a moment ago: nothing of that is due.
SETTLED = replace(WARM, reread_now=False, next_reread=NOW + 3, next_scan=NOW + 3)
ASLEEP_FORKED = PollerSeen(pid=7, alive=True, asleep=True, wakeable=True, ours=True)
AWAKE_FORKED = replace(ASLEEP_FORKED, asleep=False)
LVMPOLLD = PollerSeen(pid=9, alive=True, asleep=True)


def obs(**kw: object) -> Observation:
    base = {"now": NOW, "progress": COPYING, "table": "T1"}
    base.update(kw)
    return Observation(**base)  # type: ignore[arg-type]


# (why, observation, state, what it does)
ROWS: list[tuple[str, Observation, PollState, Do]] = [
    ("a stop signal comes first", obs(stop_requested=True, abort_requested=True), SETTLED, Do.INTERRUPTED),
    ("lvmove abort at work: stand aside", obs(abort_requested=True), SETTLED, Do.STAND_ASIDE),
    ("abort wait ran out once: carry on", obs(abort_requested=True, other=AWAKE_FORKED),
     replace(SETTLED, stood_aside=True), Do.WAIT),
    ("unhealthy leg: give up before anything else",
     obs(progress=progress(bad=(("8:16", "D"),)), lvpoll=PollerSeen(5, True, False)), SETTLED, Do.DEGRADED),
    ("our lvpoll exited: reap it", obs(lvpoll=PollerSeen(5, False, False, exit_code=0)), SETTLED, Do.REAP),
    ("one-shot lvpoll asleep: its checkpoint is committed",
     obs(lvpoll=PollerSeen(5, True, True)), replace(SETTLED, lvpoll_oneshot=True), Do.STOP_LVPOLL),
    ("interval lvpoll asleep: let it sleep", obs(lvpoll=PollerSeen(5, True, True)), SETTLED, Do.WAIT),
    ("lvpoll at work: wait", obs(lvpoll=PollerSeen(5, True, False)), replace(SETTLED, lvpoll_oneshot=True),
     Do.WAIT),
    ("too many failed lvpolls: give up", obs(), replace(SETTLED, failures=r.FAILURE_LIMIT), Do.GIVE_UP),
    ("device not ours, first look: ask LVM", obs(progress=None), WARM, Do.REREAD),
    ("device not ours, asked a moment ago: not again yet", obs(progress=None, other=AWAKE_FORKED), SETTLED,
     Do.WAIT),
    ("device not ours, REREAD_SECONDS later: ask again", obs(progress=None, now=NOW + 3.1), SETTLED, Do.REREAD),
    ("watched poller ended: release it", obs(other=replace(ASLEEP_FORKED, alive=False)), SETTLED, Do.RELEASE),
    ("forked poller asleep, segment in sync: wake it", obs(progress=SYNCED, other=ASLEEP_FORKED), SETTLED,
     Do.WAKE),
    ("no mirror loaded at all (between segments): wake it",
     obs(progress=progress(mirroring=False), other=ASLEEP_FORKED), SETTLED, Do.WAKE),
    ("forked poller asleep, still copying: wait", obs(other=ASLEEP_FORKED), SETTLED, Do.WAIT),
    ("forked poller at work (awake): no signal outside its sleep", obs(progress=SYNCED, other=AWAKE_FORKED),
     SETTLED, Do.WAIT),
    ("woken for this very table a moment ago: give it time",
     obs(progress=SYNCED, other=ASLEEP_FORKED), replace(SETTLED, wake_table="T1", woke_at=NOW - 1), Do.WAIT),
    ("woken for this table one LVM interval ago: wake again",
     obs(progress=SYNCED, other=ASLEEP_FORKED), replace(SETTLED, wake_table="T1", woke_at=NOW - 16), Do.WAKE),
    ("lvmpolld's lvpoll (not wakeable): watch only", obs(progress=SYNCED, other=LVMPOLLD), SETTLED, Do.WAIT),
    ("initramfs poller alive but in sync past LVM's interval + margin: take over",
     obs(progress=SYNCED, other=LVMPOLLD), replace(SETTLED, synced_table="T1", synced_since=NOW - 41),
     Do.TAKE_OVER),
    ("in sync, but not yet past LVM's interval + margin: watch", obs(progress=SYNCED, other=LVMPOLLD),
     replace(SETTLED, synced_table="T1", synced_since=NOW - 39), Do.WAIT),
    ("took over this very table already: not again before LVM's interval", obs(progress=SYNCED, other=LVMPOLLD),
     replace(SETTLED, synced_table="T1", synced_since=NOW - 100, last_check_table="T1"), Do.WAIT),
    ("right after a handover: wait", obs(), replace(SETTLED, handover_until=NOW + 1), Do.WAIT),
    ("nobody polls, scan due: look for another poller", obs(), replace(SETTLED, next_scan=NOW), Do.SCAN),
    ("nobody polls, warm mode: launch the warm poller", obs(), SETTLED, Do.LAUNCH_WARM),
    ("backing off after a failure: wait", obs(progress=SYNCED),
     replace(SETTLED, mode=Mode.LVPOLL, next_spawn=NOW + 4), Do.WAIT),
    ("lvpoll mode, still copying: LVM has nothing to do", obs(), replace(SETTLED, mode=Mode.LVPOLL), Do.WAIT),
    ("lvpoll mode, segment in sync: one-shot lvpoll", obs(progress=SYNCED), replace(SETTLED, mode=Mode.LVPOLL),
     Do.SPAWN_LVPOLL),
    ("lvpoll mode, LVM already looked at this table: not before its interval", obs(progress=SYNCED),
     replace(SETTLED, mode=Mode.LVPOLL, last_check_table="T1"), Do.WAIT),
    ("spawn limit reached: give up", obs(progress=SYNCED),
     replace(SETTLED, mode=Mode.LVPOLL, spawns=r.SPAWN_LIMIT), Do.GIVE_UP),
    ("interval mode: one long lvpoll whatever the kernel says", obs(progress=None),
     replace(INTERVAL, reread_now=False, next_reread=NOW + 3, next_scan=NOW + 3), Do.SPAWN_LVPOLL),
    ("warm mode, device not readable: an lvpoll on LVM's interval", obs(progress=None), SETTLED,
     Do.SPAWN_LVPOLL),
]


@pytest.mark.parametrize(("why", "observation", "state", "expected"), ROWS, ids=[row[0] for row in ROWS])
def test_next_action(why: str, observation: Observation, state: PollState, expected: Do) -> None:
    action, _ = r.next_action(observation, state)
    assert action.do is expected, why


def test_every_action_has_a_row() -> None:
    """Each thing the loop can do is reached by some row (WAIT and the give-ups included)."""
    assert {row[3] for row in ROWS} == set(Do)


def test_spawn_is_one_shot_only_while_the_kernel_is_watched() -> None:
    action, state = r.next_action(obs(progress=SYNCED), replace(SETTLED, mode=Mode.LVPOLL))
    assert action.oneshot and state.lvpoll_oneshot and state.last_check_table == "T1" and state.spawns == 1
    action, state = r.next_action(obs(progress=None), replace(INTERVAL, reread_now=False, next_reread=NOW + 3,
                                                              next_scan=NOW + 3))
    assert not action.oneshot and not state.lvpoll_oneshot and Mode.INTERVAL in state.used


def test_reread_is_rate_limited() -> None:
    action, state = r.next_action(obs(progress=None), WARM)
    assert action.do is Do.REREAD and state.next_reread == NOW + r.REREAD_SECONDS and not state.reread_now


def test_a_table_lvm_left_waits_one_interval() -> None:
    action, state = r.next_action(obs(progress=SYNCED), replace(SETTLED, mode=Mode.LVPOLL, last_check_table="T1"))
    assert action.do is Do.WAIT and state.next_spawn == NOW + 15 and state.last_check_table == ""


def test_wake_is_remembered() -> None:
    _, state = r.next_action(obs(progress=SYNCED, other=ASLEEP_FORKED), SETTLED)
    assert (state.wake_table, state.woke_at, state.wakes) == ("T1", NOW, 1)


def test_release_carries_on_in_the_own_mode_after_a_handover() -> None:
    watched = replace(SETTLED, mode=Mode.WATCHED, warm_launches=1)
    _, state = r.next_action(obs(other=replace(LVMPOLLD, alive=False)), watched)
    assert state.mode is Mode.WARM and state.reread_now and state.handover_until == NOW + r.HANDOVER_SECONDS
    _, state = r.next_action(obs(other=replace(LVMPOLLD, alive=False)),
                             replace(watched, warm_launches=r.WARM_LAUNCH_LIMIT))
    assert state.mode is Mode.LVPOLL


def test_time_in_sync_is_tracked_per_table() -> None:
    _, state = r.next_action(obs(progress=SYNCED, other=LVMPOLLD), SETTLED)
    assert (state.synced_table, state.synced_since) == ("T1", NOW)
    _, later = r.next_action(obs(progress=SYNCED, other=LVMPOLLD, now=NOW + 10), state)
    assert later.synced_since == NOW, "the same table stays in sync since its first sight"
    _, moved_on = r.next_action(obs(progress=SYNCED, other=LVMPOLLD, table="T2", now=NOW + 11), later)
    assert (moved_on.synced_table, moved_on.synced_since) == ("T2", NOW + 11)
    _, copying = r.next_action(obs(other=LVMPOLLD, table="T2", now=NOW + 12), moved_on)
    assert copying.synced_table == ""
    action, state = r.next_action(obs(progress=SYNCED, other=LVMPOLLD, table="T2", now=NOW + 60), moved_on)
    assert action.do is Do.TAKE_OVER and action.oneshot and state.last_check_table == "T2" and state.spawns == 1
    action, state = r.next_action(obs(progress=SYNCED, other=LVMPOLLD, table="T2", now=NOW + 61), state)
    assert action.do is Do.WAIT and state.next_spawn == NOW + 61 + 15, "LVM looked and left it: one interval"


# ---- what actions found --------------------------------------------------------------------------------------

def test_failed_lvpolls_back_off_and_count_up_to_the_limit() -> None:
    state = SETTLED
    for n in range(1, r.FAILURE_LIMIT + 1):
        state = r.after(state, r.Reaped(5), NOW)
        assert state.failures == n and state.next_spawn == NOW + min(r.FAILURE_BACKOFF_MAX, 2.0**n)
    assert r.next_action(obs(), state)[0].do is Do.GIVE_UP
    assert r.after(state, r.Reaped(0), NOW).failures == 0
    assert r.after(state, r.Reaped(5, stopped=True), NOW).failures == 0, "stopped in its sleep is no failure"


def test_a_launch_without_a_wakeable_poller_means_lvpoll_per_segment_at_once() -> None:
    state = r.after(replace(SETTLED, warm_launches=1), r.Launched(False), NOW)
    assert state.mode is Mode.LVPOLL and state.warm_launches == r.WARM_LAUNCH_LIMIT
    state = r.after(SETTLED, r.Launched(True), NOW)
    assert state.mode is Mode.WATCHED and Mode.WARM in state.used and state.next_scan == NOW + r.PROC_SCAN_SECONDS


def test_a_dying_warm_poller_is_replaced_up_to_the_limit() -> None:
    state = SETTLED
    for _ in range(r.WARM_LAUNCH_LIMIT):
        action, state = r.next_action(obs(), state)
        assert action.do is Do.LAUNCH_WARM
        state = r.after(state, r.Launched(True), NOW)
        _, state = r.next_action(obs(other=replace(ASLEEP_FORKED, alive=False)), state)  # it died
        state = replace(state, handover_until=0.0, next_scan=NOW + 3)
    action, state = r.next_action(obs(progress=SYNCED), state)
    assert state.mode is Mode.LVPOLL and action.do is Do.SPAWN_LVPOLL


@pytest.mark.parametrize(("seen", "verdict"), [
    (r.Reread(present=False), r.Verdict.GONE),
    (r.Reread(present=False, leftover=True, busy=True), r.Verdict.FINISHING),
    (r.Reread(present=False, leftover=True, busy=False), r.Verdict.GONE),  # an orphan: the verification's
    (r.Reread(present=True, active=False, busy=True), r.Verdict.FINISHING),
    (r.Reread(present=True, active=False, busy=False), r.Verdict.DEACTIVATED),
    (r.Reread(present=True, active=True), r.Verdict.THERE),
], ids=["gone", "finish between its commits", "orphan after the finish", "finish removed the device",
        "deactivated", "there"])
def test_judge(seen: r.Reread, verdict: r.Verdict) -> None:
    got, state = r.judge(SETTLED, seen, now=NOW)
    assert got is verdict
    if verdict is r.Verdict.FINISHING:
        assert state.next_reread == NOW + r.FINISH_REREAD_SECONDS


def test_an_active_move_the_kernel_cannot_show_falls_back_to_interval_for_good() -> None:
    _, state = r.judge(SETTLED, r.Reread(present=True), now=NOW)
    assert not state.kernel_watch and state.mode is Mode.INTERVAL
    assert r.own_mode(kernel_watch=False, can_warm=True, warm_launches=0) is Mode.INTERVAL


def test_no_source_device_means_no_warm_poller() -> None:
    assert r.initial(kernel_watch=True, can_warm=False, poll_interval=15).mode is Mode.LVPOLL


@pytest.mark.parametrize(("used", "named"), [
    ({Mode.WARM, Mode.WATCHED}, Mode.WARM), ({Mode.LVPOLL}, Mode.LVPOLL), ({Mode.INTERVAL}, Mode.INTERVAL),
    (set(), Mode.WATCHED), ({Mode.WATCHED}, Mode.WATCHED)])
def test_mode_named_in_the_completion_entry(used: set[Mode], named: Mode) -> None:
    assert r.mode_used(replace(SETTLED, used=frozenset(used))) is named


# ---- the pace ------------------------------------------------------------------------------------------------

def test_tick_is_a_third_of_the_predicted_time_left() -> None:
    # 1024 sectors per second between changes; 4096 left, last change 1 s ago: 3 s left -> look in 1 s.
    o = obs(changes=((NOW - 3, 0.0), (NOW - 1, 2048.0)), progress=progress(left=4096))
    assert r.predicted_tick(o, SETTLED) == pytest.approx(1.0)
    assert r.predicted_tick(obs(changes=((NOW - 3, 0.0), (NOW - 1, 2048.0)), progress=progress(left=10**9)),
                            SETTLED) == r.TICK_MAX
    assert r.predicted_tick(obs(changes=((NOW - 3, 0.0), (NOW - 1, 2048.0)), progress=progress(left=1)),
                            SETTLED) == r.TICK_MIN
    assert r.predicted_tick(obs(changes=((NOW, 0.0),)), SETTLED) == r.TICK, "one change predicts nothing"


@pytest.mark.parametrize(("observation", "state", "seconds"), [
    (obs(other=LVMPOLLD), SETTLED, r.WATCH_TICK),
    (obs(event_armed=True, other=ASLEEP_FORKED), SETTLED, r.EVENT_TICK),
    (obs(progress=SYNCED, other=AWAKE_FORKED), replace(SETTLED, wake_table="T1"), r.CHECKPOINT_TICK),
    (obs(other=AWAKE_FORKED), SETTLED, r.TICK),
], ids=["unwakeable poller", "event armed", "at a checkpoint", "nothing predicts"])
def test_wait_lengths(observation: Observation, state: PollState, seconds: float) -> None:
    action, _ = r.next_action(observation, state)
    assert action.do is Do.WAIT and action.seconds == seconds
