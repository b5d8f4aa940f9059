"""VM suite plumbing: the `vm` marker, the generation, its guest image, upstream LVM tree and lvmove payload,
and a results table.

Run with `pytest -m vm tests/vm`. Without qemu/mmdebstrap or the archive the tests skip locally and FAIL
when CI=true.

Fixtures: `generation` (a generations.Generation; test_scenarios parametrizes it indirectly, otherwise
$LVMOVE_VM_SUITE + $LVMOVE_VM_LVM), `vm_image` (that generation's guest image), `lvm_overlay` (its upstream
LVM2 tree, lvmbuild.LvmTree, or None for the suite's own lvm2), `lvmove_payload`, `keep_disks`. A vm test's
`harness.new_run()` lays its generation's `lvm_overlay` over the guest unless told otherwise (`lvm=`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import harness, lvmbuild
from .generations import SECONDS_SEEN, Generation, from_environment, machine_of
from .hostcmd import HostCommandError
from .image import Image, build, missing_host_tools
from .lvmbuild import LvmTree
from .lvmove_pkg import prepare_payload
from .resultgrid import grid

# (test name, generation, seconds, outcome, LVM version(s) the guest reported)
RESULTS: list[tuple[str, str, float, str, str]] = []
OUTCOMES: dict[str, str] = {}
# (machine tag, generation, text): the NOTE lines of the guests, as the reports brought them
NOTES: list[tuple[str, str, str]] = []


SESSION_STARTED = time.monotonic()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vm: runs real LVM2 in a qemu guest (slow)")


PREFETCH_NICE = 15  # the background builds yield the CPU to the running guest


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build what later machines need (guest images of other suites, upstream LVM trees) in the background,
    niced, while the first machines run, so their boots find it ready. Each build holds a lock: a machine that
    needs a tree still being built waits for it, and a failed prefetch is only logged (the machine's own
    fixture builds again and reports the failure)."""
    wanted: list[tuple[str, str]] = []
    for item in session.items:
        if item.get_closest_marker("vm") is None:
            continue
        param = getattr(getattr(item, "callspec", None), "params", {}).get("generation")
        if isinstance(param, Generation):
            wanted.append(("image", param.suite))
            if param.lvm:
                wanted.append(("lvm", param.lvm))
    wanted = list(dict.fromkeys(wanted))[1:]  # the first one the first machine builds itself, at once
    if not wanted or os.geteuid() != 0 or missing_host_tools() or os.environ.get("LVMOVE_VM_PREFETCH") == "0":
        return
    threading.Thread(target=_prefetch, args=(wanted,), name="vm-prefetch", daemon=True).start()


def _prefetch(wanted: list[tuple[str, str]]) -> None:
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PREFETCH_NICE)  # this thread and its children
    for kind, name in wanted:
        started = time.monotonic()
        try:
            if kind == "image":
                build(name)
            elif not lvmbuild.missing_host_tools():
                lvmbuild.build(name)
        except (HostCommandError, OSError) as exc:
            logging.getLogger("lvmove.vm").warning("prefetch of %s %s failed (the machine retries): %s",
                                                   kind, name, exc)
            continue
        logging.getLogger("lvmove.vm").info("prefetched %s %s in %.0fs", kind, name, time.monotonic() - started)


def unavailable(reason: str) -> None:
    """Fail in CI (a missing VM environment must never look like a pass), skip locally."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"VM tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"VM tests cannot run: {reason}")


def default_generation() -> Generation:
    return Generation(os.environ.get("LVMOVE_VM_SUITE", "bookworm"), lvmbuild.selected())


def generation_of(item: pytest.Item) -> str:
    """The item's generation name; "-" for a machine no generation of the matrix lists (an empty parameter set)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or "generation" not in callspec.params:
        return default_generation().name
    param = callspec.params["generation"]
    return param.name if isinstance(param, Generation) else "-"


@pytest.fixture(scope="session")
def generation(request: pytest.FixtureRequest) -> Generation:
    """The generation a test runs on (indirect parameter), else $LVMOVE_VM_SUITE (+ $LVMOVE_VM_LVM)."""
    param = getattr(request, "param", None)
    return param if isinstance(param, Generation) else default_generation()


@pytest.fixture(scope="session")
def vm_image(generation: Generation) -> Image:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    missing = missing_host_tools()
    if missing:
        unavailable("missing host tools: " + " ".join(missing))
    if os.geteuid() != 0:
        unavailable("the image build (mmdebstrap --mode=root) needs root")
    try:
        return build(generation.suite)
    except HostCommandError as exc:
        unavailable(f"guest image build failed: {exc}")
        raise


