"""Read a device-mapper device's table and status straight from the kernel (DM ioctls, no process).

This is the cheap way to watch a copy: no fork, no exec, no VG lock. Output is rendered as the lines
`dmsetup table` / `dmsetup status` print, so `dmstatus` parses both sources alike. Linux only; needs root.
"""

from __future__ import annotations

import fcntl
import os
import struct
from dataclasses import dataclass

CONTROL = "/dev/mapper/control"
# struct dm_ioctl: version[3], data_size, data_start, target_count, open_count, flags, event_nr, padding,
# dev, name[128], uuid[129], data[7]  (312 bytes, linux/dm-ioctl.h)
_HEADER = struct.Struct("=3IIIIiIIIQ128s129s7s")
# struct dm_target_spec: sector_start, length, status, next, target_type[16]  (40 bytes)
_SPEC = struct.Struct("=QQiI16s")
_VERSION = (4, 0, 0)
_IOC_TYPE = 0xFD
_DEV_STATUS = 7
_DEV_WAIT = 8
_TABLE_STATUS = 12
STATUS_TABLE_FLAG = 1 << 4
SUSPEND_FLAG = 1 << 1
ACTIVE_PRESENT_FLAG = 1 << 5
BUFFER_FULL_FLAG = 1 << 8
_MAX_BUFFER = 1 << 20
# CPython's fcntl.ioctl() releases the GIL only for a mutable buffer of at most 1024 bytes (it copies it
# into its own); with a larger one it calls ioctl() holding the GIL. A blocking DM_DEV_WAIT must therefore
# use a small buffer, or it freezes every thread of the process until the event.
WAIT_BUFFER = 1000


def _iowr(nr: int) -> int:
    return (3 << 30) | (_HEADER.size << 16) | (_IOC_TYPE << 8) | nr


class DmIoctlError(OSError):
    pass


@dataclass(frozen=True)
class DmState:
    table: str
    status: str
    uuid: str
    event_nr: int
    suspended: bool
    live: bool


def encode(name: str, flags: int, size: int, event_nr: int = 0) -> bytearray:
    raw = name.encode()
    if len(raw) >= 128:
        raise DmIoctlError(f"dm name too long: {name!r}")
    buf = bytearray(size)
    _HEADER.pack_into(buf, 0, *_VERSION, size, _HEADER.size, 0, 0, flags, event_nr, 0, 0, raw, b"", b"")
    return buf


def decode(buf: bytes | bytearray) -> tuple[int, int, list[str]]:
    """(flags, event_nr, lines) from a DM_TABLE_STATUS answer; each line as dmsetup prints it."""
    fields = _HEADER.unpack_from(buf, 0)
    data_start, count, flags, event_nr = fields[4], fields[5], fields[7], fields[8]
    lines: list[str] = []
    offset = data_start
    for _ in range(count):
        start, length, _status, nxt, ttype = _SPEC.unpack_from(buf, offset)
        params_at = offset + _SPEC.size
        end = buf.index(b"\0", params_at)
        params = buf[params_at:end].decode(errors="replace")
        kind = ttype.split(b"\0", 1)[0].decode(errors="replace")
        lines.append(f"{start} {length} {kind} {params}".rstrip() + ("" if params else " "))
        offset = data_start + nxt
    return flags, event_nr, lines


def _call(fd: int, name: str, nr: int, flags: int) -> bytearray:
    size = 16384
    while True:
        buf = encode(name, flags, size)
        fcntl.ioctl(fd, _iowr(nr), buf, True)
        out_flags = _HEADER.unpack_from(buf, 0)[7]
        if not out_flags & BUFFER_FULL_FLAG:
            return buf
        if size >= _MAX_BUFFER:
            raise DmIoctlError(f"dm answer for {name} too large")
        size *= 4


class DmControl:
    """An open /dev/mapper/control; `read(name)` returns None when the device does not exist."""

    def __init__(self, path: str = CONTROL) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.fd)

    def read(self, name: str) -> DmState | None:
        try:
            table_buf = _call(self.fd, name, _TABLE_STATUS, STATUS_TABLE_FLAG)
            status_buf = _call(self.fd, name, _TABLE_STATUS, 0)
        except OSError as exc:
            if exc.errno == 6:  # ENXIO: no such device
                return None
            raise
        _, _, table = decode(table_buf)
        flags, event_nr, status = decode(status_buf)
        uuid = _HEADER.unpack_from(status_buf, 0)[12].split(b"\0", 1)[0].decode(errors="replace")
        return DmState(
            "\n".join(table) + "\n",
            "\n".join(status) + "\n",
            uuid,
            event_nr,
            bool(flags & SUSPEND_FLAG),
            bool(flags & ACTIVE_PRESENT_FLAG),
        )

    def wait_event(self, name: str, event_nr: int) -> bool:
        """Block in the kernel (DM_DEV_WAIT, no CPU, GIL released) until the device's event counter moves
        past `event_nr`: dm-raid1 raises an event when a mirror becomes fully in sync, and on a leg error.
        Returns at once if that happened already; True on an event (or a signal), False when the device is
        gone."""
        buf = encode(name, 0, WAIT_BUFFER, event_nr)
        try:
            fcntl.ioctl(self.fd, _iowr(_DEV_WAIT), buf, True)
        except OSError as exc:
            if exc.errno == 6:  # ENXIO: no such device
                return False
            if exc.errno == 4:  # EINTR: a signal; let the caller look
                return True
            raise
        return True



def open_control() -> DmControl | None:
    """The kernel interface, or None when it cannot be used here (then callers fall back to dmsetup)."""
    if os.environ.get("LVMOVE_NO_IOCTL") or not os.path.exists(CONTROL):
        return None
    try:
        return DmControl()
    except OSError:
        return None
