"""End-to-end: `lvmove run VG/LV` (the unit body) against the fake LVM in tests/fake/."""

from __future__ import annotations

import signal
import subprocess

import pytest
from fakesystem import FakeSystem

LVPOLL = ["lvm", "lvpoll", "--polloperation", "pvmove", "--interval", "1", "vg/pvmove0"]


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


def lvpoll_pids(fake: FakeSystem) -> list[int]:
    return [c["pid"] for c in fake.commands() if c["argv"][:2] == ["lvm", "lvpoll"]]


def test_run_finishes_by_segment_move_with_checkpoints(fake_system: FakeSystem) -> None:
    fake_system.standard()
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "vg/pvmove0: completed: 2 LV(s), 48.0 MiB moved from /dev/sda to /dev/sdb" in result.stdout
    assert "resuming by-segment move of 2 LV(s)" in result.stderr
    # LVM's poller ran as lvmove's child, with the configured interval, and checkpointed each segment.
    assert fake_system.argvs("lvm", "lvpoll") == [LVPOLL]
    assert [e["checkpointed"] for e in fake_system.events("checkpoint")] == [1, 2]
    assert len(fake_system.events("finished")) == 1
    assert_finished(fake_system)
    assert not (fake_system.rundir / "vg-pvmove0.json").exists(), "progress file left behind"
    assert not any(fake_system.proc.iterdir()), "an lvpoll is still running"


def test_run_finishes_atomic_move(fake_system: FakeSystem) -> None:
    fake_system.standard(atomic=True)
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "completed: 2 LV(s), 48.0 MiB moved from /dev/sda to /dev/sdb" in result.stdout
    assert "resuming atomic move" in result.stderr
    assert fake_system.events("checkpoint") == []  # all or nothing: one finish, no checkpoints
    assert len(fake_system.events("finished")) == 1
    assert_finished(fake_system)
    state = fake_system.state()
    assert [lv["name"] for lv in state["vgs"]["vg"]["lvs"]] == ["data", "logs"]  # no mimage left


def test_run_activates_inactive_move_without_polling(fake_system: FakeSystem) -> None:
    fake_system.standard(active=False)
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
    fake_system.config("activate_inactive: false\npoll_interval: 1\n")
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 4, result.stderr
    assert str(fake_system.config_path) in result.stderr
    assert "activate_inactive" in result.stderr
    assert fake_system.argvs("lvm", "lvchange") == []
    assert fake_system.argvs("lvm", "lvpoll") == []
    move = fake_system.lv_state("vg", "pvmove0")
    assert move is not None and move["active"] is False


def test_run_refreshes_suspended_table(fake_system: FakeSystem) -> None:
    fake_system.standard(dm="suspended")
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    refreshes = fake_system.argvs("lvm", "lvchange")
    assert len(refreshes) == 1 and refreshes[0][:5] == ["lvm", "lvchange", "--refresh", "--poll", "n"]
    assert sorted(refreshes[0][5:]) == ["vg/data", "vg/logs"]
    assert_finished(fake_system)


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


def test_run_supervises_lvmpolld_poller(fake_system: FakeSystem) -> None:
    fake_system.standard(rate_pe=0.5)  # 8 simulated seconds per segment: the other poller needs ~1.5 s
    poller = fake_system.lvmpolld_poll("vg/pvmove0")
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "completed:" in result.stdout
    assert lvpoll_pids(fake_system) == [poller.pid], "lvmove started its own lvpoll next to lvmpolld's"
    assert poller.wait(timeout=5) == 0
    assert_finished(fake_system)


def test_run_degraded_leg_stops_without_polling(fake_system: FakeSystem) -> None:
    fake_system.standard(health="AD")
    result = fake_system.lvmove("run", "vg/pvmove0")
    assert result.returncode == 7, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "8:16" in line or "/dev/sdb" in line, line  # the destination leg
    assert "write failed" in line
    assert fake_system.argvs("lvm", "lvpoll") == []
    assert_intact(fake_system)


def wait_polling(fake: FakeSystem, proc: subprocess.Popen[str], checkpoints: int = 1) -> None:
    """Wait until lvmove's own lvpoll runs and LVM has checkpointed `checkpoints` segments."""
    def ready() -> bool:
        assert proc.poll() is None, f"lvmove ended early: {proc.communicate()}"
        return len(fake.events("checkpoint")) >= checkpoints and bool(list(fake.proc.iterdir()))
    fake.wait_for("lvmove's lvpoll to checkpoint", ready)


def test_run_degraded_mid_poll_stops_child_in_sleep(fake_system: FakeSystem) -> None:
    fake_system.standard(rate_pe=2)
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    wait_polling(fake_system, proc)
    fake_system.set_move(health="DA")
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 7, err
    assert "8:0" in err or "/dev/sda" in err
    assert len(fake_system.events("lvpoll-interrupted")) == 1
    assert fake_system.events("sigint-outside-sleep") == []
    assert not any(fake_system.proc.iterdir()), "lvpoll left running"
    assert_intact(fake_system)


def test_run_move_aborted_by_someone_else_exits_5(fake_system: FakeSystem) -> None:
    fake_system.standard(rate_pe=2)
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    wait_polling(fake_system, proc)
    other = subprocess.run(["lvm", "pvmove", "--abort", "/dev/sda"], env=fake_system.env, check=False)
    assert other.returncode == 0
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 5, err
    assert "aborted by someone else" in err
    assert "/dev/sda" in err
    assert "completed" not in out
    # The checkpointed segment stayed on the destination, the rest went back.
    assert fake_system.devices_of("vg", "data") == ["/dev/sdb", "/dev/sdc", "/dev/sda"]
    assert fake_system.devices_of("vg", "logs") == ["/dev/sda"]


def test_run_deactivated_mid_poll_exits_6(fake_system: FakeSystem) -> None:
    fake_system.standard(rate_pe=2)
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    wait_polling(fake_system, proc)
    fake_system.deactivate("vg")
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 6, err
    assert "deactivated" in err
    assert_intact(fake_system)
    move = fake_system.lv_state("vg", "pvmove0")
    assert move is not None and move["active"] is False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_move_stops_lvpoll_in_its_sleep_and_resumes(fake_system: FakeSystem, signum: int) -> None:
    fake_system.standard(rate_pe=2)
    # Each lvpoll round spends 4 simulated seconds (200 ms) outside its sleep, 1 s (50 ms) sleeping:
    # a SIGINT sent without looking would land outside the sleep most of the time.
    with fake_system.edit() as state:
        state["lvpoll_work"] = 4.0
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    wait_polling(fake_system, proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 6, err
    assert "resumes" in err or "interrupted" in err
    assert "completed" not in out
    stops = fake_system.events("lvpoll-interrupted")
    assert len(stops) == 1 and stops[0]["outside"] == 0
    assert fake_system.events("sigint-outside-sleep") == [], "SIGINT reached lvpoll outside its sleep"
    assert not any(fake_system.proc.iterdir()), "lvpoll left running"
    assert_intact(fake_system)
    checkpointed = fake_system.lv_state("vg", "pvmove0")["checkpointed"]  # type: ignore[index]
    assert checkpointed >= 1
    # The next start resumes from the checkpoint and finishes.
    with fake_system.edit() as state:
        state["lvpoll_work"] = 0.0
    fake_system.set_move(rate_pe=40)
    again = fake_system.lvmove("run", "vg/pvmove0")
    assert again.returncode == 0, again.stderr
    assert "completed:" in again.stdout
    assert fake_system.events("checkpoint")[-1]["checkpointed"] == 2
    assert_finished(fake_system)
