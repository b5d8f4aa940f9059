"""End-to-end: the CLI on every LVM generation the fake plays (tests/fake/fakelvm.py VERSIONS), where they
differ: the JSON "log" of a missing VG (2.03.26 on), the "-real" dm UUID of the pvmove LV (2.03.36 on)."""

from __future__ import annotations

import json

import pytest
from fakesystem import FakeSystem

from lvmove_hooks import cli

Capsys = pytest.CaptureFixture[str]
pytestmark = pytest.mark.lvm_versions()


def main(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", ["status", "start", "abort", "watch"])
def test_a_move_in_a_vg_that_is_not_there_is_no_such_move(fake_system: FakeSystem, capsys: Capsys,
                                                         command: str) -> None:
    fake_system.standard()
    code, _out, err = main(capsys, command, "nosuchvg/pvmove0")
    assert code == 9, err
    assert "nosuchvg/pvmove0" in err and "lvs failed" not in err
    assert fake_system.argvs("systemctl", "--no-block") == [] and fake_system.argvs("lvm", "pvmove") == []


def test_status_reads_the_percent_from_the_kernel(fake_system: FakeSystem, capsys: Capsys) -> None:
    """lvs --readonly knows neither activity nor percent on any generation: both come from the kernel, whose
    pvmove device is matched by dm UUID (with "-real" from 2.03.36 on)."""
    fake_system.standard(fixed_pe=2)
    fake_system.vg("my-vg", {"/dev/sdd": "8:48", "/dev/sde": "8:64"})
    fake_system.lv("my-vg", "home", [("/dev/sdd", 0, 6)])
    fake_system.move("my-vg", "/dev/sdd", ["/dev/sde"], atomic=True, fixed_pe=3)
    code, out, err = main(capsys, "status", "--json")
    assert code == 0, err
    rows = {f"{r['vg']}/{r['lv']}": r for r in json.loads(out)["moves"]}
    assert rows["vg/pvmove0"]["active"] is True and rows["my-vg/pvmove0"]["active"] is True
    assert rows["vg/pvmove0"]["percent"] == pytest.approx(16.67, abs=0.01)
    assert rows["my-vg/pvmove0"]["percent"] == pytest.approx(50.0, abs=0.01)


@pytest.mark.lvm_versions("2.03.16", "2.03.39")
def test_watch_follows_a_move_to_its_end(fake_system: FakeSystem) -> None:
    fake_system.standard(rate_pe=0.2)
    watch = fake_system.lvmove_popen("watch", "vg/pvmove0", "--interval", "0.5")
    assert watch.stdout is not None
    first = watch.stdout.readline().strip()
    assert first.startswith("vg/pvmove0: ") and "of 48.0 MiB" in first, first  # it found the device
    fake_system.set_move(rate_pe=40)
    poller = fake_system.lvmpolld_poll("vg/pvmove0", interval=10)
    out, err = watch.communicate(timeout=30)
    assert watch.returncode == 0, err
    assert out.strip().splitlines()[-1].strip() == "vg/pvmove0: completed: 48.0 MiB moved from /dev/sda to /dev/sdb"
    assert poller.wait(timeout=5) == 0


def test_the_unit_for_a_vg_that_is_gone_has_nothing_to_do_and_says_only_that(fake_system: FakeSystem,
                                                                             capsys: Capsys) -> None:
    """`lvmove run` (the unit) for a VG removed or renamed since the event: exit 0, one line naming the move;
    LVM's "not found" is the answer, not a warning about a failed command."""
    fake_system.standard()
    code, out, err = main(capsys, "run", "nosuchvg/pvmove0")
    assert code == 0, err
    assert "nosuchvg/pvmove0: nothing to do" in out
    assert err == ""
