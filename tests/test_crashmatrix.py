"""The crash matrix (tests/vm/crashmatrix.py): the seeded draw, the table, the arguments (pure), and the host's
flow of one point on a fake machine (no qemu)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.vm import crashmatrix as cm
from tests.vm.crashmatrix import BUSES, KINDS, LVMPOLLD, METHODS, MODES, SEGMENTS, Point, Result
from tests.vm.generations import Generation
from tests.vm.guest import GuestError
from tests.vm.harness import Checks


def test_draw_is_reproducible_and_depends_on_the_seed() -> None:
    assert cm.draw(12, 7) == cm.draw(12, 7)
    assert cm.draw(12, 7) != cm.draw(12, 8)
    assert cm.draw(5, 7) == cm.draw(30, 7)[:5]  # a longer run begins with the shorter one


@pytest.mark.parametrize("seed", range(20))
def test_two_points_cover_every_two_valued_dimension(seed: int) -> None:
    points = cm.draw(2, seed)
    assert {p.mode for p in points} == set(MODES)
    assert {p.lvmpolld for p in points} == set(LVMPOLLD)
    assert {p.bus for p in points} == set(BUSES)
    assert [p.method for p in points] == list(METHODS)
    assert len({p.kind for p in points}) == 2


@pytest.mark.parametrize("seed", range(20))
def test_four_points_cover_every_kind(seed: int) -> None:
    assert {p.kind for p in cm.draw(4, seed)} == set(KINDS)


def test_one_round_is_every_valid_combination_once() -> None:
    combos = cm.combos()
    assert len(combos) == 7 * 2 * 2  # 4 kinds by-segment + 3 --atomic (no checkpoint), x lvmpolld x bus
    drawn = [(p.kind, p.mode, p.lvmpolld, p.bus) for p in cm.draw(len(combos), 3)]
    assert sorted(drawn) == sorted(combos)
    second = [(p.kind, p.mode, p.lvmpolld, p.bus) for p in cm.draw(2 * len(combos), 3)]
    assert Counter(second) == Counter({c: 2 for c in combos})


def test_points_are_valid_and_alternate_the_method() -> None:
    points = cm.draw(60, 11)
    assert [p.index for p in points] == list(range(1, 61))
    assert [p.method for p in points] == [METHODS[i % 2] for i in range(60)]
    for p in points:
        segments = SEGMENTS[p.mode]
        assert not (p.kind == "checkpoint" and p.mode == "atomic")
        if p.kind == "checkpoint":
            assert 1 <= p.segment < segments
        elif p.kind == "finish":
            assert p.segment == segments
        else:
            assert 1 <= p.segment <= segments and 5 <= p.percent <= 95 and p.percent % 5 == 0
    assert {p.segment for p in points if p.kind == "segment" and p.mode == "by-segment"} == {1, 2, 3}


def test_env_of_a_point_for_the_guest_script() -> None:
    point = Point(3, "unit-start", "atomic", "off", "blk", "sysrq", 1, 40)
    env = point.env()
    assert env | {"MOVE_BPS": "-"} == {"KIND": "unit-start", "MODE": "atomic", "LVMPOLLD": "0", "SEG": "1",
                                       "PCT": "40", "METHOD": "sysrq", "FINAL_PHASE": "3", "MOVE_BPS": "-",
                                       "INTERVAL": "2"}
    assert Point(1, "finish", "by-segment", "on", "scsi", "sigkill", 3, 100).env()["FINAL_PHASE"] == "2"
    script = (Path(cm.__file__).parent / "scenarios" / "crashpoint.sh").read_text()
    for key in env:
        assert f"{key}=${{{key}:-" in script  # every variable is read, with a default


def test_judge_lists_failed_and_missing_checks() -> None:
    lines = ["PASS journal-lvmove resumed", "FAIL checksums-vg lv1 a b;", "PASS vgck-vg", "FAIL fatal  pvmove\tx"]
    problems = cm.judge(lines)
    assert problems[:2] == ["checksums-vg lv1 a b;", "fatal pvmove x"]
    assert "nothing-broken-vg missing" in problems and "checksums-vg missing" not in problems
    assert "vgck-vg missing" not in problems
    assert cm.judge([f"PASS {name} ok" for name in cm.REQUIRED]) == []
    assert cm.judge([], required=()) == []


def test_table_rows_and_summary() -> None:
    ok = Result(Point(1, "checkpoint", "by-segment", "on", "scsi", "sigkill", 2, 100), seconds=201.4,
                landed=["segment 2/3 in sync (8/8), LVM's reload not yet done"], did="resumed, completed",
                lvm_version="2.03.31(2) (2025-02-27)")
    bad = Result(Point(2, "finish", "atomic", "off", "blk", "sysrq", 1, 100), seconds=250.0,
                 problems=["checksums-vg lv1 x|y", "journal-lvmove missing"], did="?")
    text = cm.render_table([ok, bad], seed=99, generation="trixie")
    lines = text.splitlines()
    assert lines[0] == ("seed 99, 2 point(s), generation trixie (guest LVM 2.03.31(2) (2025-02-27)): 1 passed, "
                        "1 failed, 451 s")
    assert lines[2] == "| " + " | ".join(cm.HEADER) + " |"
    assert lines[3] == "|" + "---|" * len(cm.HEADER)
    assert lines[4].startswith("| 1 | by-segment | on | scsi (after switch-root) | "
                               "checkpoint: segment 2/3 just in sync")
    assert "→ seen: segment 2/3 in sync (8/8)" in lines[4]
    assert lines[4].endswith("| SIGKILL qemu (host) | resumed, completed | pass | 201 |")
    assert "a window aimed at, not a guaranteed hit" in lines[5]
    assert "| sysrq-b (guest) | ? | FAIL: checksums-vg lv1 x\\|y; journal-lvmove missing | 250 |" in lines[5]
    assert all(line.count(" | ") == len(cm.HEADER) - 1 for line in lines[4:6])  # the escaped pipe is no column


def test_planned_table() -> None:
    text = cm.render_table([Result(p, ran=False) for p in cm.draw(3, 1)], seed=1, generation="bookworm")
    assert text.splitlines()[0] == "seed 1, 3 point(s), generation bookworm (guest LVM -)"
    assert text.count("| planned | - |") == 3


def test_plan_prints_the_seed_first_and_boots_nothing(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cm, "prepare", lambda ctx: pytest.fail("--plan must not prepare guests"))
    assert cm.main(["--points", "4", "--seed", "123", "--plan"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "crash matrix: seed 123"
    assert sum(line.startswith("| ") and "planned" in line for line in out) == 4


def test_without_seed_one_is_drawn_and_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert cm.main(["--points", "1", "--plan"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("crash matrix: seed ") and first.split()[-1].isdigit()


@pytest.mark.parametrize(("argv", "needle"), [
    (["--points", "0"], "argument --points: expected a whole number of crash points from 1 to 500, not '0'"),
    (["--points", "ten"], "argument --points: expected a whole number of crash points from 1 to 500, not 'ten'"),
    (["--points", "501"], "not '501'"),
    ([], "the following arguments are required: --points"),
    (["--points", "2", "--seed", "-1"], "argument --seed: expected a whole number >= 0, not '-1'"),
    (["--points", "2", "--seed", "x1"], "argument --seed: expected a whole number >= 0, not 'x1'"),
    (["--points", "2", "--generation", "jessie"], "argument --generation: unknown suite 'jessie'"),
    (["--points", "2", "--generation", "trixie+9.9"], "argument --generation: unknown upstream LVM '9.9'"),
    (["--points", "2", "--out", "/nonexistent-dir/m.md"],
     "argument --out: '/nonexistent-dir/m.md': directory '/nonexistent-dir' does not exist"),
    (["--points", "2", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_arguments_are_named_without_a_traceback(argv: list[str], needle: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cm.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_out_must_not_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cm.main(["--points", "1", "--out", str(tmp_path)])
    assert f"argument --out: '{tmp_path}' is a directory" in capsys.readouterr().err


def test_generation_with_upstream_lvm_is_accepted() -> None:
    args = cm.parse_args(["--points", "1", "--generation", "bookworm+2.03.39", "--seed", "5"])
    assert (args.generation.name, args.seed, args.points) == ("bookworm+2.03.39", 5, 1)
    assert cm.parse_args(["--points", "1"]).generation.name == cm.DEFAULT_GENERATION


# ---- the host's flow of one point, on a fake machine (no qemu) ----------------------------------------------
class FakeGuest:
    def __init__(self, share: Path, exits_early: bool) -> None:
        self.share, self.boots, self.exits_early, self.alive = share, 0, exits_early, False
        self.log: list[str] = []
        self.boot_bps = 0

    def boot(self, script: str, phase: int, extra_append: str = "") -> None:
        self.boots += 1
        self.alive = True
        self.log.append(f"boot {phase} {script} bps={self.boot_bps}")
        (self.share / "out" / f"crash.{self.boots}.txt").write_text(f"seen at boot {self.boots}\n")

    def drive(self, until: str, timeout: float) -> str:
        self.log.append(f"drive {until}")
        if self.exits_early:  # the guest reset before its marker left the serial line
            self.alive = False
            raise GuestError(f"qemu exited before {until!r}")
        return until

    def running(self) -> bool:
        return self.alive

    def wait_exit(self, timeout: float) -> int:
        self.alive = False
        self.log.append("exited")
        return 0


class FakeRun:
    name = "crashpoint"

    def __init__(self, share: Path, exits_early: bool, final_error: str = "") -> None:
        (share / "out").mkdir(parents=True)
        self.out = share / "out"
        self.guest = FakeGuest(share, exits_early)
        self.final_error = final_error
        self.closed = False

    def phase(self, phase: int, until: str, timeout: float) -> str:
        self.guest.boot("crashpoint.sh", phase)
        return self.guest.drive(until, timeout)

    def crash_phase(self, phase: int, timeout: float) -> None:
        self.guest.boot("crashpoint.sh", phase)
        self.guest.log.append("SIGKILL")
        self.guest.alive = False

    def final_phase(self, phase: int, timeout: float) -> None:
        self.guest.boot("crashpoint.sh", phase)
        (self.out / f"crash.{self.guest.boots}.txt").unlink()  # a final boot does not crash
        if self.final_error:
            raise GuestError(self.final_error + "\n--- console tail ---")
        (self.out / "checks.txt").write_text("".join(f"PASS {n} x\n" for n in cm.REQUIRED if n != "vgck-vg")
                                             + "FAIL vgck-vg bad metadata\n")
        (self.out / "lvmove-did.txt").write_text("resumed, completed\n")
        self.guest.alive = False

    def checks(self) -> Checks:
        path = self.out / "checks.txt"
        return Checks(path.read_text().splitlines() if path.exists() else [])

    def close(self, keep: bool) -> None:
        self.closed = True

    def lvm_version(self) -> str:
        return "2.03.31(2)"


@pytest.mark.parametrize("method", METHODS)
def test_a_unit_start_point_crashes_twice_then_judges_the_final_boot(method: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(tmp_path / "share", exits_early=True)
    monkeypatch.setattr(cm, "new_run", lambda *a, **kw: fake)
    point = Point(1, "unit-start", "by-segment", "on", "scsi", method, 2, 50)
    result = cm.run_point(point, cm.Context(Generation("trixie"), 5, False, image=object()))  # type: ignore[arg-type]
    assert fake.closed
    kill = ["SIGKILL"] if method == "sigkill" else ["drive CRASH-SYSRQ", "exited"]
    assert fake.guest.log == [f"boot 1 crashpoint.sh bps={0}", *kill, f"boot 2 crashpoint.sh bps={cm.AGAIN_BPS}",
                              *kill, f"boot 3 crashpoint.sh bps={cm.FINAL_BPS}"]
    assert result.landed == ["seen at boot 1", "seen at boot 2"]
    assert result.problems == ["vgck-vg bad metadata"] and result.did == "resumed, completed"
    assert result.lvm_version == "2.03.31(2)" and not result.passed


def test_a_harness_error_fails_the_point_and_closes_the_machine(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(tmp_path / "share", exits_early=False, final_error="no 'RUNNER-END' within 720s")
    monkeypatch.setattr(cm, "new_run", lambda *a, **kw: fake)
    point = Point(2, "finish", "atomic", "off", "blk", "sysrq", 1, 100)
    result = cm.run_point(point, cm.Context(Generation("trixie"), 5, False, image=object()))  # type: ignore[arg-type]
    assert fake.closed and result.problems == ["harness: no 'RUNNER-END' within 720s"]
    assert result.landed == ["seen at boot 1"] and result.outcome.startswith("FAIL: harness:")


def test_a_lost_sysrq_marker_without_the_crash_note_is_an_error(tmp_path: Path) -> None:
    fake = FakeRun(tmp_path / "share", exits_early=True)
    fake.guest.boot = lambda script, phase, extra_append="": setattr(fake.guest, "alive", True)  # type: ignore[method-assign]
    with pytest.raises(GuestError, match="qemu exited before"):
        cm._crash(fake, 1, "sysrq", 10)  # type: ignore[arg-type]


def test_ci_seed_default_override_and_bad_value() -> None:
    assert cm.ci_seed({}) == cm.CI_SEED
    assert cm.ci_seed({"LVMOVE_CRASH_SEED": " 77 "}) == 77
    with pytest.raises(ValueError, match="LVMOVE_CRASH_SEED"):
        cm.ci_seed({"LVMOVE_CRASH_SEED": "soon"})


def test_ci_sample_covers_both_values_of_mode_lvmpolld_and_bus() -> None:
    points = cm.draw(cm.CI_POINTS, cm.CI_SEED)
    for attr in ("mode", "lvmpolld", "bus", "method"):
        assert len({getattr(p, attr) for p in points}) == 2, attr


def test_a_guest_note_is_neither_a_pass_nor_a_failure() -> None:
    checks = Checks(["PASS fill", "NOTE setup-io-retry dd to vg/lv1 failed before any move", "FAIL vgck-vg x"])
    assert checks.notes == ["setup-io-retry dd to vg/lv1 failed before any move"]
    assert checks.failed == ["FAIL vgck-vg x"]
    assert not checks.passed("setup-io-retry")
    assert cm.judge(["NOTE setup-io-retry dd failed"], required=()) == []


CONSOLE = Path(__file__).parent / "fixtures" / "console"


def test_a_kernel_panic_before_the_runner_is_recognised() -> None:
    """The console of a real boot whose kernel panicked (TCG, "Oops: int3", crash matrix seed 4711 point 18):
    the harness boots such a machine again; a panic after RUNNER-START is the scenario's own failure."""
    from tests.vm.guest import panic_before_runner

    console = (CONSOLE / "panic-int3-trixie.log").read_text()
    found = panic_before_runner(console)
    assert found.startswith("Oops: int3") and "RIP: 0010:sched_clock_cpu" in found, found
    assert panic_before_runner("LVMOVE-VM: RUNNER-START script=x phase=2\n" + console) == ""
    assert panic_before_runner("Loading, please wait...\nLVMOVE-VM: RUNNER-START script=x phase=1\n") == ""


