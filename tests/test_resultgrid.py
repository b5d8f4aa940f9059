"""The VM suite's results grid (tests/vm/resultgrid.py): what a stopped run shows."""

import re

import pytest

from tests.vm.generations import parse_matrix
from tests.vm.resultgrid import grid


def cells(lines: list[str]) -> dict[str, list[str]]:
    """row name -> its cells (split on two or more spaces)."""
    return {parts[0]: parts[1:] for parts in (re.split(r"\s{2,}", line.strip()) for line in lines[1:-1])}


def test_a_stopped_run_shows_every_selected_machine_not_only_the_finished_ones() -> None:
    matrix = parse_matrix("trixie:s1,s16;sid:s2")
    results = [("test_s16_admin[trixie]", "trixie", 886.4, "pass"), ("test_s2_nolvmpolld[sid]", "sid", 647.0, "FAIL")]
    lines = grid(results, matrix)
    assert lines[0].split() == ["machine", "trixie", "sid"]
    rows = cells(lines)
    # s1 was selected and never came back: "not run"; rows in the order of MACHINES.
    assert list(rows) == ["s1", "s2", "s16"]
    assert rows["s1"] == ["not run", "-"]
    assert rows["s2"] == ["-", "FAIL 647s"]
    assert rows["s16"] == ["pass 886s", "-"]
    assert lines[-1] == "3 selected: 1 pass, 1 FAIL, 1 not run"


def test_columns_follow_the_matrix_and_a_result_outside_it_gets_its_own_column() -> None:
    matrix = parse_matrix("bookworm+main:s2;bookworm:s2")
    results = [("test_s2_x[bookworm]", "bookworm", 10.0, "pass"), ("test_s2_x[trixie]", "trixie", 5.0, "pass"),
               ("test_s2_x[bookworm+main]", "bookworm+main", 7.0, "skipped")]
    lines = grid(results, matrix)
    assert lines[0].split() == ["machine", "bookworm+main", "bookworm", "trixie"]
    assert cells(lines)["s2"] == ["skipped 7s", "pass 10s", "pass 5s"]
    # trixie was not asked for: shown, not counted among the selected.
    assert lines[-1] == "2 selected: 1 pass, 0 FAIL, 0 not run, 1 other (skipped or unknown)"


class _Reporter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def section(self, title: str) -> None:
        self.lines.append(f"== {title}")

    def write_line(self, line: str) -> None:
        self.lines.append(line)


def test_the_suites_summary_ends_with_the_grid_of_its_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.vm import conftest

    monkeypatch.setenv("LVMOVE_VM_MATRIX", "bookworm:s1;sid:s1,s2")
    monkeypatch.setattr(conftest, "RESULTS", [("test_s1_crash[sid]", "sid", 200.0, "pass", "2.03.31(2)")])
    reporter = _Reporter()
    conftest.pytest_terminal_summary(reporter)  # type: ignore[arg-type]
    assert reporter.lines[0] == "== lvmove VM scenarios"
    assert any(line.startswith("test_s1_crash[sid]") and "2.03.31(2)" in line for line in reporter.lines)
    assert cells(reporter.lines[reporter.lines.index("") + 1:]) == {"s1": ["not run", "pass 200s"],
                                                                      "s2": ["-", "not run"]}
    assert reporter.lines[-1] == "3 selected: 1 pass, 0 FAIL, 2 not run"
