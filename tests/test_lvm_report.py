"""lvm.report() fed with what each LVM generation prints for `lvs --reportformat json` (issue 11, point 1).

LVM 2.03.26 and later put their messages into a top-level "log" report on stdout (report_command_log=1 is the
default with JSON output), not on stderr. Real 2.03.31 for a missing VG: nothing on stderr, exit status 5, and
the "log" below; 2.03.16 prints the messages on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from lvmove_hooks import lvm, runner
from lvmove_hooks.errors import CommandFailed
from tests.helpers import FIXTURES


def log_row(seq: int, kind: str, vg: str, message: str, ret_code: int) -> str:
    """One row of LVM's "log" report, every field LVM prints by default (log/command_log_cols)."""
    values = {"log_seq_num": str(seq), "log_type": kind, "log_context": "processing", "log_object_type": "vg",
              "log_object_name": vg, "log_object_id": "", "log_object_group": "", "log_object_group_id": "",
              "log_message": message, "log_errno": "0", "log_ret_code": str(ret_code)}
    return "{" + ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in values.items()) + "}"


def with_log(report: str, rows: Sequence[str]) -> str:
    """A JSON report as LVM >= 2.03.26 prints it: the "log" report after the others."""
    body = report.rstrip().removesuffix("}").rstrip()
    return (body + '\n      ,\n      "log": [\n' + ",\n".join("          " + r for r in rows) + "\n      ]\n  }\n")


EMPTY = '  {\n      "report": [\n          {\n              "seg": [\n              ]\n          }\n      ]\n  }\n'
MISSING_2_03_31 = with_log(EMPTY, [log_row(1, "error", "nosuchvg", 'Volume group "nosuchvg" not found', 0),
                                   log_row(2, "status", "nosuchvg", "", 5)])
MISSING_2_03_16_STDERR = '  Volume group "nosuchvg" not found\n  Cannot process volume group nosuchvg\n'
MID_MOVE = (FIXTURES / "captured" / "bookworm" / "by-segment-mid2" / "lvs-readonly.json").read_text()


@pytest.fixture
def lvs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[runner.Result]:
    """Make the runner answer `lvm lvs` with the next prepared result."""
    answers: list[runner.Result] = []

    def run(argv: Sequence[str], **_kw: object) -> runner.Result:
        assert list(argv[:2]) == ["lvm", "lvs"], argv
        return answers.pop(0)

    monkeypatch.setattr(runner, "run", run)
    monkeypatch.setenv("LVMOVE_SYSFS", str(tmp_path))  # no dm devices: --readonly activity from here
    return answers


def result(stdout: str, stderr: str = "", rc: int = 0) -> runner.Result:
    return runner.Result(("lvm", "lvs"), rc, stdout, stderr, 0.1)


def test_missing_vg_on_lvm_2_03_31_is_no_lvs(lvs: list[runner.Result]) -> None:
    lvs.append(result(MISSING_2_03_31, "", 5))
    assert lvm.report(["nosuchvg"]) == []


def test_missing_vg_on_lvm_2_03_16_is_no_lvs(lvs: list[runner.Result]) -> None:
    lvs.append(result(EMPTY, MISSING_2_03_16_STDERR, 5))
    assert lvm.report(["nosuchvg"]) == []


def test_a_missing_vg_beside_a_present_one_keeps_the_present_ones_lvs(lvs: list[runner.Result]) -> None:
    lvs.append(result(with_log(MID_MOVE, [log_row(1, "error", "nosuchvg", 'Volume group "nosuchvg" not found', 0),
                                          log_row(2, "status", "nosuchvg", "", 5)]), "", 5))
    names = sorted(lv.name for lv in lvm.report(["vg", "nosuchvg"]))
    assert names == ["lv1", "lv2", "pvmove0"]


def test_success_with_an_empty_log_is_the_report(lvs: list[runner.Result]) -> None:
    lvs.append(result(with_log(MID_MOVE, [])))
    (move,) = lvm.moves(["vg"])
    assert move.ref.lv == "pvmove0" and move.source == "/dev/sda"


def test_other_errors_in_the_log_fail_with_lvms_own_message(lvs: list[runner.Result]) -> None:
    message = "Cannot access VG vg without persistent reservation."
    lvs.append(result(with_log(EMPTY, [log_row(1, "error", "vg", message, 0), log_row(2, "status", "vg", "", 5)]),
                      "", 5))
    with pytest.raises(CommandFailed) as failed:
        lvm.report(["vg"])
    assert str(failed.value) == f"lvs failed: {message} (exit status 5)"


def test_a_missing_vg_named_by_nobody_is_an_error(lvs: list[runner.Result]) -> None:
    """`lvs` without VG arguments never finds a VG missing: the same message then means trouble."""
    lvs.append(result(MISSING_2_03_31, "", 5))
    with pytest.raises(CommandFailed, match='Volume group "nosuchvg" not found'):
        lvm.report()


def test_stderr_still_counts_where_there_is_no_log(lvs: list[runner.Result]) -> None:
    lvs.append(result("", "  Unrecognised field: lv_nope\n", 3))
    with pytest.raises(CommandFailed, match=r"lvs failed: Unrecognised field: lv_nope \(exit status 3\)"):
        lvm.report(["vg"])
