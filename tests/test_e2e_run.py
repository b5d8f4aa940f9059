"""End-to-end: `lvmove run VG/LV` (the unit body) against the fake LVM in tests/fake/."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time

import fakelvm
import pytest
from fakesystem import INTERVAL_CONFIG, FakeSystem

from lvmove_hooks import procscan

LVPOLL_WATCH = ["lvm", "lvpoll", "--polloperation", "pvmove", "--interval", "60", "vg/pvmove0"]
LVPOLL_INTERVAL = ["lvm", "lvpoll", "--polloperation", "pvmove", "--interval", "1", "vg/pvmove0"]


def assert_finished(fake: FakeSystem) -> None:
    """pvmove0 gone, every moved LV unlocked and on the destination."""
    assert fake.lv_state("vg", "pvmove0") is None
    for name in ("data", "logs"):
        lv = fake.lv_state("vg", name)
        assert lv is not None and lv["locked"] is False
    assert fake.devices_of("vg", "data") == ["/dev/sdb", "/dev/sdc", "/dev/sdb"]
    assert fake.devices_of("vg", "logs") == ["/dev/sdb"]


def assert_intact(fake: FakeSystem) -> None:
    """The move is still there and consistent: pvmove0 present, moved LVs LOCKED and mapped on it."""
    move = fake.lv_state("vg", "pvmove0")
    assert move is not None and move["pvmove"]
    for name in ("data", "logs"):
        lv = fake.lv_state("vg", name)
        assert lv is not None and lv["locked"] is True
    assert fake.devices_of("vg", "data") == ["pvmove0", "/dev/sdc", "pvmove0"]
    assert fake.devices_of("vg", "logs") == ["pvmove0"]


def assert_lvpolls_stopped_safely(fake: FakeSystem) -> None:
    """Every SIGINT lvpoll got arrived in its sleep, and no lvpoll is left running."""
    assert fake.events("sigint-outside-sleep") == [], "SIGINT reached lvpoll outside its sleep"
    assert all(e["outside"] == 0 for e in fake.events("lvpoll-interrupted"))
    assert fake.running_lvm() == [], "an LVM poller is still running"


def lvpoll_pids(fake: FakeSystem) -> list[int]:
    return [c["pid"] for c in fake.commands() if c["argv"][:2] == ["lvm", "lvpoll"]]


# ---- finishing ------------------------------------------------------------------------------------------------

WARM = ["lvm", "pvmove", "--config", "global/use_lvmpolld=0", "-b", "--alloc", "normal", "-i", "300", "/dev/sda",
        "/dev/sda"]


def test_under_systemd_each_event_is_said_once(fake_system: FakeSystem) -> None:
    """In the unit, stdout goes to the journal beside the structured event: "completed" must not appear twice
    (here the journal socket is absent, so the event itself goes to stderr, once)."""
    fake_system.standard()
    result = fake_system.lvmove("run", "vg/pvmove0", env={"INVOCATION_ID": "0123456789abcdef"})
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr
    assert said.count("completed: 2 LV(s), 48.0 MiB moved from /dev/sda to /dev/sdb") == 1, said


@pytest.mark.lvm_versions()
def test_run_kernel_watch_finishes_with_one_warm_poller_woken_per_segment(fake_system: FakeSystem) -> None:
    fake_system.standard()
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "vg/pvmove0: completed: 2 LV(s), 48.0 MiB moved from /dev/sda to /dev/sdb" in result.stdout
    assert "by-segment move of 2 LV(s), 48.0 MiB from /dev/sda to /dev/sdb" in result.stderr
    # LVM forked one background poller (sleeping 300 s between checks), lvmove woke it with SIGCHLD as each
    # segment came into sync, and that one process checkpointed twice and finished: no lvpoll at all.
    assert fake_system.argvs("lvm", "pvmove") == [WARM]
    assert fake_system.argvs("lvm", "lvpoll") == []
    assert [e["checkpointed"] for e in fake_system.events("checkpoint")] == [1, 2]
    assert len(fake_system.events("finished")) == 1
    woken = fake_system.events("poller-woken")
    assert len(woken) == 1 and woken[0]["count"] >= 2, woken  # the first check may find a segment in sync
    assert fake_system.events("lvpoll-interrupted") == []
    assert_lvpolls_stopped_safely(fake_system)
    assert_finished(fake_system)
    assert not (fake_system.rundir / "vg-pvmove0.json").exists(), "progress file left behind"


def test_finish_window_is_not_taken_for_a_deactivation(fake_system: FakeSystem) -> None:
    """LVM's finish removes the pvmove device a moment before it commits the metadata without the pvmove LV;
    lvmove, reading LVM in that moment, sees an inactive move while the poller is at work: it waits."""
    fake_system.standard()
    with fake_system.edit() as state:
        state["finish_window"] = 60.0  # 3 s real between the device going and the commit
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "completed:" in result.stdout
    assert "deactivated" not in result.stderr
    assert_lvpolls_stopped_safely(fake_system)
    assert_finished(fake_system)


@pytest.mark.lvm_versions("2.03.31")
def test_the_finish_between_its_two_commits_is_not_taken_for_an_orphan(fake_system: FakeSystem) -> None:
    """After the finish's first commit the pvmove LV is an error LV of the same UUID (its device an error
    table, then no device) until the second commit removes it: while LVM's poller is at that, lvmove waits."""
    fake_system.standard()
    with fake_system.edit() as state:
        state["finish_error_window"] = 40.0  # 2 s real between the two commits
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "completed: 2 LV(s), 48.0 MiB moved from /dev/sda to /dev/sdb" in result.stdout
    assert "orphan" not in result.stdout + result.stderr
    assert fake_system.argvs("lvm", "lvremove") == []
    assert_lvpolls_stopped_safely(fake_system)
    assert_finished(fake_system)


