"""The pure modules fed with what each LVM generation really printed: tests/fixtures/captured/<generation>/,
recorded by `python3 -m tests.vm.capture` (tests/vm/scenarios/capture.sh: the same VG, LVs and moves on each).

bookworm: LVM2 2.03.16 (Debian 12); trixie: 2.03.31 (Debian 13, systemd 257); sid: 2.03.31 (systemd 262,
kernel 7.2); bookworm+2.03.39 and bookworm+main: upstream
LVM2 2.03.39 and main (2.03.40-git, d804677) laid over Debian 12's (`--lvm`). The list is explicit: a generation
whose capture is missing fails, it is not skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lvmove_hooks import dm, lvm, procscan, runner
from lvmove_hooks.model import Move, find_moves, parse_lvs
from lvmove_hooks.names import is_pvmove_lv
from tests.helpers import FIXTURES, device_lines

ROOT = FIXTURES / "captured"
GENERATIONS = ("bookworm", "trixie", "sid", "bookworm+2.03.39", "bookworm+main")
# Generations whose capture has the missing VG's report and LVM's forked poller (capture.sh since the trixie
# capture; bookworm's was recorded before, with lvmpolld).
NEWER = ("trixie", "sid", "bookworm+2.03.39", "bookworm+main")
# ... and the forked poller's /proc entry (proc-pollers.txt: capture.sh's pgrep found it since these captures).
WITH_PROC = ("sid", "bookworm+2.03.39", "bookworm+main")
# LVM 2.03.36 on: the dm UUID of a pvmove LV (and of its image sub-LVs) ends in "-real".
REAL_SUFFIX = ("bookworm+2.03.39", "bookworm+main")
# argv[0] of the forked poller started as `pvmove ...`: become_daemon() writes "(lvm2)" over it; on main it
# NUL-terminates within the old argv[0]'s 6 bytes ("(lvm2" and an empty argument).
POLLER_ARGV0 = {"trixie": "(lvm2)", "sid": "(lvm2)", "bookworm+2.03.39": "(lvm2)", "bookworm+main": "(lvm2"}


def _moment(gen: str, moment: str) -> Path:
    path = ROOT / gen / moment
    assert path.is_dir(), f"no capture {path}: run python3 -m tests.vm.capture for {gen}"
    return path


def _move(gen: str, moment: str, readonly: bool = False) -> Move:
    name = "lvs-readonly.json" if readonly else "lvs.json"
    (move,) = find_moves(parse_lvs((_moment(gen, moment) / name).read_text()))
    return move


def _asked(gen: str, atomic: bool) -> tuple[str, str]:
    """(source, destination) of the capture's by-segment or --atomic pvmove, from its phase log: the guest's
    disk names change between boots and suites, so the test takes them from what was run."""
    for line in (ROOT / gen / "phase1.log").read_text().splitlines():
        words = line.split()
        if "# pvmove" in line and ("--atomic" in words) == atomic:
            return words[-2], words[-1]
    raise AssertionError(f"no pvmove in {gen}'s phase1.log")


def _devno(gen: str, path: str) -> str:
    """maj:min of a disk (sd<x> is 8:16*index), to tell the mirror's legs apart."""
    return f"8:{16 * (ord(path[-1]) - ord('a'))}"


def _kernel(gen: str, moment: str, dm_name: str = "vg-pvmove0") -> dm.KernelState:
    d = _moment(gen, moment)
    uuid = next(line.split()[2] for line in (d / "sys-block-dm.txt").read_text().splitlines()
                if line.split()[1] == dm_name)
    return dm.KernelState(table=device_lines((d / "dmsetup-table.txt").read_text(), dm_name),
                          status=device_lines((d / "dmsetup-status.txt").read_text(), dm_name), uuid=uuid)


@pytest.mark.parametrize("gen", GENERATIONS)
def test_by_segment_move_mid_way(gen: str) -> None:
    move = _move(gen, "by-segment-mid")
    source, dest = _asked(gen, atomic=False)
    assert move.mode == "by-segment" and move.active
    assert move.source == source and move.destinations == (dest,)
    assert {lv.name for lv in move.moved} == {"lv1", "lv2"}
    assert move.pvmove.copy_percent is not None and 0 < move.pvmove.copy_percent < 100


@pytest.mark.parametrize("gen", GENERATIONS)
def test_readonly_report_leaves_activity_to_the_kernel(gen: str) -> None:
    move = _move(gen, "by-segment-mid", readonly=True)
    source, dest = _asked(gen, atomic=False)
    assert move.source == source and move.destinations == (dest,)
    assert not move.pvmove.active_known and move.pvmove.copy_percent is None


@pytest.mark.parametrize("gen", GENERATIONS)
def test_kernel_device_is_the_moves_own_and_its_progress_adds_up(gen: str) -> None:
    move = _move(gen, "by-segment-mid")
    got = _kernel(gen, "by-segment-mid")
    # 2.03.36 on: the dm UUID of the pvmove LV carries "-real" (LVM-<vg uuid><lv uuid>-real); either is ours.
    assert got.uuid.startswith(move.pvmove.dm_uuid)
    assert got.uuid.endswith("-real") == (gen in REAL_SUFFIX)
    progress = dm.progress_of(move, got, frozenset({_devno(gen, move.source)}))
    assert progress is not None and progress.total * 512 == move.size
    assert 0 < progress.done < progress.total and progress.mirroring
    # The same reading is not another move's (a reused pvmove0 name has another UUID).
    other = dm.KernelState(table=got.table, status=got.status, uuid="LVM-" + "x" * 64)
    assert dm.owned(move, other) is None


