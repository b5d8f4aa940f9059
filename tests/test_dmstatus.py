import pytest

from lvmove_hooks.dmstatus import parse_status, parse_table, progress
from lvmove_hooks.errors import CommandFailed
from tests.helpers import BOOKWORM, device_lines


def _load(case: str) -> tuple[str, str]:
    d = BOOKWORM / case
    return (device_lines((d / "dmsetup-table.txt").read_text(), "vg-pvmove0"),
            device_lines((d / "dmsetup-status.txt").read_text(), "vg-pvmove0"))


def test_real_mid_move() -> None:
    table, status = _load("C-rootfs-stock_phase1_mid-pvmove")
    t = parse_table(table)
    assert t[0].target == "mirror" and t[0].devices == ("8:0", "8:16")
    s = parse_status(status)
    m = s[0].mirror
    assert m is not None and (m.in_sync, m.regions, m.health) == (7, 24, "AA")
    p = progress(t, s, frozenset({"8:0"}))
    assert p.percent == pytest.approx(100 * 7 / 24, abs=0.01)
    assert p.mirroring and not p.segment_synced and not p.bad_legs


def test_real_stuck_at_100() -> None:
    p = progress(*(f(x) for f, x in zip((parse_table, parse_status), _load("D-rootfs-nolvmpolld_phase2_stuck"),
                                       strict=True)), frozenset())
    assert p.percent == 100.0 and p.segment_synced


def test_segments_done_pending_and_mirroring() -> None:
    # segment 1 checkpointed (linear to dest 8:16), segment 2 mirroring half done, segment 3 still on source.
    table = ("0 100 linear 8:16 2048\n100 100 mirror core 1 1024 2 8:0 2248 8:16 2248 1 handle_errors\n"
             "200 200 linear 8:0 2348\n")
    status = "0 100 linear \n100 100 mirror 2 8:0 8:16 5/10 1 AA 1 core\n200 200 linear \n"
    p = progress(parse_table(table), parse_status(status), frozenset({"8:0"}))
    assert p.total == 400 and p.done == 150
    assert p.percent == pytest.approx(37.5)


def test_degraded_leg_reported() -> None:
    status = "0 100 mirror 2 8:0 8:16 5/10 1 AD 1 core\n"
    table = "0 100 mirror core 1 1024 2 8:0 0 8:16 0\n"
    p = progress(parse_table(table), parse_status(status), frozenset())
    assert p.bad_legs == (("8:16", "write failed"),)


def test_atomic_over_images() -> None:
    table = "0 4096 mirror core 1 1024 2 253:2 0 253:3 0\n"
    status = "0 4096 mirror 2 253:2 253:3 4/4 1 AA 1 core\n"
    p = progress(parse_table(table), parse_status(status), frozenset())
    assert p.percent == 100.0 and p.segment_synced


def test_named_multi_device_output() -> None:
    s = parse_status("vg-pvmove0: 0 98304 mirror 2 8:0 8:16 24/24 1 AA 1 core\n")
    assert s[0].mirror is not None and s[0].mirror.synced


@pytest.mark.parametrize("bad", ["0 x linear", "0 10 mirror 2 8:0", "0 10 mirror 2 8:0 8:16 a/b 1 AA 1 core"])
def test_garbage_raises(bad: str) -> None:
    with pytest.raises(CommandFailed):
        parse_status(bad)
