"""The pure modules fed with what each LVM generation really printed: tests/fixtures/captured/<generation>/,
recorded by `python3 -m tests.vm.capture` (tests/vm/scenarios/capture.sh: the same VG, LVs and moves on each).

bookworm: LVM2 2.03.16 (Debian 12); trixie: 2.03.31 (Debian 13); bookworm+main: upstream main (2.03.40-git)
laid over Debian 12. The list is explicit: a generation whose capture is missing fails, it is not skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lvmove_hooks import dm, lvm, procscan, runner
from lvmove_hooks.model import Move, find_moves, parse_lvs
from lvmove_hooks.names import is_pvmove_lv
from tests.helpers import FIXTURES, device_lines

ROOT = FIXTURES / "captured"
GENERATIONS = ("bookworm", "trixie", "bookworm+main")
# Generations whose capture has the missing VG's report and LVM's forked poller in /proc (capture.sh since
# the trixie capture; bookworm's was recorded before and with lvmpolld).
NEWER = ("trixie", "bookworm+main")


def _moment(gen: str, moment: str) -> Path:
    path = ROOT / gen / moment
    assert path.is_dir(), f"no capture {path}: run python3 -m tests.vm.capture for {gen}"
    return path


def _move(gen: str, moment: str, readonly: bool = False) -> Move:
    name = "lvs-readonly.json" if readonly else "lvs.json"
    (move,) = find_moves(parse_lvs((_moment(gen, moment) / name).read_text()))
    return move


def _kernel(gen: str, moment: str, dm_name: str = "vg-pvmove0") -> dm.KernelState:
    d = _moment(gen, moment)
    uuid = next(line.split()[2] for line in (d / "sys-block-dm.txt").read_text().splitlines()
                if line.split()[1] == dm_name)
    return dm.KernelState(table=device_lines((d / "dmsetup-table.txt").read_text(), dm_name),
                          status=device_lines((d / "dmsetup-status.txt").read_text(), dm_name), uuid=uuid)


@pytest.mark.parametrize("gen", GENERATIONS)
def test_by_segment_move_mid_way(gen: str) -> None:
    move = _move(gen, "by-segment-mid")
    assert move.mode == "by-segment" and move.active
    assert move.source == "/dev/sda" and move.destinations == ("/dev/sdb",)
    assert {lv.name for lv in move.moved} == {"lv1", "lv2"}
    assert move.pvmove.copy_percent is not None and 0 < move.pvmove.copy_percent < 100


@pytest.mark.parametrize("gen", GENERATIONS)
def test_readonly_report_leaves_activity_to_the_kernel(gen: str) -> None:
    move = _move(gen, "by-segment-mid", readonly=True)
    assert move.source == "/dev/sda" and move.destinations == ("/dev/sdb",)
    assert not move.pvmove.active_known and move.pvmove.copy_percent is None


@pytest.mark.parametrize("gen", GENERATIONS)
def test_kernel_device_is_the_moves_own_and_its_progress_adds_up(gen: str) -> None:
    move = _move(gen, "by-segment-mid")
    got = _kernel(gen, "by-segment-mid")
    # 2.03.36 on: the dm UUID of the pvmove LV carries "-real" (LVM-<vg uuid><lv uuid>-real); either is ours.
    assert got.uuid.startswith(move.pvmove.dm_uuid)
    assert got.uuid.endswith("-real") == (gen == "bookworm+main")
    progress = dm.progress_of(move, got, frozenset({"8:0"}))
    assert progress is not None and progress.total * 512 == move.size
    assert 0 < progress.done < progress.total and progress.mirroring
    # The same reading is not another move's (a reused pvmove0 name has another UUID).
    other = dm.KernelState(table=got.table, status=got.status, uuid="LVM-" + "x" * 64)
    assert dm.owned(move, other) is None


@pytest.mark.parametrize("gen", GENERATIONS)
def test_atomic_move_and_its_image_devices(gen: str) -> None:
    move = _move(gen, "atomic-mid")
    assert move.mode == "atomic" and move.source == "/dev/sdb" and move.destinations == ("/dev/sdc",)
    names = [line.split("=", 1)[1] for line in (_moment(gen, "atomic-mid") / "udevadm-info.txt").read_text()
             .splitlines() if line.startswith("E: DM_LV_NAME=")]
    images = [name for name in names if "_mimage_" in name]
    assert images, "the atomic move shows its mirror images as dm devices"
    # Units are for pvmoveN itself only, never for its image sub-LVs.
    assert "pvmove0" in names and not any(is_pvmove_lv(name) for name in images)


@pytest.mark.parametrize("gen", NEWER)
def test_a_missing_vg_is_no_error(gen: str, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _moment(gen, "by-segment-mid")
    err = (d / "lvs-nosuchvg.json.err").read_text()
    code = int(err.rsplit("rc=", 1)[1])
    stdout, stderr = (d / "lvs-nosuchvg.json").read_text(), err.rsplit("rc=", 1)[0]
    assert code != 0 and "not found" in stdout and "not found" not in stderr  # 2.03.26 on: in the JSON log
    captured = runner.Result(argv=("lvm", "lvs"), returncode=code, stdout=stdout, stderr=stderr, seconds=0.0)
    monkeypatch.setattr(runner, "run", lambda argv, **_: captured)
    assert lvm.read(["nosuchvg"]).volumes == []
    with pytest.raises(Exception, match="lvs failed"):
        lvm.read(["othervg"])  # a message about another VG is an error


def _pollers(gen: str) -> list[tuple[tuple[str, ...], str, str]]:
    """(argv, comm, exe) of each process in a capture's proc-pollers.txt."""
    found = []
    lines = (_moment(gen, "by-segment-mid") / "proc-pollers.txt").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("=== "):
            words = dict(w.split("=", 1) for w in line.split()[2:] if "=" in w)
            argv = tuple(lines[i + 1].split("|"))
            found.append((argv[:-1] if argv and argv[-1] == "" else argv, words.get("comm", ""), words.get("exe", "")))
    return found


@pytest.mark.parametrize("gen", NEWER)
def test_lvms_forked_poller_is_found_however_its_argv_reads(gen: str) -> None:
    polling = []
    for argv, comm, exe in _pollers(gen):
        command, args = procscan.lvm_invocation(argv, comm, exe.endswith("/lvm"))
        if command == "pvmove" and "-b" in args and procscan._pvmove_covers(args, "/dev/sda"):
            polling.append(argv)
    assert len(polling) == 1, _pollers(gen)
    # LVM main NUL-terminates the rewritten argv[0]: "(l" where older ones show "(lvm2)"-like names.
    assert polling[0][0].startswith("(l")
    assert (polling[0][0] == "(l") == (gen == "bookworm+main")