def test_run_kernel_watch_without_warm_poller_runs_one_lvpoll_per_segment(fake_system: FakeSystem) -> None:
    """LVM refuses the background poller (here: activation fails): lvpoll per segment, said in the log."""
    fake_system.standard()
    with fake_system.edit() as state:
        state["pvmove_b_fails"] = True
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "background poller did not start" in result.stderr
    assert "Temporary mirror activation failed" in result.stderr
    # lvmove ran lvpoll once per segment and stopped the first two in the sleep after their checkpoint.
    assert [e["checkpointed"] for e in fake_system.events("checkpoint")] == [1, 2]
    assert len(fake_system.events("finished")) == 1
    assert fake_system.argvs("lvm", "lvpoll") == [LVPOLL_WATCH] * 3
    assert len(fake_system.events("lvpoll-interrupted")) == 2
    assert_lvpolls_stopped_safely(fake_system)
    assert_finished(fake_system)


def test_a_forked_poller_lvmove_cannot_wake_is_stopped_not_left_running(fake_system: FakeSystem) -> None:
    """The poller LVM forked for lvmove has no SIGCHLD handler (so lvmove could not wake it): lvmove stops it in
    its sleep and carries the move with lvpoll per segment; nothing of LVM stays running."""
    fake_system.standard()
    with fake_system.edit() as state:
        state["fork_without_sigchld"] = True
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "cannot wake it" in result.stderr and "no SIGCHLD handler" in result.stderr
    assert fake_system.argvs("lvm", "pvmove") == [WARM]
    # The forked poller's own first check may have taken the first checkpoint before lvmove stopped it.
    lvpolls = fake_system.argvs("lvm", "lvpoll")
    assert lvpolls in ([LVPOLL_WATCH] * 2, [LVPOLL_WATCH] * 3), lvpolls
    assert [e["checkpointed"] for e in fake_system.events("checkpoint")] == [1, 2]
    interrupted = [e["argv"][0] for e in fake_system.events("lvpoll-interrupted")]
    assert interrupted == ["pvmove"] + ["lvpoll"] * (len(lvpolls) - 1), interrupted
    assert_lvpolls_stopped_safely(fake_system)
    assert_finished(fake_system)


