"""`lvmove check-vg VG` (lvmove-vg@.service): moves and orphans that no device announces, against the fake LVM."""

from __future__ import annotations

import pytest
from fakesystem import FakeSystem


def test_an_inactive_move_is_resumed_through_its_unit(fake_system: FakeSystem) -> None:
    """Its LVs were kept out of autoactivation: the VG came up (another LV's device), the pvmove LV did not."""
    fake_system.standard(active=False)
    result = fake_system.lvmove("check-vg", "vg")
    assert result.returncode == 0, result.stderr
    assert "vg/pvmove0: inactive: started lvmove@vg-pvmove0.service" in result.stdout
    assert fake_system.started_units() == ["lvmove@vg-pvmove0.service"]
    assert (fake_system.rundir / "vg-checked" / "vg").exists()  # the udev rule's TEST: one check per boot
    assert [a[:2] for a in fake_system.argvs("lvm")] == [["lvm", "lvs"]]  # one report, no change


def test_a_paused_inactive_move_is_reported_not_started(fake_system: FakeSystem) -> None:
    fake_system.standard(active=False)
    assert fake_system.lvmove("pause", "vg/pvmove0").returncode == 0
    before = len(fake_system.started_units())
    result = fake_system.lvmove("check-vg", "vg")
    assert result.returncode == 0, result.stderr
    assert "vg/pvmove0: paused: left until lvmove resume vg/pvmove0" in result.stdout, result.stdout
    assert len(fake_system.started_units()) == before


def test_under_systemd_each_finding_reaches_the_journal_once(fake_system: FakeSystem) -> None:
    """In lvmove-vg@.service stdout is the journal too: the finding is the event's line, not printed again
    (seen on trixie: "inactive: started lvmove@..." twice)."""
    fake_system.standard(active=False)
    result = fake_system.lvmove("check-vg", "vg", env={"INVOCATION_ID": "0123456789abcdef"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = (result.stdout + result.stderr).splitlines()
    assert len([line for line in lines if "vg/pvmove0" in line]) == 1, lines
    assert fake_system.started_units() == ["lvmove@vg-pvmove0.service"]


def test_policy_off_reports_the_stalled_move_with_the_command(fake_system: FakeSystem) -> None:
    fake_system.standard(active=False)
    fake_system.config("activate_inactive: false\n")
    result = fake_system.lvmove("check-vg", "vg")
    assert result.returncode == 0, result.stderr
    assert "not resumed (activate_inactive is false" in result.stdout and "lvmove start vg/pvmove0" in result.stdout
    assert fake_system.started_units() == []


def test_an_orphan_is_handed_to_its_unit(fake_system: FakeSystem) -> None:
    """2.03.16 leaves it hidden, without a device: only the VG's coming up can notice it."""
    fake_system.vg("vg")
    fake_system.lv("vg", "data", [("/dev/sdb", 0, 4)])
    fake_system.orphan("vg", "pvmove0")
    result = fake_system.lvmove("check-vg", "vg")
    assert result.returncode == 0, result.stderr
    assert fake_system.started_units() == ["lvmove@vg-pvmove0.service"]
    assert "orphan: started lvmove@vg-pvmove0.service to remove it" in result.stdout


def test_active_moves_and_excluded_vgs_are_left_to_others(fake_system: FakeSystem) -> None:
    fake_system.standard()
    assert fake_system.lvmove("check-vg", "vg").stdout.strip() == "vg: nothing to do"
    fake_system.config("exclude: [vg]\n")
    assert fake_system.lvmove("check-vg", "vg").stdout.strip() == "vg: nothing to do"
    assert fake_system.started_units() == []


def test_a_bad_vg_name_runs_nothing(fake_system: FakeSystem) -> None:
    result = fake_system.lvmove("check-vg", "../etc")
    assert result.returncode == 2 and "invalid volume group name" in result.stderr
    assert fake_system.commands() == []


@pytest.mark.parametrize(("message", "retry"), [
    ("Logical volume vg/pvmove0 in use. (exit status 5)", True),  # lib/activate/activate.c, held open
    ("Logical volume vg/pvmove0 contains a filesystem in use. (exit status 5)", True),
    ("device-mapper: remove ioctl on vg-pvmove0 failed: Device or resource busy (exit status 5)", True),
    ("Failed to open /dev/sdb for reading (exit status 5)", False),  # "open", but nothing holds the LV
    ("Volume group \"vg\" not found (exit status 5)", False),
])
def test_orphan_removal_retries_only_while_the_device_is_held(message: str, retry: bool) -> None:
    from lvmove_hooks import orphan

    assert orphan._in_use(message) is retry


def test_a_move_waiting_for_its_missing_pv_is_reported_not_started(fake_system: FakeSystem) -> None:
    fake_system.standard(active=False)
    uuid = fake_system.pull_disk("/dev/sdb")
    result = fake_system.lvmove("check-vg", "vg")
    assert result.returncode == 0, result.stderr
    assert f"vg/pvmove0: waiting-for-pv: waiting for PV {uuid} (last written to /dev/sdb)" in result.stdout
    assert fake_system.started_units() == [], "no unit for a move that cannot go on"
    assert [a[:2] for a in fake_system.argvs("lvm")] == [["lvm", "lvs"]]
