"""Fixtures for lvmove's end-to-end tests: a fake LVM/device-mapper/systemd world (see tests/fake/)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FAKE_DIR = Path(__file__).resolve().parent / "fake"
if str(FAKE_DIR) not in sys.path:
    sys.path.insert(0, str(FAKE_DIR))

from fakesystem import FakeSystem  # noqa: E402


@pytest.fixture
def fake_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSystem]:
    """A fake LVM world; the environment points lvmove (in-process or as a subprocess) at it."""
    system = FakeSystem(tmp_path)
    for key in ("NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM"):
        monkeypatch.delenv(key, raising=False)
    for key, value in system.env.items():
        monkeypatch.setenv(key, value)
    try:
        yield system
    finally:
        system.cleanup()
