"""Which LVM generations the VM suite runs, and which machines on each (pure).

A generation is a Debian suite for the guest, optionally with upstream LVM2 laid over its own lvm2:
`bookworm` (2.03.16), `trixie` and `sid` (2.03.31), `bookworm+2.03.39`, `bookworm+main`.

    LVMOVE_VM_MATRIX="trixie:all;bookworm:s1,s2,s4;bookworm+2.03.39:s1,s2,s4;sid:s2;bookworm+main:s2"

`all` means every machine. Without LVMOVE_VM_MATRIX: every machine on `$LVMOVE_VM_SUITE`
(default bookworm), plus `$LVMOVE_VM_LVM` laid over it when set (the single-generation run of earlier
versions).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

MACHINES = ("s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s14", "s15", "s16")
SUITES = ("bookworm", "trixie", "sid")
UPSTREAM = ("2.03.39", "main")
FULL_MATRIX = ";".join(
    [f"{suite}:all" for suite in SUITES] + [f"bookworm+{lvm}:all" for lvm in UPSTREAM]
)
# CI: every machine on the current stable (trixie); the crash/resume (s1), no-lvmpolld (s2: warm poller,
# kill/stop) and atomic (s4) machines on Debian 12's own LVM and on upstream 2.03.39 over it; the no-lvmpolld
# machine (the one that leans hardest on LVM internals) on sid (systemd 262) and on LVM main. tests/run.sh
# runs the machines two at a time (`-n 2`). Measured: `.ci/run` from a clean clone in a fresh Debian 12 chroot,
# nothing cached, at a645f80 (2026-12-03): 3173 s in all, the 19 machines 5171 machine-seconds in 2752 s of
# wall clock. The rest (s3, s5-s8, s14-s16 on the other generations) runs with LVMOVE_VM_MATRIX=full.
CI_MATRIX = "trixie:all;bookworm:s1,s2,s4;bookworm+2.03.39:s1,s2,s4;sid:s2;bookworm+main:s2"
# Seconds a machine took in a guest (trixie, CI at 38ceab5, one guest at a time; s7 and s16 estimated from
# runs outside CI): only the order the suite starts them in (longest first), never a limit.
SECONDS_SEEN = {"s1": 160.0, "s2": 267.0, "s3": 274.0, "s4": 209.0, "s5": 365.0, "s6": 281.0, "s7": 330.0,
                "s8": 230.0, "s14": 262.0, "s15": 250.0, "s16": 470.0}

class MatrixError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Generation:
    suite: str
    lvm: str | None = None  # upstream LVM2 laid over the suite's own ("2.03.39", "main")

    @property
    def name(self) -> str:
        return self.suite + (f"+{self.lvm}" if self.lvm else "")

    @classmethod
    def parse(cls, text: str) -> Generation:
        suite, _, lvm = text.strip().partition("+")
        if suite not in SUITES:
            raise MatrixError(f"unknown suite {suite!r} in {text!r} (one of {', '.join(SUITES)})")
        if lvm and lvm not in UPSTREAM:
            raise MatrixError(f"unknown upstream LVM {lvm!r} in {text!r} (one of {', '.join(UPSTREAM)})")
        return cls(suite, lvm or None)


def parse_matrix(text: str) -> dict[Generation, tuple[str, ...]]:
    """`GEN:MACHINES;GEN:MACHINES` -> {generation: machines}, in the order given."""
    matrix: dict[Generation, tuple[str, ...]] = {}
    for part in filter(None, (p.strip() for p in re.split(r"[;\n]", text))):
        gen_text, sep, machines_text = part.partition(":")
        if not sep:
            raise MatrixError(f"{part!r}: expected GENERATION:MACHINES, e.g. trixie:all or bookworm:s1,s2")
        generation = Generation.parse(gen_text)
        if machines_text.strip() == "all":
            machines = MACHINES
        else:
            machines = tuple(m.strip() for m in machines_text.split(",") if m.strip())
            unknown = [m for m in machines if m not in MACHINES]
            if unknown or not machines:
                raise MatrixError(f"{part!r}: unknown machine(s) {unknown or '(none)'} (of {', '.join(MACHINES)})")
        matrix[generation] = tuple(dict.fromkeys(matrix.get(generation, ()) + machines))
    if not matrix:
        raise MatrixError("empty matrix")
    return matrix


def from_environment(env: dict[str, str] | None = None) -> dict[Generation, tuple[str, ...]]:
    env = dict(os.environ) if env is None else env
    text = env.get("LVMOVE_VM_MATRIX", "").strip()
    if text == "ci":
        text = CI_MATRIX
    elif text == "full":
        text = FULL_MATRIX
    if text:
        return parse_matrix(text)
    suite = env.get("LVMOVE_VM_SUITE", "bookworm")
    lvm = env.get("LVMOVE_VM_LVM", "")
    return parse_matrix(f"{suite}{'+' + lvm if lvm else ''}:all")


def machine_of(test_name: str) -> str:
    """`test_s2_s8_no_lvmpolld_kill_stop[trixie]` -> `s2` (a machine is named by its first scenario)."""
    m = re.match(r"test_(s\d+)_", test_name)
    if not m:
        raise MatrixError(f"{test_name}: VM test names start with test_sN_")
    return m.group(1)
