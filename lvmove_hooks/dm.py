"""The kernel side: device-mapper tables, status and events of the pvmove device (DM ioctls, else
`dmsetup`), and the dm view of sysfs. No LVM command runs here and no VG lock is taken."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from lvmove_hooks import dmioctl, dmstatus, runner
from lvmove_hooks.model import Move

log = logging.getLogger("lvmove.dm")

DMSETUP = "dmsetup"


def sysfs_root() -> Path:
    return Path(os.environ.get("LVMOVE_SYSFS", "/sys"))


def dm_uuids() -> set[str]:
    """UUIDs of every dm device the kernel has (sysfs: readable without root, no process)."""
    found: set[str] = set()
    for entry in (sysfs_root() / "block").glob("dm-*"):
        try:
            found.add((entry / "dm" / "uuid").read_text().strip())
        except OSError:
            continue
    return found


@dataclass(frozen=True)
class DmInfo:
    exists: bool
    live: bool
    suspended: bool
    uuid: str = ""


def dm_info(name: str) -> DmInfo:
    result = runner.run(
        [DMSETUP, "info", "-c", "--noheadings", "--separator", ":", "-o", "name,uuid,attr", name], check=False,
        probe=True,  # a device that is not there (any more) is an answer, not a warning
    )
    if not result.ok:
        return DmInfo(False, False, False)
    fields = result.stdout.strip().split(":")
    uuid = fields[1] if len(fields) > 2 else ""
    attr = fields[2] if len(fields) > 2 else ""
    return DmInfo(True, "L" in attr, "s" in attr, uuid)


@dataclass(frozen=True)
class KernelState:
    table: str
    status: str
    uuid: str
    live: bool = True  # a live table is loaded
    suspended: bool = False
    event_nr: int | None = None  # the device's event counter (DM ioctls only)


class Kernel:
    """Table and status of dm devices: DM ioctls when possible (no process), else `dmsetup`."""

    def __init__(self) -> None:
        self.control = dmioctl.open_control()

    @property
    def direct(self) -> bool:
        return self.control is not None

    def read(self, name: str) -> KernelState | None:
        """Table, status and dm UUID of a device, or None when it does not exist."""
        if self.control is not None:
            try:
                state = self.control.read(name)
            except OSError as exc:
                log.warning("DM ioctl on %s failed (%s); using dmsetup from now on", name, exc)
                self.control.close()
                self.control = None
            else:
                if state is None:
                    return None
                return KernelState(state.table, state.status, state.uuid, state.live,
                                   state.suspended, state.event_nr)
        info = dm_info(name)
        got = dm_table_status(name) if info.exists else None
        return None if got is None else KernelState(got[0], got[1], info.uuid, info.live, info.suspended)

    def wait_event(self, name: str, event_nr: int) -> bool:
        """See dmioctl.DmControl.wait_event; opens its own control fd (it may block for a long time in a
        helper thread). False when events cannot be waited for here."""
        control = dmioctl.open_control()
        if control is None:
            return False
        try:
            return control.wait_event(name, event_nr)
        finally:
            control.close()

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None


def owned(move: Move, got: KernelState | None) -> KernelState | None:
    """`got` when that reading is `move`'s own live mirror, else None: the device is gone, its name now
    belongs to another move (pvmoveN names are reused; the dm UUID tells), it has no live table (nothing
    copies), or LVM's finish has left only an error table of the same UUID there (no move any more). The one
    answer to "is this dm device still our move" for the unit, `status`, `watch` and the map."""
    if (got is None or not got.uuid.startswith(move.pvmove.dm_uuid) or not got.live or not got.table.strip()
            or is_error_table(got.table)):
        return None
    return got


def source_devices(move: Move) -> frozenset[str]:
    """maj:min of the move's source PV (empty when its device is not there), to tell the legs apart."""
    return frozenset(d for d in (devnum(move.source),) if d)


def progress_of(move: Move, got: KernelState | None,
                sources: frozenset[str] | None = None) -> dmstatus.Progress | None:
    """How far the kernel has copied `move`, from a reading of its device (None: not `move`'s; see owned)."""
    mine = owned(move, got)
    if mine is None:
        return None
    return dmstatus.progress(dmstatus.parse_table(mine.table), dmstatus.parse_status(mine.status),
                             source_devices(move) if sources is None else sources)


def move_progress(move: Move, kernel: Kernel, got: KernelState | None = None) -> dmstatus.Progress | None:
    """How far the kernel has copied `move` now (None when its device is not there). `got`: a reading the
    caller already made."""
    if not move.active:
        return None
    return progress_of(move, got or kernel.read(move.dm_name))


def is_error_table(table: str) -> bool:
    """Nothing but `error` targets: the pvmove LV's device after LVM's finish has turned the LV into an error
    LV (it keeps its UUID), which stays when the finish cannot deactivate it (2.03.31 on: a visible orphan
    with a device) or after a crash between the finish's two commits. It copies nothing: no move is there."""
    targets = [line.split()[2] for line in table.splitlines() if len(line.split()) > 2]
    return bool(targets) and all(t == "error" for t in targets)


def dm_table_status(name: str) -> tuple[str, str] | None:
    """`dmsetup table` and `dmsetup status` of a device, or None when it is gone."""
    table = runner.run([DMSETUP, "table", name], check=False, probe=True)  # gone: an answer
    if not table.ok:
        return None
    status = runner.run([DMSETUP, "status", name], check=False, probe=True)
    if not status.ok:
        return None
    return table.stdout, status.stdout


def devnum(path: str) -> str | None:
    """maj:min of a block device path, or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"


def devname(majmin: str) -> str:
    """A device's /dev name from maj:min (sysfs), or maj:min itself."""
    try:
        with open(sysfs_root() / "dev" / "block" / majmin / "uevent", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("DEVNAME="):
                    return "/dev/" + line.strip().split("=", 1)[1]
    except OSError:
        pass
    return majmin