@pytest.mark.lvm_versions("2.03.16", "2.03.31")
def test_an_interrupted_finish_leaves_an_orphan_that_the_unit_removes(fake_system: FakeSystem) -> None:
    """A crash between the finish's two commits leaves pvmoveN as an error LV (hidden on 2.03.16, visible
    from 2.03.31): the moved LVs are complete; once LVM's poller has exited the unit removes it through LVM."""
    fake_system.standard()
    with fake_system.edit() as state:
        state["finish_leaves_orphan"] = True
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "removed orphan error LV vg/pvmove0 left by an interrupted finish" in result.stdout
    assert fake_system.argvs("lvm", "lvremove") == [["lvm", "lvremove", "--yes", "vg/pvmove0"]]
    assert fake_system.lv_state("vg", "pvmove0") is None
    assert fake_system.devices_of("vg", "data") == ["/dev/sdb", "/dev/sdc", "/dev/sdb"]
    assert fake_system.devices_of("vg", "logs") == ["/dev/sdb"]
    assert_lvpolls_stopped_safely(fake_system)


@pytest.mark.lvm_versions("2.03.31", "2.03.39")
def test_an_interrupted_atomic_finish_leaves_no_image_lv_behind(fake_system: FakeSystem,
                                                                fake_lvm_version: str) -> None:
    """2.03.39 leaves an --atomic move's images pvmove0_mimage_0/1 as visible error LVs beside the orphan
    (seen in a guest; 2.03.31 does not): the unit removes them with it, through LVM, pvmove0 first."""
    fake_system.standard(atomic=True)
    with fake_system.edit() as state:
        state["finish_leaves_orphan"] = True
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    removed = fake_system.argvs("lvm", "lvremove")
    if fake_lvm_version == "2.03.39":
        assert removed == [["lvm", "lvremove", "--yes", f"vg/pvmove0{tail}"] for tail in ("", "_mimage_0", "_mimage_1")]
        assert ("removed orphan error LV vg/pvmove0 and its images pvmove0_mimage_0, pvmove0_mimage_1 left by an "
                "interrupted finish") in result.stdout
        assert "with its image LVs pvmove0_mimage_0, pvmove0_mimage_1" in result.stderr
    else:
        assert removed == [["lvm", "lvremove", "--yes", "vg/pvmove0"]]
    assert [lv["name"] for lv in fake_system.state()["vgs"]["vg"]["lvs"]] == ["data", "logs"]
    assert_lvpolls_stopped_safely(fake_system)


@pytest.mark.lvm_versions("2.03.39")
def test_images_left_without_their_pvmove_lv_are_found_by_the_vg_check_and_removed(fake_system: FakeSystem) -> None:
    """A removal cut short after pvmove0 went: its images alone are still an orphan, named by pvmove0; the VG
    check starts the unit, which removes them; status names them until then."""
    fake_system.standard(atomic=True)
    with fake_system.edit() as state:
        state["finish_leaves_orphan"] = True
    fake_system.lvmove("run", "vg/pvmove0")  # leaves nothing; put the images back as a cut-short removal would
    with fake_system.edit() as state:
        for n in (0, 1):
            fakelvm.add_orphan(state, "vg", f"pvmove0_mimage_{n}", active=True)["image_of"] = "pvmove0"
    status = fake_system.lvmove("status", "--json")
    assert status.returncode == 10, status.stdout + status.stderr
    (row,) = json.loads(status.stdout)["orphans"]
    assert row["lv"] == "pvmove0" and row["fix"].endswith("lvremove vg/pvmove0_mimage_0 vg/pvmove0_mimage_1)")
    check = fake_system.lvmove("check-vg", "vg")
    assert check.returncode == 0, check.stderr
    assert fake_system.started_units() == ["lvmove@vg-pvmove0.service"]
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "removed orphan error LV images pvmove0_mimage_0, pvmove0_mimage_1 of vg/pvmove0" in result.stdout
    assert [lv["name"] for lv in fake_system.state()["vgs"]["vg"]["lvs"]] == ["data", "logs"]


@pytest.mark.lvm_versions("2.03.16", "2.03.31")
def test_an_orphan_found_at_start_is_removed(fake_system: FakeSystem) -> None:
    """The orphan's own device (2.03.31 on) starts the unit: no move, but the orphan goes."""
    fake_system.vg("vg")
    fake_system.lv("vg", "data", [("/dev/sdb", 0, 4)])
    fake_system.orphan("vg", "pvmove0")
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "removed orphan error LV vg/pvmove0" in result.stdout
    assert fake_system.lv_state("vg", "pvmove0") is None


