"""`lvmove status VG/pvmoveN --map` on real LVM2 2.03.16 output captured mid-move (tests/fixtures/captured)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lvmove_hooks import dm, lvm, movemap
from lvmove_hooks.model import LogicalVolume, Move, find_moves, parse_lvs
from tests.helpers import FIXTURES, device_lines

CAPTURED = FIXTURES / "captured" / "bookworm"
MiB4 = 4 * 1024 * 1024


class CapturedKernel:
    """dm.Kernel's read() over a capture's `dmsetup table/status/info` dumps."""

    def __init__(self, case: str) -> None:
        d = CAPTURED / case
        self.table, self.status = (d / "dmsetup-table.txt").read_text(), (d / "dmsetup-status.txt").read_text()
        self.uuids = dict(line.split(":")[:2] for line in (d / "dmsetup-info-fields.txt").read_text().splitlines())

    def read(self, name: str) -> dm.KernelState | None:
        if name not in self.uuids:
            return None
        return dm.KernelState(device_lines(self.table, name), device_lines(self.status, name), self.uuids[name])


def captured(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Move, list[LogicalVolume]]:
    """The move in the capture's `lvs --readonly` report, activity from a sysfs of the capture's dm devices (as
    `lvmove status` reads it)."""
    for n, uuid in enumerate(CapturedKernel(case).uuids.values()):
        (tmp_path / "block" / f"dm-{n}" / "dm").mkdir(parents=True)
        (tmp_path / "block" / f"dm-{n}" / "dm" / "uuid").write_text(uuid + "\n")
    monkeypatch.setenv("LVMOVE_SYSFS", str(tmp_path))
    volumes = lvm.with_kernel_state(parse_lvs((CAPTURED / case / "lvs-readonly.json").read_text()))
    (move,) = find_moves(volumes)
    assert move.active
    return move, volumes


def summary(m: movemap.MoveMap) -> list[tuple[str, int, int, int, str]]:
    return [(p.lv, p.lv_start, p.start, p.size, p.state) for p in m.pieces]


def test_by_segment_mid_move(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pvmove sda -> sdb of lv1 (2 x 4 extents) and lv2 (2): segment 1 checkpointed (linear on sdb), segment 2
    mirroring at 1/8 of its regions, segment 3 still linear on sda; lvs says `pvmove0(0)` for every LV segment,
    the LVs' own dm tables say where they are on pvmove0."""
    move, volumes = captured("by-segment-mid", tmp_path, monkeypatch)
    seen = movemap.read_kernel(move, CapturedKernel("by-segment-mid"))  # type: ignore[arg-type]
    assert set(seen.lv_tables) == {"lv1", "lv2"}
    m = movemap.build(move, volumes, seen, 45.0)
    assert m.how == "kernel" and not m.inferred_order and m.total == 10
    assert summary(m) == [("lv1", 0, 0, 4, "done"), ("lv1", 4, 4, 4, "mirroring"), ("lv2", 0, 8, 2, "pending")]
    assert [(p.source, p.dest) for p in m.pieces] == [
        (("/dev/sda:0-3",), ("/dev/sdb:0-3",)), (("/dev/sda:6-9",), ("/dev/sdb:4-7",)),
        (("/dev/sda:4-5",), ("/dev/sdb:8-9",))]
    assert m.pieces[1].fraction == pytest.approx(1 / 8)
    text = movemap.render(m)
    assert text[0] == "vg/pvmove0: by-segment move /dev/sda -> /dev/sdb, 10 extents of 4.0 MiB (40.0 MiB), 45.0% copied"
    bar = next(line for line in text if line.startswith("  pvmove0  |"))
    cells = bar.strip().split("|")[1:-1]
    assert [set(c) for c in cells] == [{"#"}, {"=", "."}, {"."}] and cells[1].startswith("=")
    assert "  lv1:4-7     4-7      16.0 MiB  mirroring 12%  /dev/sda:6-9, copying to /dev/sdb:4-7" in text
    assert "  lv2:0-1     8-9      8.0 MiB   pending        /dev/sda:4-5 (to /dev/sdb:8-9)" in text
    assert text[-2:] == ["    vg/lv1: 16.0 MiB stays on /dev/sdb, 16.0 MiB back on /dev/sda",
                         "    vg/lv2: all 8.0 MiB back on /dev/sda"]


