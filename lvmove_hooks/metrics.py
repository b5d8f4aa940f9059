"""Prometheus metrics through node_exporter's textfile collector: `<metrics_dir>/lvmove-<instance>.prom` per
move (written with the progress file, removed when the move ends) and `<metrics_dir>/lvmove.prom` with the
host's counters (kept in `/var/lib/lvmove/counters.json` across unit runs).

Best effort throughout: a metrics problem is logged at debug level and never reaches the move. Imported
lazily (by `statefile` and `journal`), so commands that write no metrics do not pay for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("lvmove.metrics")

HOST_FILE = "lvmove.prom"
COUNTERS_FILE = "counters.json"
STALL_SECONDS = 60.0  # no copy progress for this long: "stalled"
LOCK_SECONDS = 5.0  # longest wait for the counters' lock before a count is given up

# The one-hot lvmove_move_state{state=...}: exactly one of these is 1.
STATES = ("starting", "copying", "stalled", "finishing")

# journal.event() kinds counted per host, and the counter each one raises.
COUNTERS = {
    "completed": "lvmove_moves_completed_total",
    "failed": "lvmove_moves_failed_total",
    "aborted": "lvmove_moves_aborted_total",
    "orphan-removed": "lvmove_orphans_removed_total",
}

HELP = {
    "lvmove_move_percent": "Percent of the pvmove copied (0-100), from the kernel's mirror status.",
    "lvmove_move_size_bytes": "Size of the pvmove LV: bytes the whole move copies.",
    "lvmove_move_bytes_done": "Bytes of the move copied so far.",
    "lvmove_move_rate_bytes": "Copy rate in bytes per second over the last minute.",
    "lvmove_move_eta_seconds": "Seconds until the copy is done at the current rate.",
    "lvmove_move_state": "State of the move: 1 for the current one of starting, copying, stalled, finishing.",
    "lvmove_move_started_timestamp_seconds": "Unix time at which this run of lvmove@.service began carrying "
                                             "the move.",
    "lvmove_moves_completed_total": "Moves lvmove@.service carried to a verified end on this host.",
    "lvmove_moves_failed_total": "Runs of lvmove@.service that ended with a failure (interruptions do not count).",
    "lvmove_moves_aborted_total": "Moves that ended aborted (lvmove abort or pvmove --abort).",
    "lvmove_orphans_removed_total": "Orphan error pvmoveN LVs removed after a crash inside LVM's finish.",
}


def _clock() -> float:
    return time.time()


@dataclass
class _Track:
    """What one unit process knows about its move between progress writes."""

    started: float = field(default_factory=lambda: _clock())
    source: str = ""
    mode: str = ""
    last_done: float | None = None
    last_change: float = field(default_factory=lambda: _clock())


_tracks: dict[str, _Track] = {}


# ---- the exposition format (pure) -----------------------------------------------------------------------

def escape_label(value: str) -> str:
    """A label value as the text exposition format wants it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{escape_label(value)}"' for key, value in labels.items()) + "}"