def test_an_orphan_held_open_for_a_moment_is_removed_once_let_go(fake_system: FakeSystem) -> None:
    """LVM refuses to remove an open LV; a reader that lets go (a scan) only delays the removal."""
    fake_system.vg("vg")
    fake_system.lv("vg", "data", [("/dev/sdb", 0, 4)])
    fake_system.orphan("vg", "pvmove0")
    with fake_system.edit() as state:
        state["open_lvs"] = ["vg/pvmove0"]
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    fake_system.wait_for("lvmove to try lvremove", lambda: len(fake_system.argvs("lvm", "lvremove")) >= 1)
    with fake_system.edit() as state:
        state["open_lvs"] = []
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "removed orphan error LV vg/pvmove0" in out
    assert len(fake_system.argvs("lvm", "lvremove")) >= 2
    assert fake_system.lv_state("vg", "pvmove0") is None


@pytest.mark.parametrize("obstacle", ["open", "config"])
def test_an_orphan_that_cannot_be_removed_is_reported_with_the_command(fake_system: FakeSystem,
                                                                      obstacle: str) -> None:
    fake_system.vg("vg")
    fake_system.lv("vg", "data", [("/dev/sdb", 0, 4)])
    fake_system.orphan("vg", "pvmove0")
    if obstacle == "open":
        with fake_system.edit() as state:
            state["open_lvs"] = ["vg/pvmove0"]
    else:
        fake_system.config("remove_orphans: false\n")
    result = fake_system.lvmove("run", "vg/pvmove0", env={"LVMOVE_ORPHAN_REMOVE_WAIT": "2"})
    assert result.returncode == 8, result.stderr
    assert "orphan error LV vg/pvmove0 not removed" in result.stderr
    assert ("in use" if obstacle == "open" else "remove_orphans is false") in result.stderr
    assert "lvremove vg/pvmove0" in result.stderr
    assert fake_system.lv_state("vg", "pvmove0") is not None


@pytest.mark.lvm_versions("2.03.16", "main")
def test_stop_interrupts_the_warm_poller_in_its_sleep(fake_system: FakeSystem) -> None:
    """The unit's stop (SIGINT) while the warm poller sleeps: lvmove interrupts it there, nothing stays."""
    fake_system.standard(rate_pe=2)
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    wait_checkpoint(fake_system, proc)
    assert fake_system.running_lvm(), "no warm poller running"
    stop_then_resume(fake_system, proc, signal.SIGINT)


