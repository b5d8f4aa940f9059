"""The VM suite's generation matrix (tests/vm/generations.py): parsing and the errors a typo gets."""

import pytest

from tests.vm.generations import (
    CI_MATRIX,
    FULL_MATRIX,
    MACHINES,
    SECONDS_SEEN,
    Generation,
    MatrixError,
    from_environment,
    machine_of,
    parse_matrix,
)


def test_matrix_lists_machines_per_generation() -> None:
    matrix = parse_matrix("trixie:all; bookworm:s1,s2 ;bookworm+2.03.39:s2")
    assert matrix == {Generation("trixie"): MACHINES, Generation("bookworm"): ("s1", "s2"),
                      Generation("bookworm", "2.03.39"): ("s2",)}
    assert [g.name for g in matrix] == ["trixie", "bookworm", "bookworm+2.03.39"]


@pytest.mark.parametrize(("text", "needle"), [
    ("jessie:all", "unknown suite 'jessie'"),
    ("bookworm+2.02:s1", "unknown upstream LVM '2.02'"),
    ("trixie", "expected GENERATION:MACHINES"),
    ("trixie:s9", "unknown machine"),
    ("", "empty matrix"),
])
def test_bad_matrix_names_the_mistake(text: str, needle: str) -> None:
    with pytest.raises(MatrixError, match=needle):
        parse_matrix(text)


def test_environment_defaults_and_shorthands() -> None:
    assert from_environment({}) == {Generation("bookworm"): MACHINES}
    single = from_environment({"LVMOVE_VM_SUITE": "sid", "LVMOVE_VM_LVM": "main"})
    assert single == {Generation("sid", "main"): MACHINES}
    assert from_environment({"LVMOVE_VM_MATRIX": "ci"}) == parse_matrix(CI_MATRIX)
    full = from_environment({"LVMOVE_VM_MATRIX": "full"})
    assert full == parse_matrix(FULL_MATRIX) and len(full) == 5 and all(m == MACHINES for m in full.values())


def test_machine_of_a_test_name() -> None:
    assert machine_of("test_s2_s8_no_lvmpolld_kill_stop") == "s2"
    assert machine_of("test_s5_s9_s10_healthy_system[trixie]") == "s5"
    with pytest.raises(MatrixError):
        machine_of("test_other")


def test_ci_matrix_runs_what_each_generation_needs() -> None:
    ci = parse_matrix(CI_MATRIX)
    assert ci[Generation("trixie")] == MACHINES  # every machine on the current stable
    for gen in (Generation("bookworm"), Generation("bookworm", "2.03.39")):
        assert set(ci[gen]) >= {"s1", "s2", "s4"}  # crash/resume, no lvmpolld, atomic
    for gen in (Generation("sid"), Generation("bookworm", "main")):
        assert "s2" in ci[gen]


def test_every_machine_has_a_seen_duration_so_the_longest_start_first() -> None:
    assert set(SECONDS_SEEN) == set(MACHINES)


class _Item:
    def __init__(self, name: str, vm: bool) -> None:
        self.name, self.vm = name, vm

    def get_closest_marker(self, marker: str) -> object:
        return object() if self.vm and marker == "vm" else None


def test_vm_items_are_ordered_longest_first_in_their_own_places() -> None:
    from tests.vm.conftest import pytest_collection_modifyitems

    names = ["test_fast_a", "test_s1_crash[trixie]", "test_fast_b", "test_s16_admin[sid]", "test_s7_x[trixie]"]
    items = [_Item(n, vm=n.startswith("test_s")) for n in names]
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [i.name for i in items] == ["test_fast_a", "test_s16_admin[sid]", "test_fast_b",
                                       "test_s7_x[trixie]", "test_s1_crash[trixie]"]