@pytest.fixture(scope="session")
def lvm_overlay(generation: Generation, vm_image: Image) -> LvmTree | None:
    """Upstream LVM2 of the generation (built on the host or cached), None for the suite's own lvm2.
    Missing build tools skip (fail in CI); a failed build of a requested LVM fails."""
    if generation.lvm is None:
        return None
    missing = lvmbuild.missing_host_tools()
    if missing:
        unavailable(f"cannot build LVM2 {generation.lvm}: missing " + " ".join(missing)
                    + f" (apt-get install {lvmbuild.BUILD_DEPS})")
    try:
        return lvmbuild.build(generation.lvm)
    except HostCommandError as exc:
        pytest.fail(f"LVM2 {generation.lvm} build failed: {exc}", pytrace=False)


@pytest.fixture(autouse=True)
def _lvm_for_new_run(request: pytest.FixtureRequest) -> Iterator[None]:
    """vm tests: new_run() lays this test's generation's LVM tree over the guest unless given `lvm=`."""
    if request.node.get_closest_marker("vm") is None:
        yield
        return
    harness.set_default_lvm(request.getfixturevalue("lvm_overlay"))
    try:
        yield
    finally:
        harness.set_default_lvm("env")


@pytest.fixture(scope="session")
def lvmove_payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lvmove for the guests: the .deb from `make deb` (a failure here is a test failure)."""
    return prepare_payload(tmp_path_factory.mktemp("lvmove-payload"))


@pytest.fixture
def keep_disks() -> bool:
    return os.environ.get("LVMOVE_VM_KEEP", "") == "1"


RESULT_KEY = "lvmove_vm_result"  # a vm test's row, carried on its teardown report (to xdist's controller too)
NOTE_KEY = "lvmove_vm_note"
_STARTED = pytest.StashKey[tuple[float, int, int]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest machines first (generations.SECONDS_SEEN), so that with `-n 2` (tests/run.sh) the short ones
    fill the end and neither worker is left with a long machine alone. Only the vm items move, among the
    places they held; the order is the same on every worker (xdist requires it)."""
    places = [i for i, item in enumerate(items) if item.get_closest_marker("vm") is not None]
    ordered = sorted((items[i] for i in places), key=lambda item: -SECONDS_SEEN.get(_machine(item), 0.0))
    for i, item in zip(places, ordered, strict=True):
        items[i] = item


def _machine(item: pytest.Item) -> str:
    try:
        return machine_of(item.name)
    except ValueError:
        return ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Put the machine's row (and its guests' NOTE lines) on the teardown report: the terminal summary is
    written from reports, so the table is whole when xdist's workers ran the machines."""
    if call.when == "setup":
        item.stash[_STARTED] = (time.monotonic(), len(harness.SEEN), len(harness.NOTES))
    outcome = yield
    if call.when != "teardown" or item.get_closest_marker("vm") is None or generation_of(item) == "-":
        return
    report: pytest.TestReport = outcome.get_result()
    started, seen_before, notes_before = item.stash.get(_STARTED, (time.monotonic(), 0, 0))
    versions = ", ".join(dict.fromkeys(v for _, _, v in harness.SEEN[seen_before:])) or "-"
    row = (item.name, generation_of(item), time.monotonic() - started, OUTCOMES.get(item.nodeid, "?"), versions)
    report.user_properties.append((RESULT_KEY, row))
    report.user_properties.extend((NOTE_KEY, note) for note in harness.NOTES[notes_before:])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and not report.passed):
        OUTCOMES[report.nodeid] = "skipped" if report.skipped else ("pass" if report.passed else "FAIL")
    for key, value in report.user_properties:
        if key == RESULT_KEY:
            name, gen, seconds, outcome, versions = value
            RESULTS.append((name, gen, seconds, outcome, versions))
        elif key == NOTE_KEY:
            NOTES.append(tuple(value))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("lvmove VM scenarios")
    width = max(len(name) for name, *_ in RESULTS)
    gwidth = max(len("generation"), *(len(g) for _, g, *_ in RESULTS))
    tr.write_line(f"{'scenario'.ljust(width)}  {'generation'.ljust(gwidth)}  {'seconds':>8}  result   guest LVM")
    for name, gen, seconds, outcome, versions in RESULTS:
        tr.write_line(f"{name.ljust(width)}  {gen.ljust(gwidth)}  {seconds:8.1f}  {outcome.ljust(7)}  {versions}")
    tr.write_line(f"{'total'.ljust(width)}  {''.ljust(gwidth)}  {sum(r[2] for r in RESULTS):8.1f}")
    tr.write_line(f"{'wall clock (machines side by side with -n)'.ljust(width)}  {''.ljust(gwidth)}  "
                  f"{time.monotonic() - SESSION_STARTED:8.1f}")
    for machine, _, text in NOTES:
        tr.write_line(f"note from {machine}: {text}")
    # One row per machine the matrix selected, one column per generation (resultgrid.py).
    matrix = from_environment()
    if len(matrix) < 2 and len({g for _, g, *_ in RESULTS}) < 2:
        return
    tr.write_line("")
    for line in grid([(name, gen, seconds, outcome) for name, gen, seconds, outcome, _ in RESULTS], matrix):
        tr.write_line(line)