@pytest.mark.lvm_versions("2.03.16", "main")
def test_run_wakes_a_users_background_poller_instead_of_starting_one(fake_system: FakeSystem) -> None:
    """A `pvmove -b` without lvmpolld already polls (300 s between checks): lvmove starts nothing, wakes it
    as segments come into sync, and leaves it alone on the way out."""
    fake_system.standard()
    assert subprocess.run(WARM, env=fake_system.env, check=False).returncode == 0
    before = len(fake_system.argvs("lvm", "pvmove"))
    result = fake_system.lvmove("-v", "run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "waking it" in result.stderr
    assert len(fake_system.argvs("lvm", "pvmove")) == before, "lvmove started a second poller"
    assert fake_system.argvs("lvm", "lvpoll") == []
    assert len(fake_system.events("finished")) == 1
    assert_lvpolls_stopped_safely(fake_system)
    assert_finished(fake_system)


def test_run_interval_mode_finishes_with_one_lvpoll(fake_system: FakeSystem) -> None:
    fake_system.standard()
    fake_system.config(INTERVAL_CONFIG)
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "completed: 2 LV(s), 48.0 MiB moved from /dev/sda to /dev/sdb" in result.stdout
    assert fake_system.argvs("lvm", "lvpoll") == [LVPOLL_INTERVAL]
    assert [e["checkpointed"] for e in fake_system.events("checkpoint")] == [1, 2]
    assert fake_system.events("lvpoll-interrupted") == []
    assert_finished(fake_system)


@pytest.mark.lvm_versions("2.03.16", "2.03.39")
def test_run_finishes_atomic_move(fake_system: FakeSystem) -> None:
    fake_system.standard(atomic=True)
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "completed: 2 LV(s), 48.0 MiB moved from /dev/sda to /dev/sdb" in result.stdout
    assert "atomic move of 2 LV(s)" in result.stderr
    assert fake_system.events("checkpoint") == []  # all or nothing: one finish, no checkpoints
    assert len(fake_system.events("finished")) == 1
    assert_finished(fake_system)
    state = fake_system.state()
    assert [lv["name"] for lv in state["vgs"]["vg"]["lvs"]] == ["data", "logs"]  # no mimage left


def test_run_activates_inactive_move_without_polling(fake_system: FakeSystem) -> None:
    fake_system.standard(active=False, atomic=True)
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "completed:" in result.stdout
    activations = fake_system.argvs("lvm", "lvchange")
    assert len(activations) == 1
    assert activations[0][:5] == ["lvm", "lvchange", "-ay", "--poll", "n"]
    assert sorted(activations[0][5:]) == ["vg/data", "vg/logs"]  # the LOCKED LVs, not pvmove0 itself
    assert fake_system.events("would-poll") == []
    assert_finished(fake_system)


def test_run_inactive_with_activate_inactive_false_fails_naming_config(fake_system: FakeSystem) -> None:
    fake_system.standard(active=False)
    fake_system.config("activate_inactive: false\n")
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 78, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert str(fake_system.config_path) in last
    assert "activate_inactive" in last
    assert fake_system.argvs("lvm", "lvchange") == []
    assert fake_system.argvs("lvm", "lvpoll") == []
    move = fake_system.lv_state("vg", "pvmove0")
    assert move is not None and move["active"] is False


def test_run_refreshes_suspended_table(fake_system: FakeSystem) -> None:
    fake_system.standard(dm="suspended", atomic=True)
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    refreshes = fake_system.argvs("lvm", "lvchange")
    assert len(refreshes) == 1 and refreshes[0][:5] == ["lvm", "lvchange", "--refresh", "--poll", "n"]
    assert sorted(refreshes[0][5:]) == ["vg/data", "vg/logs"]
    assert_finished(fake_system)


def test_run_does_not_activate_an_active_move(fake_system: FakeSystem) -> None:
    fake_system.standard(atomic=True)
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert fake_system.argvs("lvm", "lvchange") == [], "lvchange -ay on a move that is active"
    assert "inactive" not in result.stderr


def test_run_active_move_with_activate_inactive_false_completes(fake_system: FakeSystem) -> None:
    fake_system.standard(atomic=True)
    fake_system.config("activate_inactive: false\npoll_interval: 60\n")
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "completed:" in result.stdout


@pytest.mark.lvm_versions()
@pytest.mark.parametrize("target", ["vg/pvmove0", "othervg/pvmove0", "vg/pvmove7"])
def test_run_without_a_move_has_nothing_to_do(fake_system: FakeSystem, target: str) -> None:
    fake_system.vg("vg")
    fake_system.lv("vg", "data", [("/dev/sda", 0, 4)])
    result = fake_system.lvmove("run", target)
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert [c["argv"][1] for c in fake_system.commands()] == ["lvs"]  # one report, nothing else
    assert fake_system.devices_of("vg", "data") == ["/dev/sda"]


def test_run_excluded_vg_runs_no_command(fake_system: FakeSystem) -> None:
    fake_system.standard()
    fake_system.config("exclude: [vg]\n")
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout and "excluded" in result.stdout
    assert fake_system.commands() == []
    assert_intact(fake_system)
    flag = fake_system.rundir / "excluded" / "vg"
    assert flag.exists()  # the udev rule's TEST: no more units per uevent of this VG
    fake_system.config("exclude: []\n")
    fake_system.lvmove("run", "vg/pvmove0", timeout=60)  # e.g. `lvmove start` once the admin wants it again
    assert not flag.exists()


# ---- somebody else polls ------------------------------------------------------------------------------------

def test_run_only_watches_while_lvmpolld_polls(fake_system: FakeSystem) -> None:
    fake_system.standard()
    # lvmpolld's lvpoll sleeps 20 simulated seconds (1 s) between checks, so every segment sits fully in
    # sync for a while: the moment kernel-watch would start its own lvpoll if it did not see this one.
    poller = fake_system.lvmpolld_poll("vg/pvmove0", interval=20)
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "completed:" in result.stdout
    assert lvpoll_pids(fake_system) == [poller.pid], "lvmove started its own lvpoll next to lvmpolld's"
    assert poller.wait(timeout=5) == 0
    assert fake_system.events("lvpoll-interrupted") == [], "lvmove signalled somebody else's poller"
    assert_finished(fake_system)


def test_run_takes_over_from_a_poller_that_leaves_the_move_in_sync(fake_system: FakeSystem) -> None:
    """A poller that checked once and sleeps for good (as vgchange's poller from the initramfs did after
    switch-root): the kernel has the segment in sync and nobody checkpoints. After twice LVM's interval plus
    the margin lvmove runs a one-shot lvpoll itself beside it, says so in the journal, and never signals it."""
    fake_system.vg()
    fake_system.lv("vg", "data", [("/dev/sda", 0, 4)])
    # The copy starts only once the other poller has checked and gone to sleep: had its first check found the
    # segment in sync already (a loaded host, 0.2 s later), it would have finished the move itself.
    fake_system.move("vg", "/dev/sda", ["/dev/sdb"], rate_pe=0)
    fake_system.config("poll_interval: 1\nprogress_interval: 1\n")  # stuck after 2 x 1 s + 10 s
    stuck = fake_system.lvmpolld_poll("vg/pvmove0", interval=100000)
    fake_system.wait_for("the other poller's sleep", lambda: procscan.is_sleeping(stuck.pid))
    fake_system.set_move(rate_pe=1)  # in sync 4 simulated seconds (0.2 s) on
    started = time.monotonic()
    result = fake_system.lvmove("run", "vg/pvmove0")
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "completed:" in result.stdout + result.stderr
    assert "with no checkpoint; lvmove runs LVM's poller itself beside it" in result.stderr
    assert 12 <= took < 40, took
    finishers = {e["pid"] for e in fake_system.events("finished")}
    assert finishers and stuck.pid not in finishers, "the stuck poller did not finish it: lvmove's lvpoll did"
    assert fake_system.events("lvpoll-interrupted") == [] or all(
        e["pid"] != stuck.pid for e in fake_system.events("lvpoll-interrupted")), "lvmove signalled the other poller"
    assert stuck.poll() is None, "the other poller is left alone"
    assert fake_system.lv_state("vg", "pvmove0") is None
    assert fake_system.lv_state("vg", "data")["locked"] is False
    assert fake_system.devices_of("vg", "data") == ["/dev/sdb"]


def test_run_waits_for_activation_then_polls_itself(fake_system: FakeSystem) -> None:
    """A `vgchange -ay` (which would hand the LV to lvmpolld) is watched; when it ends without a poller,
    lvmove polls itself."""
    fake_system.standard(atomic=True)
    activation = fake_system.fake_process(["/usr/sbin/lvm", "vgchange", "-ay", "vg"])
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    fake_system.wait_for("lvmove to look at the kernel", lambda: bool(fake_system.argvs("dmsetup", "status")))
    time.sleep(0.5)  # the copy is complete: lvmove would start lvpoll now if it did not see the vgchange
    assert fake_system.argvs("lvm", "lvpoll") == [], "lvmove polled while an activation was under way"
    shutil.rmtree(activation)  # the vgchange ends
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "completed:" in out
    assert fake_system.argvs("lvm", "pvmove") == [WARM]
    assert len(fake_system.events("finished")) == 1
    assert_finished(fake_system)


# ---- failures while polling -----------------------------------------------------------------------------------

def test_run_degraded_leg_stops_without_polling(fake_system: FakeSystem) -> None:
    fake_system.standard(health="AD")
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 74, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "8:16" in line or "/dev/sdb" in line, line  # the destination leg
    assert "write failed" in line
    assert fake_system.argvs("lvm", "lvpoll") == []
    assert_intact(fake_system)


def wait_checkpoint(fake: FakeSystem, proc: subprocess.Popen[str], checkpoints: int = 1) -> None:
    def ready() -> bool:
        assert proc.poll() is None, f"lvmove ended early: {proc.communicate()}"
        return len(fake.events("checkpoint")) >= checkpoints
    fake.wait_for(f"{checkpoints} checkpoint(s)", ready)


def test_run_degraded_mid_poll_stops_lvpoll_in_its_sleep(fake_system: FakeSystem) -> None:
    fake_system.standard(rate_pe=2)
    fake_system.config(INTERVAL_CONFIG)
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    wait_checkpoint(fake_system, proc)
    fake_system.set_move(health="DA")
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 74, err
    assert "8:0" in err or "/dev/sda" in err
    assert len(fake_system.events("lvpoll-interrupted")) == 1
    assert_lvpolls_stopped_safely(fake_system)
    assert_intact(fake_system)


def test_run_move_aborted_with_lvms_own_abort_ends_cleanly(fake_system: FakeSystem) -> None:
    """The admin's `pvmove --abort` is a deliberate end: exit 0 (the unit ends inactive, not failed), an
    "aborted" journal entry, and the answer says what stayed where."""
    fake_system.standard(rate_pe=2)
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    wait_checkpoint(fake_system, proc)
    other = subprocess.run(["lvm", "pvmove", "--abort", "/dev/sda"], env=fake_system.env, check=False)
    assert other.returncode == 0
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    last = out.strip().splitlines()[-1]
    assert "aborted with LVM's pvmove --abort" in last and "went back to /dev/sda" in last
    assert "vg/data: 16.0 MiB on /dev/sda, 24.0 MiB elsewhere" in last, last
    assert "vg/logs: 16.0 MiB on /dev/sda, 0 B elsewhere" in last, last
    assert "completed" not in out
    # The checkpointed segment stayed on the destination, the rest went back.
    assert fake_system.devices_of("vg", "data") == ["/dev/sdb", "/dev/sdc", "/dev/sda"]
    assert fake_system.devices_of("vg", "logs") == ["/dev/sda"]
    assert_lvpolls_stopped_safely(fake_system)


def test_run_deactivated_mid_poll_exits_75(fake_system: FakeSystem) -> None:
    fake_system.standard(rate_pe=2)
    fake_system.config(INTERVAL_CONFIG)  # so that lvmove's own lvpoll runs when it happens
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    wait_checkpoint(fake_system, proc)
    fake_system.deactivate("vg")
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 75, err
    assert "deactivated" in err
    assert_intact(fake_system)
    move = fake_system.lv_state("vg", "pvmove0")
    assert move is not None and move["active"] is False
    assert_lvpolls_stopped_safely(fake_system)


def test_run_notices_its_move_was_replaced_by_a_new_pvmove0(fake_system: FakeSystem) -> None:
    fake_system.standard(rate_pe=0.2)
    fake_system.lv("vg", "other", [("/dev/sdc", 2, 3)])
    old_uuid = fake_system.lv_state("vg", "pvmove0")["uuid"]  # type: ignore[index]
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    fake_system.wait_for("lvmove to watch the kernel", lambda: len(fake_system.argvs("dmsetup", "status")) >= 2)
    # Someone aborts it and at once starts another move, which LVM names pvmove0 again.
    assert subprocess.run(["lvm", "pvmove", "--abort", "/dev/sda"], env=fake_system.env).returncode == 0
    with fake_system.edit() as state:
        state["new_rate"] = 0.0  # the new move stays at 0 % from its first moment (set after it was made, the
        #                          fake kernel could copy its 3 extents first, and an lvpoll checkpoint them)
    assert subprocess.run(["lvm", "pvmove", "-b", "-i", "5", "/dev/sdc", "/dev/sdb"], env=fake_system.env,
                          check=False).returncode == 0
    fake_system.set_move(fixed_pe=0)
    try:
        _out, err = proc.communicate(timeout=6)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        pytest.fail("lvmove kept watching the new pvmove0 as if it were its own")
    assert proc.returncode == 0, err
    assert "aborted with LVM's pvmove --abort" in _out
    new = fake_system.lv_state("vg", "pvmove0")
    assert new is not None and new["uuid"] != old_uuid and new["checkpointed"] == 0


# ---- stopping the unit ----------------------------------------------------------------------------------------

def stop_then_resume(fake: FakeSystem, proc: subprocess.Popen[str], signum: int) -> None:
    """The unit's stop signal: lvmove exits 75 (TEMPFAIL) having interrupted LVM's poller only in its sleep, the move is
    intact, and the next run finishes it."""
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 75, err
    assert "completed" not in out
    assert len(fake.events("lvpoll-interrupted")) == 1, (err, fake.events())
    assert_lvpolls_stopped_safely(fake)
    assert_intact(fake)
    resume_and_finish(fake)


def resume_and_finish(fake: FakeSystem) -> None:
    with fake.edit() as state:
        state["lvpoll_work"] = 0.0
    fake.set_move(rate_pe=40)
    again = fake.lvmove("run", "vg/pvmove0")
    assert again.returncode == 0, again.stderr
    assert "completed:" in again.stdout
    assert fake.events("checkpoint")[-1]["checkpointed"] == 2
    assert_finished(fake)


def test_sigint_while_lvpoll_works_waits_for_its_sleep(fake_system: FakeSystem) -> None:
    """Kernel-watch; the unit's stop (KillSignal=SIGINT) arrives while lvpoll rescans/holds the lock: lvmove
    lets it commit its checkpoint and interrupts only its sleep."""
    fake_system.standard(rate_pe=2)
    with fake_system.edit() as state:
        state["lvpoll_work"] = 6.0  # 300 ms outside the sleep before each check
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")

    def lvpoll_working() -> bool:
        assert proc.poll() is None, f"lvmove ended early: {proc.communicate()}"
        return bool(fake_system.running_lvm()) and not fake_system.events("checkpoint")
    fake_system.wait_for("lvmove's first lvpoll", lvpoll_working)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 75, err
    assert "resumes" in err or "interrupted" in err
    assert "completed" not in out
    assert [e["checkpointed"] for e in fake_system.events("checkpoint")] == [1], "lvpoll was not let finish"
    assert len(fake_system.events("lvpoll-interrupted")) == 1
    assert_lvpolls_stopped_safely(fake_system)
    assert_intact(fake_system)
    resume_and_finish(fake_system)


def test_sigterm_interval_mode_stops_lvpoll_in_its_sleep_and_resumes(fake_system: FakeSystem) -> None:
    fake_system.standard(rate_pe=2)
    fake_system.config(INTERVAL_CONFIG)
    # Each lvpoll round spends 4 simulated seconds (200 ms) outside its sleep and 1 s (50 ms) sleeping:
    # a SIGINT sent without looking would land outside the sleep most of the time.
    with fake_system.edit() as state:
        state["lvpoll_work"] = 4.0
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    wait_checkpoint(fake_system, proc)
    stop_then_resume(fake_system, proc, signal.SIGTERM)


# ---- a PV is missing ----------------------------------------------------------------------------------------

@pytest.mark.lvm_versions()
def test_run_waits_for_a_missing_destination_pv_and_changes_nothing(fake_system: FakeSystem) -> None:
    """The destination's disk is gone at boot: no activation (partial or not), no finish, no failed unit;
    the message names the PV by UUID and last device. With the disk back the next start finishes the move."""
    fake_system.standard(active=False)
    uuid = fake_system.pull_disk("/dev/sdb")
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert f"waiting for PV {uuid} (last written to /dev/sdb)" in out and "nothing changed" in out, out
    assert [c["argv"][1] for c in fake_system.commands()] == ["lvs"], "only the report: nothing activated"
    assert fake_system.lv_state("vg", "pvmove0")["active"] is False
    status = fake_system.lvmove("status", "--json")
    assert status.returncode == 10, status.stderr  # needs the admin
    (row,) = json.loads(status.stdout)["moves"]
    assert uuid in row["attention"]["reason"] and "connect the disk" in row["attention"]["fix"]
    fake_system.return_disk("/dev/sdb")
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "completed:" in result.stdout + result.stderr
    assert_finished(fake_system)


@pytest.mark.lvm_versions()
def test_run_finishes_a_move_beside_an_unrelated_missing_pv(fake_system: FakeSystem) -> None:
    """Another PV of the VG is missing (not the move's): LVM's warm poller refuses such a VG, so lvmove polls
    with `lvpoll --handlemissingpvs` (as lvmpolld does) and finishes; both legs are there."""
    fake_system.standard()
    fake_system.pull_disk("/dev/sdc")  # holds a piece of `data` that is not moved
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "completed:" in result.stdout + result.stderr
    lvpolls = [c["argv"] for c in fake_system.commands() if c["argv"][1:2] == ["lvpoll"]]
    assert lvpolls and all("--handlemissingpvs" in argv for argv in lvpolls), lvpolls
    warm = [c["argv"] for c in fake_system.commands() if c["argv"][1:2] == ["pvmove"] and "-b" in c["argv"]]
    assert warm == [], f"a warm poller was tried on a VG with a PV missing: {warm}"
    assert fake_system.lv_state("vg", "pvmove0") is None
