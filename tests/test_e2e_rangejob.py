"""Bounded re-copy on LVM without allocation/pvmove_max_segment_size_mb (before 2.03.36): `lvmove move` moves
the source in extent ranges, the unit carries them one after another as one job (fake LVM)."""

from __future__ import annotations

import json
import os

import pytest
from fakesystem import FakeSystem

from lvmove_hooks import cli

Capsys = pytest.CaptureFixture[str]
RANGES = ["/dev/sda:0-3", "/dev/sda:4-7", "/dev/sda:8-11", "/dev/sda:12-15", "/dev/sda:16-17"]


@pytest.fixture
def pv_paths_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: p in ("/dev/sda", "/dev/sdb", "/dev/sdc") or real(p))


def begin(fake: FakeSystem, capsys: Capsys, *extra: str) -> str:
    """vg: "big", one 64 MiB segment (16 extents of 4 MiB) on /dev/sda, and "small", 8 MiB after it; max_recopy
    16M; `lvmove move /dev/sda /dev/sdb`. Returns what it printed."""
    fake.vg("vg")
    fake.lv("vg", "big", [("/dev/sda", 0, 16)])
    fake.lv("vg", "small", [("/dev/sda", 16, 2)])
    fake.config("max_recopy: 16M\n")
    code = cli.main(["move", *extra, "/dev/sda", "/dev/sdb"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def ranges_started(fake: FakeSystem) -> list[str]:
    """The source arguments of the pvmoves that set a move up (not those of LVM pollers lvmove starts)."""
    return [argv[-2] for argv in fake.argvs("lvm", "pvmove") if "+86400" in argv]


def job_records(fake: FakeSystem) -> list[dict[str, object]]:
    root = fake.root / "var-lib-lvmove" / "jobs"
    return [json.loads(p.read_text()) for p in sorted(root.glob("*/*.json"))]


@pytest.mark.lvm_versions("2.03.16", "2.03.31", only=True)
def test_move_on_older_lvm_starts_a_job_of_bounded_ranges(fake_system: FakeSystem, pv_paths_exist: None,
                                                         capsys: Capsys) -> None:
    out = begin(fake_system, capsys)
    assert ranges_started(fake_system) == RANGES[:1]  # only the first range is a pvmove yet
    assert "72.0 MiB from /dev/sda in ranges of at most 16.0 MiB" in out
    assert "as vg/pvmove0 (by-segment), carried by lvmove@vg-pvmove0.service" in out
    move = fake_system.lv_state("vg", "pvmove0")
    assert move is not None and [p["size_pe"] for p in move["pieces"]] == [4]  # what a crash can re-copy
    (job,) = job_records(fake_system)
    assert (job["vg"], job["source"], job["chunk_pe"], job["total_pe"]) == ("vg", "/dev/sda", 4, 18)
    assert job["source_uuid"] and job["dest_uuids"] and job["dest_uuids"] != [job["source_uuid"]]


@pytest.mark.lvm_versions("2.03.16", "2.03.31", only=True)
def test_the_unit_carries_every_range_to_the_end(fake_system: FakeSystem, pv_paths_exist: None,
                                                 capsys: Capsys) -> None:
    begin(fake_system, capsys)
    result = fake_system.lvmove("run", "vg/pvmove0", timeout=90)
    assert result.returncode == 0, result.stderr
    assert ranges_started(fake_system) == RANGES
    assert set(fake_system.devices_of("vg", "big")) == {"/dev/sdb"}
    assert fake_system.devices_of("vg", "small") == ["/dev/sdb"]
    assert job_records(fake_system) == []
    assert "moved 72.0 MiB off /dev/sda in ranges of at most 16.0 MiB: done" in result.stderr
    assert not [lv for lv in fake_system.state()["vgs"]["vg"]["lvs"] if lv.get("pvmove")]


@pytest.mark.lvm_versions("2.03.16", only=True)
def test_a_crash_between_two_ranges_is_picked_up_by_the_vg_check(fake_system: FakeSystem, pv_paths_exist: None,
                                                                 capsys: Capsys) -> None:
    """The first range finished (by LVM's own poller), the machine went down before the next began: no pvmove
    LV, no device, only the job's record. The per-VG check at boot starts the unit, which goes on."""
    import fakelvm

    begin(fake_system, capsys)
    with fake_system.edit() as state:
        move = fakelvm.find_lv(state, "vg", "pvmove0")
        assert move is not None
        fakelvm.finish(state, "vg", move)
    check = fake_system.lvmove("check-vg", "vg")
    assert check.returncode == 0, check.stderr
    assert "move in ranges with no range in flight" in check.stdout + check.stderr
    assert fake_system.started_units()[-1] == "lvmove@vg-pvmove0.service"
    result = fake_system.lvmove("run", "vg/pvmove0", timeout=90)
    assert result.returncode == 0, result.stderr
    assert "carrying" not in result.stderr.split("next range /dev/sda:4-7")[0]  # no pvmove0 when it started ...
    assert ranges_started(fake_system) == RANGES  # ... then the four ranges left
    assert job_records(fake_system) == []


@pytest.mark.lvm_versions("2.03.16", only=True)
def test_status_shows_the_job_and_abort_ends_it(fake_system: FakeSystem, pv_paths_exist: None,
                                                capsys: Capsys) -> None:
    begin(fake_system, capsys)
    code = cli.main(["status", "--json"])
    out, _ = capsys.readouterr()
    (job,) = json.loads(out)["jobs"]
    assert (job["source"], job["range_bytes"], job["size_bytes"]) == ("/dev/sda", 16 << 20, 72 << 20)
    assert job["percent"] == pytest.approx(100 * 4 / 18, abs=0.01)  # the range in flight counts as done
    assert cli.main(["status"]) in (0, code)
    assert "job: vg: moving /dev/sda in ranges of at most 16.0 MiB: 22.2%" in capsys.readouterr().out
    result = fake_system.lvmove("abort", "vg/pvmove0")
    assert result.returncode == 0, result.stderr
    assert "ended the move of vg off /dev/sda in ranges" in result.stdout
    assert job_records(fake_system) == []
    assert set(fake_system.devices_of("vg", "big")) == {"/dev/sda"}  # nothing was checkpointed: all back


@pytest.mark.lvm_versions("2.03.16", only=True)
def test_move_refuses_pe_ranges_pvmove_would_not_take(fake_system: FakeSystem, pv_paths_exist: None,
                                                      capsys: Capsys) -> None:
    fake_system.vg("vg")
    fake_system.lv("vg", "big", [("/dev/sda", 0, 16)])
    code = cli.main(["move", "/dev/sda:9-3", "/dev/sdb"])
    _, err = capsys.readouterr()
    assert code != 0
    assert "'/dev/sda:9-3': the extent ranges after ':' are not pvmove's" in err
    assert fake_system.argvs("lvm") == []  # refused before LVM was asked anything


@pytest.mark.lvm_versions("2.03.16", only=True)
def test_a_range_of_the_pv_asked_for_is_moved_in_ranges_too(fake_system: FakeSystem, pv_paths_exist: None,
                                                            capsys: Capsys) -> None:
    fake_system.vg("vg")
    fake_system.lv("vg", "big", [("/dev/sda", 0, 16)])
    fake_system.config("max_recopy: 16M\n")
    assert cli.main(["move", "/dev/sda:2-11", "/dev/sdb"]) == 0, capsys.readouterr().err
    result = fake_system.lvmove("run", "vg/pvmove0", timeout=90)
    assert result.returncode == 0, result.stderr
    assert ranges_started(fake_system) == ["/dev/sda:2-5", "/dev/sda:6-9", "/dev/sda:10-11"]
    assert fake_system.devices_of("vg", "big") == ["/dev/sda", "/dev/sdb", "/dev/sdb", "/dev/sdb", "/dev/sda"]
