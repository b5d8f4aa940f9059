"""The pure modules fed with real LVM2 2.03.16 output captured in the bookworm guest (tests/vm/capture.py)."""

from pathlib import Path

import pytest

from lvmove_hooks import lvm
from lvmove_hooks.dmstatus import parse_status, parse_table, progress
from lvmove_hooks.model import find_moves, parse_lvs
from tests.helpers import FIXTURES, device_lines

CAPTURED = FIXTURES / "captured" / "bookworm"


def _dm(case: str, name: str = "vg-pvmove0") -> tuple[str, str]:
    d = CAPTURED / case
    return (device_lines((d / "dmsetup-table.txt").read_text(), name),
            device_lines((d / "dmsetup-status.txt").read_text(), name))


def test_by_segment_mid_move_report() -> None:
    (move,) = find_moves(parse_lvs((CAPTURED / "by-segment-mid2" / "lvs.json").read_text()))
    assert move.mode == "by-segment" and move.active and move.pvmove.copy_percent == 70.0
    assert move.source == "/dev/sda" and move.destinations == ("/dev/sdb",)
    assert sorted(lv.name for lv in move.moved) == ["lv1", "lv2"]
    assert move.size == 40 * 1024 * 1024 and len(move.pvmove.segments) == 3


def test_readonly_report_does_not_know_activity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    volumes = parse_lvs((CAPTURED / "by-segment-mid2" / "lvs-readonly.json").read_text())
    (move,) = find_moves(volumes)
    assert not move.pvmove.active_known and move.pvmove.copy_percent is None
    # The kernel has the device: sysfs says so, and lvmove believes the kernel.
    uuid = move.pvmove.dm_uuid
    assert uuid == "LVM-V0tIAq2z6nqxj7JBMp9E3QnszCsnfO3eQccEfmgK7exIU8MiqVJfcm0WG1Fuxifc"
    (tmp_path / "block" / "dm-2" / "dm").mkdir(parents=True)
    (tmp_path / "block" / "dm-2" / "dm" / "uuid").write_text(uuid + "\n")
    monkeypatch.setenv("LVMOVE_SYSFS", str(tmp_path))
    (move,) = find_moves(lvm.with_kernel_state(volumes))
    assert move.active
    (tmp_path / "block" / "dm-2" / "dm" / "uuid").write_text("LVM-other\n")
    (move,) = find_moves(lvm.with_kernel_state(volumes))
    assert not move.active


def test_by_segment_kernel_progress_counts_done_segments() -> None:
    table, status = _dm("by-segment-mid2")
    p = progress(parse_table(table), parse_status(status), frozenset({"8:0"}))
    # segment 1 checkpointed onto sdb (8:16), segment 2 mirroring at 7/8, segment 3 still on sda
    assert p.total == 81920 and p.done == 32768 + 32768 * 7 // 8
    assert p.mirroring and not p.segment_synced


def test_atomic_move_report_and_progress() -> None:
    (move,) = find_moves(parse_lvs((CAPTURED / "atomic-resumed-mid" / "lvs.json").read_text()))
    assert move.mode == "atomic" and move.source == "/dev/sda" and move.destinations == ("/dev/sdc",)
    assert sorted(lv.name for lv in move.moved) == ["lv1", "lv2"]
    table, status = _dm("atomic-resumed-mid")
    p = progress(parse_table(table), parse_status(status), frozenset())
    assert p.percent == pytest.approx(35.0)


def test_finished_report_has_no_move_and_lvs_on_destination() -> None:
    volumes = parse_lvs((CAPTURED / "by-segment-done" / "lvs.json").read_text())
    assert find_moves(volumes) == []
    lv1 = next(v for v in volumes if v.name == "lv1")
    assert not lv1.locked and lv1.extents_on("/dev/sda") == 0 and lv1.extents_on("/dev/sdb") == 8
