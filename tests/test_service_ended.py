"""The completion entry of a unit run (service._ended): what it says about the run's own cost."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from lvmove_hooks import journal, service
from lvmove_hooks.model import find_moves, parse_lvs
from tests.helpers import FIXTURES


def test_completion_entry_carries_lvmoves_cpu_and_its_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def event(kind: str, message: str, fields: journal.MoveFields, percent: float | None = None,
              extra: dict[str, str] | None = None) -> None:
        seen.update(kind=kind, percent=percent, **(extra or {}))

    monkeypatch.setattr(journal, "event", event)
    monkeypatch.setattr(journal, "notify", lambda *_: None)
    (move,) = find_moves(parse_lvs((FIXTURES / "captured" / "bookworm" / "by-segment-mid2" / "lvs.json").read_text()))
    subprocess.run([sys.executable, "-c", "sum(range(3_000_000))"], check=True)  # a command lvmove waited for
    ended = service._ended(move, service.Outcome("completed"), journal.MoveFields("vg", "pvmove0", "u"),
                           {"LVMOVE_POLL_MODE": "warm"})
    assert ended.ended and ended.logged and seen["kind"] == "completed" and seen["percent"] == 100.0
    assert float(seen["LVMOVE_CPU_SELF"]) > 0 and float(seen["LVMOVE_CPU_COMMANDS"]) > 0
    assert seen["LVMOVE_POLL_MODE"] == "warm" and int(seen["LVMOVE_LVM_COMMANDS"]) >= 0
