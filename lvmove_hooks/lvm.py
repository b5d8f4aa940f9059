"""LVM queries and actions, all through the runner (the kernel side is dm.py)."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from lvmove_hooks import dm, runner
from lvmove_hooks.errors import CommandFailed
from lvmove_hooks.model import REPORT_FIELDS, LogicalVolume, MissingPv, Move, find_moves, parse_lvs
from lvmove_hooks.names import LvRef

log = logging.getLogger("lvmove.lvm")

LVM = "lvm"


@dataclass(frozen=True)
class VgReport:
    volumes: list[LogicalVolume]
    missing: tuple[MissingPv, ...] = ()  # PVs LVM could not find (its warnings), of every VG read


def read(vgs: Sequence[str] = ()) -> VgReport:
    """All LVs (hidden ones too), one row per segment, without waiting for any VG lock, and the PVs LVM
    warned are missing. A VG that is not there has no LVs (it was removed or renamed, or never was): not an
    error."""
    argv = [
        LVM, "lvs", "-a", "--segments", "--readonly", "--reportformat", "json",
        "--units", "b", "--nosuffix", "-o", ",".join(REPORT_FIELDS), *vgs,
    ]
    # probe: a VG that is not there is an answer (exit 5), not a failure to warn about; a real failure is
    # raised below with LVM's own message.
    result = runner.run(argv, check=False, probe=True)
    missing = missing_pvs(result)
    if not result.ok:
        errors = [e for e in lvm_errors(result) if not e.startswith("WARNING:")]
        if not (vgs and errors and all(_about_missing_vg(e, vgs) for e in errors)):
            raise CommandFailed(f"lvs failed: {summary(result)}")
        try:  # the VGs that are there are still reported
            return VgReport(with_kernel_state(parse_lvs(result.stdout)), missing)
        except CommandFailed:
            return VgReport([], missing)
    return VgReport(with_kernel_state(parse_lvs(result.stdout)), missing)


def report(vgs: Sequence[str] = ()) -> list[LogicalVolume]:
    return read(vgs).volumes


_MISSING_PV = re.compile(r"VG (?P<vg>\S+) is missing PV (?P<uuid>[\w-]+)(?: \(last written to (?P<dev>[^)]+)\))?")


def missing_pvs(result: runner.Result) -> tuple[MissingPv, ...]:
    """LVM's "VG vg is missing PV <uuid> (last written to /dev/sdb)" warnings (JSON log or stderr)."""
    found: dict[tuple[str, str], MissingPv] = {}
    for message in lvm_messages(result, ("warn", "error")):
        if (m := _MISSING_PV.search(message)) is not None:
            found.setdefault((m.group("vg"), m.group("uuid")), MissingPv(m.group("vg"), m.group("uuid"),
                                                                          (m.group("dev") or "").strip()))
    return tuple(found.values())


_MISSING_VG = (re.compile(r'Volume group "(?P<vg>.+)" not found\.?'),
               re.compile(r"Cannot process volume group (?P<vg>.+)"))


def _about_missing_vg(message: str, vgs: Sequence[str]) -> bool:
    """LVM's message says one of `vgs` does not exist."""
    return any((m := pattern.fullmatch(message)) is not None and m.group("vg") in vgs for pattern in _MISSING_VG)


def json_log(stdout: str) -> list[Mapping[str, str]] | None:
    """The entries of LVM's command log report, the top-level "log" list that JSON output carries from
    LVM 2.03.26 on (report_command_log=1): LVM's messages go there instead of stderr. None when there is
    none (LVM 2.03.16, or output that is not JSON)."""
    try:
        document = json.loads(stdout)
    except ValueError:
        return None
    entries = document.get("log") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return None
    return [e for e in entries if isinstance(e, dict)]


def lvm_messages(result: runner.Result, kinds: Sequence[str]) -> list[str]:
    """LVM's messages of these log types ("error", "warn", ...) from the JSON log on stdout, and every line it
    printed on stderr (where LVM 2.03.16 puts them all)."""
    messages = [str(e.get("log_message", "")).strip() for e in json_log(result.stdout) or ()
                if e.get("log_type") in kinds]
    messages += [line.strip() for line in result.stderr.splitlines()]
    return [m for m in messages if m]


def lvm_errors(result: runner.Result) -> list[str]:
    """LVM's error messages: "error" entries of the JSON log on stdout, and what it printed on stderr."""
    return lvm_messages(result, ("error",))


