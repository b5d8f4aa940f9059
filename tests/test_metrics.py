"""Prometheus textfile metrics: the exposition text, the files' life cycle, the host counters, and a whole move
against the fake LVM. `promtool check metrics` (Debian package `prometheus`) checks the text when installed."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakesystem import REPO, FakeSystem

from lvmove_hooks import journal, metrics, statefile
from lvmove_hooks.config import DEFAULT_METRICS_DIR, Config, parse
from lvmove_hooks.errors import BadConfig

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool absent: install Debian package 'prometheus'")

LABELS = {"vg": "vg", "lv": "pvmove0", "source": "/dev/sda", "mode": "by-segment"}
DATA = {"vg": "vg", "lv": "pvmove0", "uuid": "U", "percent": 37.5, "done_bytes": 18874368,
        "size_bytes": 50331648, "rate_bytes_per_s": 1048576.0, "eta_seconds": 30.0, "poller": "lvmove"}
L = 'vg="vg",lv="pvmove0",source="/dev/sda",mode="by-segment"'  # LABELS as the text has them

EXPECTED = """\
# HELP lvmove_move_percent Percent of the pvmove copied (0-100), from the kernel's mirror status.
# TYPE lvmove_move_percent gauge
lvmove_move_percent{L} 37.5
# HELP lvmove_move_size_bytes Size of the pvmove LV: bytes the whole move copies.
# TYPE lvmove_move_size_bytes gauge
lvmove_move_size_bytes{L} 50331648
# HELP lvmove_move_bytes_done Bytes of the move copied so far.
# TYPE lvmove_move_bytes_done gauge
lvmove_move_bytes_done{L} 18874368
# HELP lvmove_move_rate_bytes Copy rate in bytes per second over the last minute.
# TYPE lvmove_move_rate_bytes gauge
lvmove_move_rate_bytes{L} 1048576
# HELP lvmove_move_eta_seconds Seconds until the copy is done at the current rate.
# TYPE lvmove_move_eta_seconds gauge
lvmove_move_eta_seconds{L} 30
# HELP lvmove_move_state State of the move: 1 for the current one of starting, copying, stalled, finishing.
# TYPE lvmove_move_state gauge
lvmove_move_state{L,state="starting"} 0
lvmove_move_state{L,state="copying"} 1
lvmove_move_state{L,state="stalled"} 0
lvmove_move_state{L,state="finishing"} 0
# HELP lvmove_move_started_timestamp_seconds Unix time at which this run of lvmove@.service began carrying \
the move.
# TYPE lvmove_move_started_timestamp_seconds gauge
lvmove_move_started_timestamp_seconds{L} 1700000000.25
""".replace("{L", "{" + L)


def promtool_check(text: str) -> None:
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, f"promtool: {result.stdout}{result.stderr}\n{text}"


@pytest.fixture
def metrics_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "textfile"
    directory.mkdir()
    monkeypatch.setenv("LVMOVE_METRICS_DIR", str(directory))
    monkeypatch.setenv("LVMOVE_STATEDIR", str(tmp_path / "var-lib-lvmove"))
    monkeypatch.setenv("LVMOVE_RUNDIR", str(tmp_path / "run"))
    for key in ("INVOCATION_ID", "JOURNAL_STREAM"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(metrics, "_tracks", {})
    return directory


# ---- the exposition text ----------------------------------------------------------------------------------

def test_a_move_renders_every_family_with_help_type_and_one_hot_state() -> None:
    assert metrics.render_move(LABELS, DATA, "copying", 1700000000.25) == EXPECTED


def test_unknown_values_have_no_sample_but_keep_help_and_type() -> None:
    text = metrics.render_move(LABELS, {**DATA, "rate_bytes_per_s": None, "eta_seconds": None},
                               "starting", 1.0)
    assert "# TYPE lvmove_move_rate_bytes gauge\n# HELP lvmove_move_eta_seconds" in text
    assert "lvmove_move_rate_bytes{" not in text and "lvmove_move_eta_seconds{" not in text
    assert 'state="starting"} 1' in text


@pytest.mark.parametrize(("raw", "escaped"), [
    ("plain", "plain"),
    ('a"b', 'a\\"b'),
    ("back\\slash", "back\\\\slash"),
    ("two\nlines", "two\\nlines"),
    ('\\"\n', '\\\\\\"\\n'),
])
def test_label_values_are_escaped(raw: str, escaped: str) -> None:
    assert metrics.escape_label(raw) == escaped
    line = metrics.family("lvmove_move_percent", "gauge", [({"vg": raw}, 1.0)]).splitlines()[2]
    assert line == f'lvmove_move_percent{{vg="{escaped}"}} 1'


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0"), (12.0, "12"), (12.25, "12.25"), (float("nan"), "NaN"), (float("inf"), "+Inf"),
    (float("-inf"), "-Inf"), (1e20, "1e+20"), (0.1, "0.1"),
])
def test_values(value: float, text: str) -> None:
    assert metrics.format_value(value) == text


def test_counters_render_zero_when_never_counted() -> None:
    text = metrics.render_counters({"aborted": 2})
    assert text == (
        "# HELP lvmove_moves_completed_total Moves lvmove@.service carried to a verified end on this host.\n"
        "# TYPE lvmove_moves_completed_total counter\nlvmove_moves_completed_total 0\n"
        "# HELP lvmove_moves_failed_total Runs of lvmove@.service that ended with a failure (interruptions "
        "do not count).\n# TYPE lvmove_moves_failed_total counter\nlvmove_moves_failed_total 0\n"
        "# HELP lvmove_moves_aborted_total Moves that ended aborted (lvmove abort or pvmove --abort).\n"
        "# TYPE lvmove_moves_aborted_total counter\nlvmove_moves_aborted_total 2\n"
        "# HELP lvmove_orphans_removed_total Orphan error pvmoveN LVs removed after a crash inside LVM's finish.\n"
        "# TYPE lvmove_orphans_removed_total counter\nlvmove_orphans_removed_total 0\n")


@pytest.mark.parametrize(("data", "stalled_for", "state"), [
    ({"percent": 10.0, "rate_bytes_per_s": None}, 0.0, "starting"),
    ({"percent": 10.0, "rate_bytes_per_s": 5.0}, 0.0, "copying"),
    ({"percent": 10.0, "rate_bytes_per_s": 0.0}, 59.0, "copying"),
    ({"percent": 10.0, "rate_bytes_per_s": 0.0}, 60.0, "stalled"),
    ({"percent": 10.0, "rate_bytes_per_s": None}, 600.0, "stalled"),
    ({"percent": 100.0, "rate_bytes_per_s": 0.0}, 600.0, "finishing"),
    ({"percent": 10.0, "state": "finishing"}, 0.0, "finishing"),  # the writer knows best ...
    ({"percent": 10.0, "state": "dancing", "rate_bytes_per_s": 1.0}, 0.0, "copying"),  # ... within STATES
])
def test_state(data: dict[str, object], stalled_for: float, state: str) -> None:
    assert metrics.move_state(data, stalled_for) == state


@needs_promtool
def test_promtool_accepts_the_move_and_counter_text() -> None:
    weird = {**LABELS, "vg": 'v"g\\x\n'}
    promtool_check(metrics.render_move(weird, DATA, "stalled", time.time()) + metrics.render_counters({}))
    promtool_check(metrics.render_move(LABELS, {**DATA, "eta_seconds": None}, "starting", 0.0))


# ---- configuration -------------------------------------------------------------------------------------

def test_metrics_dir_defaults_to_debians_node_exporter_dir() -> None:
    assert Config().metrics_dir == DEFAULT_METRICS_DIR == "/var/lib/prometheus/node-exporter"
    assert parse("metrics_dir: /srv/prom\n", "f.yaml").metrics_dir == "/srv/prom"


@pytest.mark.parametrize("text", ["metrics_dir: false\n", "metrics_dir:\n", "metrics_dir: ''\n"])
def test_metrics_dir_off(text: str) -> None:
    assert parse(text, "f.yaml").metrics_dir == ""


@pytest.mark.parametrize("text", ["metrics_dir: true\n", "metrics_dir: relative/dir\n", "metrics_dir: [/a]\n",
                                  "metrics_dir: 5\n"])
def test_metrics_dir_errors(text: str) -> None:
    with pytest.raises(BadConfig, match=r"metrics_dir.*absolute directory path"):
        parse(text, "f.yaml")


def test_the_config_file_sets_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LVMOVE_METRICS_DIR", raising=False)
    monkeypatch.setattr(metrics, "_configured", [])
    config = tmp_path / "lvmove.yaml"
    config.write_text(f"metrics_dir: {tmp_path}/prom\n")
    monkeypatch.setenv("LVMOVE_CONFIG", str(config))
    assert metrics.metrics_dir() == tmp_path / "prom"
    monkeypatch.setenv("LVMOVE_METRICS_DIR", "")
    assert metrics.metrics_dir() is None


# ---- the files ---------------------------------------------------------------------------------------------

def test_progress_writes_the_move_file_and_removal_deletes_it(metrics_dir: Path) -> None:
    journal.event("started", "vg/pvmove0: carrying", journal.MoveFields("vg", "pvmove0", "U", "/dev/sda",
                                                                      "by-segment"))
    before = time.time()
    statefile.write("vg-pvmove0", DATA)
    path = metrics_dir / "lvmove-vg-pvmove0.prom"
    text = path.read_text()
    assert f"lvmove_move_percent{{{L}}} 37.5\n" in text
    assert f'lvmove_move_state{{{L},state="copying"}} 1\n' in text
    started = float(text.split("lvmove_move_started_timestamp_seconds{" + L + "} ")[1])
    # The file holds milliseconds (round(started, 3)): the start, taken before `before`, may read up to 0.5 ms later
    # (seen in CI: 1796186325.297 for a start before 1796186325.2969968).
    assert before - 5 < started <= before + 0.0005
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # node_exporter reads it as its own user
    assert sorted(p.name for p in metrics_dir.iterdir()) == ["lvmove-vg-pvmove0.prom", "lvmove.prom"]
    statefile.remove("vg-pvmove0")
    assert sorted(p.name for p in metrics_dir.iterdir()) == ["lvmove.prom"]


def test_no_progress_for_a_minute_reads_stalled(metrics_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(metrics, "_clock", lambda: now[0])
    metrics.move_written("i", DATA)
    now[0] += 30
    metrics.move_written("i", DATA)
    assert 'state="copying"} 1' in (metrics_dir / "lvmove-i.prom").read_text()
    now[0] += 31
    metrics.move_written("i", DATA)
    assert 'state="stalled"} 1' in (metrics_dir / "lvmove-i.prom").read_text()
    metrics.move_written("i", {**DATA, "done_bytes": DATA["done_bytes"] + 1})  # type: ignore[operator]
    assert 'state="copying"} 1' in (metrics_dir / "lvmove-i.prom").read_text()


def test_off_or_absent_directory_writes_nothing(metrics_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LVMOVE_METRICS_DIR", "")
    metrics.move_written("i", DATA)
    metrics.count("completed")
    assert list(metrics_dir.iterdir()) == []
    assert metrics.read_counters() == {}
    monkeypatch.setenv("LVMOVE_METRICS_DIR", str(metrics_dir / "absent"))
    metrics.move_written("i", DATA)
    assert not (metrics_dir / "absent").exists()  # node_exporter's to create


def test_a_failed_write_never_reaches_the_move(metrics_dir: Path) -> None:
    (metrics_dir / "lvmove-i.prom").mkdir()  # rename onto a directory fails
    (metrics_dir / "lvmove.prom").mkdir()
    statefile.write("i", DATA)  # no exception
    metrics.count("failed")
    assert sorted(p.name for p in metrics_dir.iterdir()) == ["lvmove-i.prom", "lvmove.prom"]  # no temp left
    assert metrics.read_counters() == {"failed": 1}


def test_counters_survive_runs_and_count_each_event(metrics_dir: Path) -> None:
    fields = journal.MoveFields("vg", "pvmove0", "U")
    journal.event("completed", "vg/pvmove0: completed", fields)
    journal.event("progress", "vg/pvmove0: 50%", fields)  # not counted
    journal.event("orphan-found", "vg/pvmove0: orphan", fields)  # not counted
    for kind in ("completed", "failed", "aborted", "orphan-removed"):
        journal.event(kind, f"vg/pvmove0: {kind}", fields)
    assert metrics.read_counters() == {"completed": 2, "failed": 1, "aborted": 1, "orphan-removed": 1}
    text = (metrics_dir / "lvmove.prom").read_text()
    for line in ("lvmove_moves_completed_total 2", "lvmove_moves_failed_total 1", "lvmove_moves_aborted_total 1",
                 "lvmove_orphans_removed_total 1"):
        assert f"\n{line}\n" in text


def test_damaged_counters_start_again_from_zero(metrics_dir: Path) -> None:
    path = metrics.counters_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    metrics.count("completed")
    assert metrics.read_counters() == {"completed": 1}
    path.write_text('{"completed": -3, "failed": true, "aborted": 4, "other": 9}')
    assert metrics.read_counters() == {"aborted": 4}


def test_concurrent_units_lose_no_count(metrics_dir: Path) -> None:
    """Units of moves in other VGs count at the same time: the lock keeps every increment."""
    code = "from lvmove_hooks import metrics\nfor _ in range(25):\n    metrics.count('completed')\n"
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
             for _ in range(6)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    assert metrics.read_counters() == {"completed": 150}
    assert "\nlvmove_moves_completed_total 150\n" in (metrics_dir / "lvmove.prom").read_text()


def test_importing_the_cli_does_not_import_metrics() -> None:
    code = "import sys, lvmove_hooks.cli\nprint('lvmove_hooks.metrics' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                            check=True)
    assert result.stdout.strip() == "False"


# ---- a whole move against the fake LVM ---------------------------------------------------------------------

def test_a_move_publishes_its_metrics_while_it_runs_and_counts_its_end(fake_system: FakeSystem) -> None:
    directory = Path(fake_system.env["LVMOVE_METRICS_DIR"])
    directory.mkdir()
    fake_system.standard(rate_pe=0.3)  # 12 extents: about 2 s of copying
    prom = directory / "lvmove-vg-pvmove0.prom"
    proc = fake_system.lvmove_popen("run", "vg/pvmove0")
    seen: list[str] = []

    def captured() -> bool:
        try:
            seen.append(prom.read_text())
        except FileNotFoundError:
            return proc.poll() is not None  # ended before we saw it: fails below
        return True

    fake_system.wait_for("the move's .prom file", captured, timeout=60)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert seen and seen[-1], f"no .prom file during the move\n{err}"
    text = seen[-1]
    assert 'lvmove_move_size_bytes{vg="vg",lv="pvmove0",' in text
    assert 'lvmove_move_percent{vg="vg",lv="pvmove0",' in text
    assert sum(line.endswith(" 1") for line in text.splitlines() if line.startswith("lvmove_move_state{")) == 1
    assert not prom.exists(), "the .prom file outlived the move"
    assert sorted(p.name for p in directory.iterdir()) == ["lvmove.prom"]
    assert "\nlvmove_moves_completed_total 1\n" in (directory / "lvmove.prom").read_text()
    assert metrics.read_counters(Path(fake_system.env["LVMOVE_STATEDIR"]) / "counters.json") == {"completed": 1}
    if PROMTOOL:
        promtool_check(text)
        promtool_check((directory / "lvmove.prom").read_text())


def test_a_held_lock_gives_the_count_up_instead_of_holding_up_the_move(metrics_dir: Path) -> None:
    import fcntl

    path = metrics.counters_path()
    path.parent.mkdir(parents=True)
    with open(path.with_name(".counters.json.lock"), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code = "from lvmove_hooks import metrics\nmetrics.LOCK_SECONDS = 0.2\nmetrics.count('completed')\n"
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
        assert time.monotonic() - started < 30
    assert metrics.read_counters() == {}
    metrics.count("completed")
    assert metrics.read_counters() == {"completed": 1}