def family(name: str, kind: str, samples: Sequence[tuple[Mapping[str, str], float]]) -> str:
    """One metric family: HELP and TYPE lines, then its samples."""
    lines = [f"# HELP {name} {HELP[name]}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{_labels(labels)} {format_value(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def move_state(data: Mapping[str, Any], stalled_for: float) -> str:
    """The move's state from its progress data: a "state" the writer gives wins if it is one of STATES."""
    given = data.get("state")
    if isinstance(given, str) and given in STATES:
        return given
    if _number(data.get("percent")) is not None and float(data["percent"]) >= 100.0:
        return "finishing"  # every region in sync: LVM's poller checkpoints and finishes
    if stalled_for >= STALL_SECONDS:
        return "stalled"
    return "starting" if _number(data.get("rate_bytes_per_s")) is None else "copying"


def render_move(labels: Mapping[str, str], data: Mapping[str, Any], state: str, started: float) -> str:
    """The text of lvmove-<instance>.prom. A value not known (no rate yet, no ETA) has no sample."""
    gauges = (
        ("lvmove_move_percent", "percent"),
        ("lvmove_move_size_bytes", "size_bytes"),
        ("lvmove_move_bytes_done", "done_bytes"),
        ("lvmove_move_rate_bytes", "rate_bytes_per_s"),
        ("lvmove_move_eta_seconds", "eta_seconds"),
    )
    parts = []
    for name, key in gauges:
        value = _number(data.get(key))
        parts.append(family(name, "gauge", [] if value is None else [(labels, value)]))
    states = [({**labels, "state": s}, 1.0 if s == state else 0.0) for s in STATES]
    parts.append(family("lvmove_move_state", "gauge", states))
    parts.append(family("lvmove_move_started_timestamp_seconds", "gauge", [(labels, round(started, 3))]))
    return "".join(parts)


def render_counters(counts: Mapping[str, int]) -> str:
    """The text of lvmove.prom: every counter, 0 when it never went up."""
    return "".join(family(name, "counter", [({}, float(counts.get(kind, 0)))]) for kind, name in COUNTERS.items())


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# ---- where ------------------------------------------------------------------------------------------------

def metrics_dir() -> Path | None:
    """The textfile collector's directory, or None when metrics are off. LVMOVE_METRICS_DIR (empty: off)
    overrides `metrics_dir` in lvmove.yaml."""
    env = os.environ.get("LVMOVE_METRICS_DIR")
    if env is not None:
        return Path(env) if env else None
    return _configured_dir()


_configured: list[Path | None] = []  # loaded once per process: the unit reads its config at start anyway


def _configured_dir() -> Path | None:
    if not _configured:
        from lvmove_hooks import config
        from lvmove_hooks.errors import LvmoveError

        try:
            value = config.load().metrics_dir
        except LvmoveError:
            value = ""  # a bad file has already stopped the unit; write nothing
        _configured.append(Path(value) if value else None)
    return _configured[0]


def counters_path() -> Path:
    return Path(os.environ.get("LVMOVE_STATEDIR", "/var/lib/lvmove")) / COUNTERS_FILE


def move_file(directory: Path, instance: str) -> Path:
    return directory / f"lvmove-{instance}.prom"


def write_atomic(path: Path, text: str) -> None:
    """Temp file in the same directory (not *.prom: the collector skips it), then rename. Readable by the
    collector's user (node_exporter does not run as root)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)  # whatever the umask
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# ---- hooks (never raise) ------------------------------------------------------------------------------------

@contextlib.contextmanager
def _best_effort(what: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # metrics must never break a move
        log.debug("metrics: %s failed: %s", what, exc)


def started(instance: str, source: str = "", mode: str = "") -> None:
    """A unit run began carrying the move (journal's "started" event): its start time and labels."""
    with _best_effort("started"):
        _tracks[instance] = _Track(source=source, mode=mode)
        directory = metrics_dir()
        if directory is not None:
            _update_counters(directory, None)  # lvmove.prom exists, with zeros, once lvmove has run


def move_written(instance: str, data: Mapping[str, Any]) -> None:
    """The progress file was written: write lvmove-<instance>.prom from the same data."""
    with _best_effort(f"writing the metrics of {instance}"):
        directory = metrics_dir()
        if directory is None or not directory.is_dir():
            return  # off, or no collector installed: the directory is node_exporter's to create
        now = _clock()
        track = _tracks.setdefault(instance, _Track())
        done = _number(data.get("done_bytes"))
        if done != track.last_done:
            track.last_done, track.last_change = done, now
        labels = {
            "vg": str(data.get("vg", "")),
            "lv": str(data.get("lv", "")),
            "source": str(data.get("source") or track.source),
            "mode": str(data.get("mode") or track.mode),
        }
        state = move_state(data, now - track.last_change)
        write_atomic(move_file(directory, instance), render_move(labels, data, state, track.started))


def move_removed(instance: str) -> None:
    """The move has ended (or is not there): its .prom file goes with the progress file."""
    with _best_effort(f"removing the metrics of {instance}"):
        _tracks.pop(instance, None)
        directory = metrics_dir()
        if directory is not None:
            with contextlib.suppress(FileNotFoundError):
                move_file(directory, instance).unlink()


def count(kind: str) -> None:
    """An event journal.event() logged: raise its host counter (persisted) and rewrite lvmove.prom."""
    if kind not in COUNTERS:
        return
    with _best_effort(f"counting {kind}"):
        directory = metrics_dir()
        if directory is not None:
            _update_counters(directory, kind)


def _update_counters(directory: Path, kind: str | None) -> None:
    """Read-modify-write counters.json under an exclusive lock (moves in other VGs run units of their own),
    atomically, then lvmove.prom from the same numbers."""
    import fcntl

    path = counters_path()
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(path.with_name(f".{COUNTERS_FILE}.lock"), "a", encoding="utf-8") as lock:
        deadline = time.monotonic() + LOCK_SECONDS
        while True:  # bounded: a metrics lock must never hold up the move
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
        counts = read_counters(path)
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + 1
            write_atomic(path, json.dumps(counts, sort_keys=True) + "\n")
        if directory.is_dir():
            write_atomic(directory / HOST_FILE, render_counters(counts))


def read_counters(path: Path | None = None) -> dict[str, int]:
    """The persisted counters; a missing or damaged file counts from 0 (Prometheus takes a reset)."""
    try:
        data = json.loads((path or counters_path()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in COUNTERS and isinstance(v, int) and not isinstance(v, bool)
            and v >= 0}