def summary(result: runner.Result) -> str:
    """What went wrong, in LVM's words (its JSON log or stderr), with the exit status."""
    errors = list(dict.fromkeys(lvm_errors(result)))
    status = f"exit status {result.returncode}"
    return f"{'; '.join(errors[-3:])} ({status})" if errors else status


def with_kernel_state(volumes: list[LogicalVolume]) -> list[LogicalVolume]:
    """Fill in `active` where the report could not know it (--readonly): an LV is active when its dm
    device exists."""
    if all(lv.active_known for lv in volumes):
        return volumes
    live = {u[:68] for u in dm.dm_uuids() if u.startswith("LVM-")}
    return [lv if lv.active_known else replace(lv, active=lv.dm_uuid in live, active_known=True)
            for lv in volumes]


def moves(vgs: Sequence[str] = ()) -> list[Move]:
    return find_moves(report(vgs))


def find_move(ref: LvRef) -> Move | None:
    return next((m for m in moves([ref.vg]) if m.pvmove.name == ref.lv), None)


def find_by_uuid(vg: str, uuid: str) -> tuple[Move | None, list[LogicalVolume]]:
    """The move whose pvmove LV has `uuid` (None when gone), and the VG's LVs as read."""
    volumes = report([vg])
    move = next((m for m in find_moves(volumes) if m.uuid == uuid), None)
    return move, volumes


WAIT_STEP = 1.0  # seconds between reports while waiting for a move to be gone


def wait_gone(vg: str, uuid: str, timeout: float,
              stop: Callable[[], bool] = lambda: False) -> list[LogicalVolume] | None:
    """Wait until the move with pvmove LV `uuid` is gone from `vg` (one report a second): the VG's LVs as then
    read, or None when it is still there after `timeout` seconds or `stop()` turned true."""
    deadline = time.monotonic() + timeout
    while True:
        current, volumes = find_by_uuid(vg, uuid)
        if current is None:
            return volumes
        if stop() or time.monotonic() >= deadline:
            return None
        time.sleep(WAIT_STEP)


def activate(lvs: Iterable[LvRef]) -> None:
    refs = [str(ref) for ref in lvs]
    runner.run([LVM, "lvchange", "-ay", "--poll", "n", *refs], mutating=True)


def refresh(lvs: Iterable[LvRef]) -> None:
    refs = [str(ref) for ref in lvs]
    runner.run([LVM, "lvchange", "--refresh", "--poll", "n", *refs], mutating=True)


def lvpoll_argv(ref: LvRef, interval: int, *, handle_missing: bool = False) -> list[str]:
    """`handle_missing`: the VG has a missing PV that the move does not use; without --handlemissingpvs LVM's
    poller refuses such a VG ("Cannot change VG ... while PVs are missing"), as lvmpolld's would not."""
    if interval < 1:
        raise ValueError("lvpoll --interval 0 waits in the kernel holding the VG lock; use 1 or more")
    return [LVM, "lvpoll", "--polloperation", "pvmove", *(["--handlemissingpvs"] if handle_missing else []),
            "--interval", str(interval), str(ref)]


def start_background_poller(source_pv: str, interval: int) -> runner.Result:
    """Have LVM fork its own background poller for the move off `source_pv` (`pvmove -b` of a move in
    flight, without lvmpolld): one warm LVM process that checks, checkpoints and finishes, sleeping
    `interval` seconds between checks. lvmove ends those sleeps early when the kernel says a segment is in
    sync (see procscan.catches_sigchld). The forked poller is not our child; find it with procscan.

    `pvmove SRC` with no move in flight off SRC would start a new one; naming SRC itself as the only
    destination (with an allocation policy that never allocates onto the PV being cleared) makes that case
    fail with "No extents available for allocation", while a move in flight ignores the extra arguments."""
    argv = [LVM, "pvmove", "--config", "global/use_lvmpolld=0", "-b", "--alloc", "normal", "-i", str(interval),
            source_pv, source_pv]
    return runner.run(argv, mutating=True, check=False)


def abort(source_pv: str) -> runner.Result:
    return runner.run([LVM, "pvmove", "--abort", source_pv], mutating=True)


SETUP_WAIT = 600.0


