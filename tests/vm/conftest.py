"""VM suite plumbing: the `vm` marker, the shared guest image and lvmove payload, and a results table.

Run with `pytest -m vm tests/vm`. Without qemu/mmdebstrap or the archive the tests skip locally and FAIL
when CI=true.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .hostcmd import HostCommandError
from .image import Image, build, missing_host_tools
from .lvmove_pkg import prepare_payload

RESULTS: list[tuple[str, float, str]] = []
OUTCOMES: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vm: runs real LVM2 in a qemu guest (slow)")


def unavailable(reason: str) -> None:
    """Fail in CI (a missing VM environment must never look like a pass), skip locally."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"VM tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"VM tests cannot run: {reason}")


@pytest.fixture(scope="session")
def vm_image() -> Image:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    missing = missing_host_tools()
    if missing:
        unavailable("missing host tools: " + " ".join(missing))
    if os.geteuid() != 0:
        unavailable("the image build (mmdebstrap --mode=root) needs root")
    try:
        return build(os.environ.get("LVMOVE_VM_SUITE", "bookworm"))
    except HostCommandError as exc:
        unavailable(f"guest image build failed: {exc}")
        raise


@pytest.fixture(scope="session")
def lvmove_payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lvmove for the guests: the .deb from `make deb` (a failure here is a test failure)."""
    return prepare_payload(tmp_path_factory.mktemp("lvmove-payload"))


@pytest.fixture
def keep_disks() -> bool:
    return os.environ.get("LVMOVE_VM_KEEP", "") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    started = time.monotonic()
    yield
    if item.get_closest_marker("vm") is not None:
        outcome = OUTCOMES.get(item.nodeid, "?")
        RESULTS.append((item.name, time.monotonic() - started, outcome))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and not report.passed):
        OUTCOMES[report.nodeid] = "skipped" if report.skipped else ("pass" if report.passed else "FAIL")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("lvmove VM scenarios")
    width = max(len(name) for name, _, _ in RESULTS)
    tr.write_line(f"{'scenario'.ljust(width)}  {'seconds':>8}  result")
    for name, seconds, outcome in RESULTS:
        tr.write_line(f"{name.ljust(width)}  {seconds:8.1f}  {outcome}")
    tr.write_line(f"{'total'.ljust(width)}  {sum(s for _, s, _ in RESULTS):8.1f}")
