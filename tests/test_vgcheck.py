"""`lvmove check-vg VG` (lvmove-vg@.service): moves and orphans that no device announces, against the fake LVM."""

from __future__ import annotations

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
