"""The VM suite's results grid (pure): one row per machine the matrix selected (named as in MACHINES: s2 is
`test_s2_...`), one column per generation.

A cell is the machine's outcome and seconds on that generation; `not run` when the matrix selected it and no
result came back (the run was stopped, or never got to it); `-` when the matrix did not select it. So a run
that was interrupted still shows everything it was asked to do, not only what finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .generations import MACHINES, Generation, machine_of

NOT_RUN = "not run"
NOT_SELECTED = "-"


def grid(results: Sequence[tuple[str, str, float, str]],
         matrix: Mapping[Generation, Sequence[str]]) -> list[str]:
    """The grid's lines. `results`: (test name, generation name, seconds, outcome) of each finished machine."""
    gens = [g.name for g in matrix]
    gens += sorted(dict.fromkeys(g for _, g, _, _ in results if g not in gens))
    selected = {(m, g.name) for g, machines in matrix.items() for m in machines}
    cells: dict[tuple[str, str], str] = {}
    outcome_of: dict[tuple[str, str], str] = {}
    for name, gen, seconds, outcome in results:
        machine = machine_of(name)
        cells[(machine, gen)] = f"{outcome} {seconds:.0f}s"
        outcome_of[(machine, gen)] = outcome
    wanted = {m for m, _ in selected} | {m for m, _ in cells}
    rows = sorted(wanted, key=lambda m: MACHINES.index(m) if m in MACHINES else len(MACHINES))
    mwidth = max(len("machine"), *(len(m) for m in rows))
    cw = max(12, *(len(g) for g in gens))
    lines = [f"{'machine'.ljust(mwidth)}  " + "  ".join(g.ljust(cw) for g in gens).rstrip()]
    for machine in rows:
        row = [cells.get((machine, g), NOT_RUN if (machine, g) in selected else NOT_SELECTED) for g in gens]
        lines.append(f"{machine.ljust(mwidth)}  " + "  ".join(c.ljust(cw) for c in row).rstrip())
    outcomes = [outcome_of[key] for key in selected if key in outcome_of]
    missing = len(selected) - len(outcomes)
    other = len(outcomes) - outcomes.count("pass") - outcomes.count("FAIL")
    lines.append(f"{len(selected)} selected: {outcomes.count('pass')} pass, {outcomes.count('FAIL')} FAIL, "
                 f"{missing} {NOT_RUN}" + (f", {other} other (skipped or unknown)" if other else ""))
    return lines
