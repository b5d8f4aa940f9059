"""Range jobs (rangejob.py): the extent arithmetic and the record, without processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lvmove_hooks import rangejob
from lvmove_hooks.model import LogicalVolume, Segment

MIB4 = 4 * 1024 * 1024


def lv(name: str, *segs: tuple[str, int, int], role: str = "public") -> LogicalVolume:
    return LogicalVolume(vg="vg", vg_uuid="u", name=name, uuid=f"uuid-{name}", attr="-wi-a-----", active=True,
                         size=sum(n for _, _, n in segs) * MIB4, extent_size=MIB4, move_pv="", copy_percent=None,
                         role=role, segments=tuple(Segment("linear", n, ((dev, pe),)) for dev, pe, n in segs))


@pytest.mark.parametrize(("text", "runs"), [
    ("0-3", ((0, 4),)),
    ("10+5", ((10, 5),)),
    ("7", ((7, 1),)),
    ("0-3:8-9", ((0, 4), (8, 2))),
])
def test_parse_ranges_takes_pvmoves_spellings(text: str, runs: tuple[tuple[int, int], ...]) -> None:
    assert rangejob.parse_ranges(text) == runs


@pytest.mark.parametrize("text", ["", "a-b", "5-2", "-1", "1-"])
def test_parse_ranges_refuses_what_pvmove_would_not_take(text: str) -> None:
    with pytest.raises(ValueError):
        rangejob.parse_ranges(text)


def test_left_on_source_is_the_allocated_extents_in_order_merged() -> None:
    volumes = [lv("big", ("/dev/sda", 0, 16)), lv("small", ("/dev/sda", 16, 2)), lv("other", ("/dev/sdc", 0, 4)),
               lv("gap", ("/dev/sda", 30, 2))]
    assert rangejob.left_on_source(volumes, "/dev/sda") == [(0, 18), (30, 2)]
    assert rangejob.left_on_source(volumes, "/dev/sda", lv="small") == [(16, 2)]
    assert rangejob.left_on_source(volumes, "/dev/sda", asked=((4, 4), (31, 10))) == [(4, 4), (31, 1)]


def test_left_on_source_skips_what_a_pvmove_is_moving_now() -> None:
    """Extents in flight map onto pvmoveN (its own segment lists the source): they are not left."""
    volumes = [lv("big", ("pvmove0", 0, 4), ("/dev/sda", 4, 12)),
               lv("pvmove0", ("/dev/sda", 0, 4), role="private,pvmove")]
    assert volumes[1].is_pvmove
    assert rangejob.left_on_source(volumes, "/dev/sda") == [(4, 12)]


@pytest.mark.parametrize(("runs", "chunk", "expect"), [
    ([(0, 16)], 4, (0, 3)),  # inside one run
    ([(0, 2), (10, 6)], 4, (0, 11)),  # the free extents 2-9 inside the range move nothing
    ([(4, 2)], 4, (4, 5)),  # less than a chunk left: up to its end
    ([], 4, None),  # nothing left: the job is done
])
def test_next_range_covers_at_most_a_chunk_of_allocated_extents(runs: list[tuple[int, int]], chunk: int,
                                                                expect: tuple[int, int] | None) -> None:
    assert rangejob.next_range(runs, chunk) == expect


def test_a_job_record_survives_a_round_trip_and_goes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LVMOVE_STATEDIR", str(tmp_path))
    job = rangejob.Job(vg="vg", source_uuid="PVUUID-1", source="/dev/sda", dest_uuids=("PVUUID-2",), lv="",
                       alloc="", chunk_pe=4, total_pe=18, extent_size=MIB4, asked=((0, 18),))
    rangejob.save(job)
    assert rangejob.load("vg") == [job]
    assert rangejob.vgs_with_jobs() == ["vg"]
    (tmp_path / "jobs" / "vg" / "broken.json").write_text("{", encoding="utf-8")
    assert rangejob.load("vg") == [job]  # a record that cannot be read is skipped, not fatal
    rangejob.drop(job)
    assert rangejob.load("vg") == []


def test_a_striped_segment_on_the_source_keeps_the_move_whole() -> None:
    """A job counts and splits single-area segments only; a striped one on the source would be left behind."""
    striped = LogicalVolume(vg="vg", vg_uuid="u", name="st", uuid="uuid-st", attr="-wi-a-----", active=True,
                            size=8 * MIB4, extent_size=MIB4, move_pv="", copy_percent=None, role="public",
                            segments=(Segment("striped", 8, (("/dev/sda", 20), ("/dev/sdc", 0))),))
    assert rangejob.only_single_areas([lv("big", ("/dev/sda", 0, 16))], "/dev/sda")
    assert not rangejob.only_single_areas([lv("big", ("/dev/sda", 0, 16)), striped], "/dev/sda")
    assert rangejob.only_single_areas([lv("big", ("/dev/sda", 0, 16)), striped], "/dev/sda", lv="big")