def test_by_segment_places_without_the_lvs_tables_follow_the_order(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    move, volumes = captured("by-segment-mid", tmp_path, monkeypatch)
    seen = movemap.read_kernel(move, CapturedKernel("by-segment-mid"))  # type: ignore[arg-type]
    m = movemap.build(move, volumes, movemap.KernelSeen(seen.table, seen.status, {}, seen.source_devs), 45.0)
    assert m.inferred_order
    assert summary(m) == [("lv1", 0, 0, 4, "done"), ("lv1", 4, 4, 4, "mirroring"), ("lv2", 0, 8, 2, "pending")]
    assert movemap.render(m)[-1] == "  (places on pvmove0 inferred from the order of the LVs' segments)"


def test_report_starts_are_used_when_they_tile_the_pvmove_lv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An LVM that reports each LV segment's real start on pvmoveN needs neither the kernel nor the order."""
    text = (CAPTURED / "by-segment-mid" / "lvs-readonly.json").read_text()
    first = text.index('"devices":"pvmove0(0)"', text.index('"lv_name":"lv1"') + 600)  # lv1's second segment
    text = text[:first] + '"devices":"pvmove0(4)"' + text[first + len('"devices":"pvmove0(0)"'):]
    lv2 = text.index('"devices":"pvmove0(0)"', text.index('"lv_name":"lv2"'))
    text = text[:lv2] + '"devices":"pvmove0(8)"' + text[lv2 + len('"devices":"pvmove0(0)"'):]
    volumes = parse_lvs(text)
    (move,) = find_moves(volumes)
    placed, inferred = movemap.places(move, movemap.KernelSeen(), 10)
    assert not inferred and placed == [("lv1", 0, 4, 0), ("lv1", 4, 4, 4), ("lv2", 0, 2, 8)]


def test_by_segment_states_from_the_percent_when_the_kernel_is_not_read(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    move, volumes = captured("by-segment-mid", tmp_path, monkeypatch)
    m = movemap.build(move, volumes, movemap.KernelSeen(), 45.0)
    assert m.how == "percent"
    assert [p.state for p in m.pieces] == ["done", "mirroring", "pending"]
    assert m.pieces[1].fraction == pytest.approx(0.125)
    unknown = movemap.build(move, volumes, movemap.KernelSeen(), None)
    assert {p.state for p in unknown.pieces} == {"unknown"}
    assert "which ones is not known" in movemap.render(unknown)[-2]


def test_atomic_mid_move(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pvmove --atomic sdb -> sdc: one mirror over all of pvmove0 between pvmove0_mimage_0 (on sdb) and
    pvmove0_mimage_1 (on sdc), 9 of 20 regions in sync; lv1 (8 extents) and lv2 (2) on it."""
    move, volumes = captured("atomic-mid", tmp_path, monkeypatch)
    seen = movemap.read_kernel(move, CapturedKernel("atomic-mid"))  # type: ignore[arg-type]
    m = movemap.build(move, volumes, seen, 45.0)
    assert m.how == "kernel" and not m.inferred_order
    assert summary(m) == [("lv1", 0, 0, 8, "mirroring"), ("lv2", 0, 8, 2, "mirroring")]
    assert [p.fraction for p in m.pieces] == [pytest.approx(9 / 20)] * 2
    assert [(p.source, p.dest) for p in m.pieces] == [(("/dev/sdb:0-7",), ("/dev/sdc:0-7",)),
                                                      (("/dev/sdb:8-9",), ("/dev/sdc:8-9",))]
    text = movemap.render(m)
    assert text[0] == "vg/pvmove0: atomic move /dev/sdb -> /dev/sdc, 10 extents of 4.0 MiB (40.0 MiB), 45.0% copied"
    mirror = next(line for line in text if line.startswith("  pvmove0  "))
    fill = mirror.split("|")[1]
    assert mirror.endswith("| mirror, 45.0% in sync") and set(fill) == {"=", "."}
    assert fill.count("=") == round(len(fill) * 0.45)
    image0 = next(line for line in text if line.lstrip().startswith("pvmove0_mimage_0"))
    image1 = next(line for line in text if line.lstrip().startswith("pvmove0_mimage_1"))
    assert [c.strip() for c in image0.split("|")[1:]] == ["/dev/sdb:0-7", "/dev/sdb:8-9",
                                                           "source, in use until the finish"]
    assert [c.strip() for c in image1.split("|")[1:]] == ["/dev/sdc:0-7", "/dev/sdc:8-9", "destination"]
    assert text[-1] == "  if aborted now: everything (40.0 MiB) stays on /dev/sdb; nothing is final before the finish"