@pytest.mark.parametrize("gen", GENERATIONS)
def test_atomic_move_and_its_image_devices(gen: str) -> None:
    move = _move(gen, "atomic-mid")
    source, dest = _asked(gen, atomic=True)
    assert move.mode == "atomic" and move.source == source and move.destinations == (dest,)
    names = [line.split("=", 1)[1] for line in (_moment(gen, "atomic-mid") / "udevadm-info.txt").read_text()
             .splitlines() if line.startswith("E: DM_LV_NAME=")]
    images = [name for name in names if "_mimage_" in name]
    assert images, "the atomic move shows its mirror images as dm devices"
    # Units are for pvmoveN itself only, never for its image sub-LVs.
    assert "pvmove0" in names and not any(is_pvmove_lv(name) for name in images)
    uuids = [line.split("=", 1)[1] for line in (_moment(gen, "atomic-mid") / "udevadm-info.txt").read_text()
             .splitlines() if line.startswith("E: DM_UUID=")]
    real = [uuid for uuid in uuids if uuid.endswith("-real")]
    assert len(real) == (len(images) + 1 if gen in REAL_SUFFIX else 0)  # pvmove0 and its images


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


def _forked_pollers(gen: str) -> list[tuple[str, ...]]:
    """argv of LVM's forked poller as `ps` showed it mid-move (ps.txt: pid, ppid, unit, args). become_daemon()
    has rewritten argv[0] ("pvmove" -> "(lvm2)"), so the word pvmove is gone from it."""
    found = []
    for line in (_moment(gen, "by-segment-mid") / "ps.txt").read_text().splitlines():
        words = line.split()
        if len(words) > 3 and words[3].startswith("(l"):
            found.append(tuple(words[3:]))
    return found


@pytest.mark.parametrize("gen", NEWER)
def test_lvms_forked_poller_is_found_however_its_argv_reads(gen: str) -> None:
    (argv,) = _forked_pollers(gen)
    assert argv[0] == POLLER_ARGV0[gen] and "pvmove" not in argv
    # The kernel names the process after the link it was started as (/usr/sbin/pvmove): comm "pvmove"; exe is lvm.
    command, args = procscan.lvm_invocation(argv, "pvmove", True)
    assert command == "pvmove" and "-b" in args
    source = args[-2]
    assert procscan._pvmove_covers(args, source) and not procscan._pvmove_covers(args, "/dev/nosuch")
    # Without a readable exe (another user's process): still LVM by its rewritten argv[0].
    assert procscan.lvm_invocation(argv, "pvmove", None)[0] == "pvmove"


def _proc_entry(gen: str, root: Path, lvm_binary: Path) -> tuple[int, str]:
    """A /proc/PID of the forked poller as the capture recorded it (cmdline with its empty arguments, comm,
    exe -> the lvm binary); (pid, comm)."""
    lines = (_moment(gen, "by-segment-mid") / "proc-pollers.txt").read_text().splitlines()
    head = lines[0].split()  # === PID exe=/usr/sbin/lvm comm=pvmove
    pid, comm = int(head[1]), head[3].removeprefix("comm=")
    assert head[2] == "exe=/usr/sbin/lvm"
    entry = root / str(pid)
    entry.mkdir(parents=True)
    (entry / "cmdline").write_bytes(lines[1].replace("|", "\0").encode())
    (entry / "comm").write_text(comm + "\n")
    (entry / "exe").symlink_to(lvm_binary)
    return pid, comm


@pytest.mark.parametrize("gen", WITH_PROC)
def test_lvms_forked_poller_is_found_in_proc_by_what_it_runs(gen: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    lvm_binary = tmp_path / "sbin" / "lvm"
    lvm_binary.parent.mkdir()
    lvm_binary.write_text("")
    pid, comm = _proc_entry(gen, tmp_path / "proc", lvm_binary)
    monkeypatch.setenv("LVMOVE_PROC", str(tmp_path / "proc"))
    st = lvm_binary.stat()
    monkeypatch.setattr(procscan, "lvm_binary", lambda: (str(lvm_binary), (st.st_dev, st.st_ino)))
    source, dest = _asked(gen, atomic=False)
    move = _move(gen, "by-segment-mid")
    (found,) = procscan.other_pollers(move.ref, source, set())
    assert comm == "pvmove"  # the kernel names it after the link it was started as (/usr/sbin/pvmove -> lvm)
    assert found.pid == pid and found.command == "pvmove" and "-b" in found.args
    assert found.args[-2:] == (source, dest)
    assert procscan.other_pollers(move.ref, "/dev/nosuch", set()) == []
    # Another program with the same argv is not LVM: exe decides, not the spelling.
    other = tmp_path / "sbin" / "other"
    other.write_text("")
    (tmp_path / "proc" / str(pid) / "exe").unlink()
    (tmp_path / "proc" / str(pid) / "exe").symlink_to(other)
    assert procscan.other_pollers(move.ref, source, set()) == []
