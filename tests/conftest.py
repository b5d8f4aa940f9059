"""Fixtures for lvmove's end-to-end tests: a fake LVM/device-mapper/systemd world (see tests/fake/).

The fake plays one LVM generation (tests/fake/fakelvm.py VERSIONS). Every test on the fake runs on
`--fake-lvm VERSION` (default: LVMOVE_FAKE_LVM_VERSION, else 2.03.16); `--fake-lvm all` runs each on every
generation. Tests marked `lvm_versions` (where the generations differ) run on the generations it names, or on
every one when it names none; `only=True` keeps a test to its generations even with `--fake-lvm all` (output
compared byte for byte with a capture of that generation).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FAKE_DIR = Path(__file__).resolve().parent / "fake"
if str(FAKE_DIR) not in sys.path:
    sys.path.insert(0, str(FAKE_DIR))

from fakelvm import VERSIONS  # noqa: E402
from fakesystem import FakeSystem  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fake-lvm", default=os.environ.get("LVMOVE_FAKE_LVM_VERSION") or VERSIONS[0],
                     choices=[*VERSIONS, "all"],
                     help="LVM generation the fake LVM plays in the end-to-end tests ('all': each of them)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lvm_versions(*versions, only=False): run on these LVM generations of "
                            "the fake (none named: on every one) instead of --fake-lvm's; on every one with "
                            "--fake-lvm all, unless only=True")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fake_system" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--fake-lvm")
    marker = metafunc.definition.get_closest_marker("lvm_versions")
    if marker and marker.kwargs.get("only"):
        versions = list(marker.args)
    elif chosen == "all":
        versions = list(VERSIONS)
    elif marker:
        versions = list(marker.args or VERSIONS)
    else:
        versions = [chosen]
    if versions != [chosen]:
        metafunc.parametrize("fake_lvm_version", versions, indirect=True, ids=[f"lvm-{v}" for v in versions])


@pytest.fixture
def fake_lvm_version(request: pytest.FixtureRequest) -> str:
    """The LVM generation the fake plays in this test."""
    version: str = getattr(request, "param", None) or request.config.getoption("--fake-lvm")
    if version == "all":  # a test that asks for the fake only at run time (request.getfixturevalue)
        marker = request.node.get_closest_marker("lvm_versions")
        version = marker.args[0] if marker and marker.args else VERSIONS[0]
    return version


@pytest.fixture
def fake_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_lvm_version: str) -> Iterator[FakeSystem]:
    """A fake LVM world; the environment points lvmove (in-process or as a subprocess) at it."""
    system = FakeSystem(tmp_path, fake_lvm_version)
    for key in ("NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM"):
        monkeypatch.delenv(key, raising=False)
    for key, value in system.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LVMOVE_FAKE_CLOCK", "")  # wall time until a test freezes the clock (restored after)
    try:
        yield system
    finally:
        system.cleanup()