def start_move(source: str, dests: Sequence[str], *, lv: str | None, atomic: bool,
               alloc: str | None = None, setting: str = "") -> str:
    """Let LVM's own pvmove set the move up, then hand the polling to lvmove's unit.

    pvmove runs in the foreground without lvmpolld, with an interval of "+86400" (the "+" makes LVM sleep
    before its first check): it creates pvmoveN, commits, and goes to sleep; lvmove then interrupts that
    sleep with SIGINT (LVM's safe point), leaving the move in flight for the unit. `setting`: one more
    lvm.conf setting for it (LVM reads `--config` as one string, settings separated by a space). Returns what
    pvmove printed.
    """
    from lvmove_hooks import lvmpoller  # the poll machinery, imported only by the command that starts a move

    argv = [LVM, "pvmove", "--config", " ".join(filter(None, ["global/use_lvmpolld=0", setting])), "-i", "+86400",
            *(["--alloc", alloc] if alloc else [])]
    if atomic:
        argv.append("--atomic")
    if lv:
        argv += ["-n", lv]
    argv += [source, *dests]
    signalled: list[float] = []
    with tempfile.TemporaryFile() as output:
        proc = runner.spawn(argv, output)
        while not lvmpoller.interrupt_in_sleep(proc.pid, lambda: proc.poll() is None, "pvmove", wait=SETUP_WAIT,
                                               on_signal=lambda: signalled.append(time.monotonic())):
            log.warning("pvmove still setting up after %.0fs; waiting for it", SETUP_WAIT)
        proc.wait()
        output.seek(0)
        text = output.read().decode(errors="replace")
    interrupted = bool(signalled)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # Interrupted by us: whether the move exists is for the caller to check (LVM blocks signals while it holds
    # the VG lock, so a SIGINT that lands in the set-up takes effect only after the commit).
    if proc.returncode != 0 and not interrupted:
        raise CommandFailed(f"pvmove {source} failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    return text


def vg_of_pv(pv: str, volumes: list[LogicalVolume] | None = None) -> str | None:
    """The VG whose LVs have extents on `pv` (by real path), from one report (`volumes`, else read now)."""
    real = os.path.realpath(pv)
    for lv in report() if volumes is None else volumes:
        for seg in lv.segments:
            if any(dev.startswith("/") and os.path.realpath(dev) == real for dev, _ in seg.devices):
                return lv.vg
    return None


def max_segment_setting() -> int | None:
    """LVM's allocation/pvmove_max_segment_size_mb in effect (0: no limit); None where this LVM has no such
    setting (before 2.03.36: lvmconfig refuses the name)."""
    from lvmove_hooks import recopy

    result = runner.run([LVM, "lvmconfig", "--type", "full", recopy.SETTING], check=False, probe=True)
    value = result.stdout.strip().rpartition("=")[2] if result.ok else ""
    return int(value) if value.isdigit() else None


def start_move_with_lvm_poller(source: str, dests: Sequence[str], *, lv: str | None, atomic: bool,
                               alloc: str | None = None, setting: str = "") -> None:
    """A new move that LVM's own background polling carries (lvmpolld, or LVM's forked poller), as a plain
    `pvmove -b` does: for when lvmove's unit would not run. `setting`: one more lvm.conf setting for it."""
    argv = [LVM, "pvmove", "-b", *(["--config", setting] if setting else []), *(["--alloc", alloc] if alloc else []),
            *(["--atomic"] if atomic else []),
            *(["-n", lv] if lv else []), source, *dests]
    result = runner.run(argv, mutating=True, check=False)
    if not result.ok:
        raise CommandFailed(f"pvmove {source} failed: {result.summary()}")


def pv_names(vg: str) -> dict[str, str]:
    """PV UUID -> device name of the VG's PVs that LVM sees now (a missing PV is not listed)."""
    result = runner.run([LVM, "pvs", "--readonly", "--reportformat", "json", "-o", "pv_name,pv_uuid,vg_name"],
                        check=False)
    if not result.ok and not result.stdout.strip():
        raise CommandFailed(f"pvs failed: {summary(result)}")
    try:
        rows = [row for report in json.loads(result.stdout).get("report", []) for row in report.get("pv", [])]
    except (ValueError, AttributeError, TypeError):
        raise CommandFailed("pvs printed no JSON report") from None
    return {str(row.get("pv_uuid", "")): str(row.get("pv_name", "")) for row in rows
            if isinstance(row, dict) and row.get("vg_name") == vg and str(row.get("pv_name", "")).startswith("/")}


def use_lvmpolld() -> bool:
    result = runner.run([LVM, "lvmconfig", "--type", "full", "global/use_lvmpolld"], check=False)
    return result.ok and result.stdout.strip().endswith("=1")