def test_only_runs_the_named_points_of_the_same_draw(capsys: pytest.CaptureFixture[str]) -> None:
    assert cm.main(["--points", "30", "--seed", "4711", "--only", "8,18", "--plan"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "planned" in line]
    full = {p.index: p for p in cm.draw(30, 4711)}
    assert [int(r.split("|")[1]) for r in rows] == [8, 18]
    assert full[8].mode in rows[0] and full[18].mode in rows[1]


@pytest.mark.parametrize("only", ["31", "x", ","])
def test_only_names_points_of_the_draw(only: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cm.main(["--points", "30", "--seed", "1", "--only", only, "--plan"])
    assert exc.value.code == 2 and "--only" in capsys.readouterr().err


def test_crash_notes_follow_the_phases_when_a_boot_was_repeated(tmp_path: Path) -> None:
    """Point 17 of the seed-4711 run: boot 1 panicked before the runner, phase 1 ran (and crashed) as boot 2,
    phase 2 as boot 3: the note of phase 1 is crash.2.txt."""
    (tmp_path / "crash.2.txt").write_text("segment 1/1 at 70% (14/20 regions)\n")
    assert cm.crash_notes(tmp_path, 2) == ["segment 1/1 at 70% (14/20 regions)"]
    (tmp_path / "crash.2.txt").unlink()
    assert cm.crash_notes(tmp_path, 3) == ["phase 1: no crash note", "phase 2: no crash note"]
    for boot, text in ((3, "b"), (1, "a")):
        (tmp_path / f"crash.{boot}.txt").write_text(text + "\n")
    assert cm.crash_notes(tmp_path, 3) == ["a", "b"]
