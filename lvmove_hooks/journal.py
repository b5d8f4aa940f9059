"""Journal fields and sd_notify: systemd-python when importable, a stdlib fallback otherwise."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger("lvmove")

MESSAGE_IDS = {
    "started": "bb28971395f44da3aeb2c17d7201a76c",
    "progress": "f7324d3d0dce4081aabf9099b45a993b",
    "completed": "04a5bdd38d1b477993e90fd0e0643dfd",
    "failed": "b250cf1983d449d7a63edda86f60037f",
    "aborted": "20acfd1afbbc40ea96a9fda23056bcfd",
    "orphan-removed": "6f0d1c5be2a44f4c9d7e8a31b5c2f9e0",
    "orphan-found": "c3a9e27f41d84b0a8f6e1d2c7b5a4e93",
    "vg-check": "9b7e2d41c6a84f0e8d3b5a1c7e9f2046",
    "stalled": "e41f8a2b9c7d4e6fa0b3c5d8e1f2a7b4",
    "interrupted": "5d2c8e7a1b9f4c3e8a6d0b2f4e7c9a13",
    "waiting-for-pv": "5d7b37811b8b4394a6469ad161c34011",
    "job": "af85b49acb2b448288d8e4b1019d5891",
}
_PRIORITY = {"failed": 3, "aborted": 4, "orphan-found": 4, "stalled": 4, "interrupted": 5, "vg-check": 5,
             "started": 5, "completed": 5, "orphan-removed": 5, "progress": 6,
             "waiting-for-pv": 4, "job": 5}


@dataclass(frozen=True)
class MoveFields:
    vg: str
    lv: str
    uuid: str
    source: str = ""  # the source PV and the mode ("by-segment"/"atomic"): labels of the Prometheus metrics
    mode: str = ""


def notify(state: str) -> bool:
    """Send one sd_notify datagram (e.g. 'STATUS=...'); False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.debug("sd_notify failed: %s", exc)
        return False
    return True


def _journal_send(message: str, fields: Mapping[str, str], priority: int) -> bool:
    try:
        from systemd import journal  # python3-systemd
    except ImportError:
        return _journal_send_socket(message, fields, priority)
    try:
        journal.send(message, PRIORITY=str(priority), SYSLOG_IDENTIFIER="lvmove", **fields)
    except OSError:
        return False
    return True


def _journal_send_socket(message: str, fields: Mapping[str, str], priority: int) -> bool:
    path = "/run/systemd/journal/socket"
    if not os.path.exists(path):
        return False
    items = {"MESSAGE": message, "PRIORITY": str(priority), "SYSLOG_IDENTIFIER": "lvmove", **fields}
    payload = bytearray()
    for key, value in items.items():
        data = value.encode()
        if b"\n" in data:
            payload += key.encode() + b"\n" + len(data).to_bytes(8, "little") + data + b"\n"
        else:
            payload += key.encode() + b"=" + data + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(path)
            sock.sendall(bytes(payload))
    except OSError:
        return False
    return True


_METRIC_EVENTS = ("started", "completed", "failed", "aborted", "orphan-removed")


def _metrics(kind: str, move: MoveFields) -> None:
    """The Prometheus side of an event (best effort, never raises): a move's start, or a host counter."""
    from lvmove_hooks import metrics  # lazily: most commands log no such event
    from lvmove_hooks.names import LvRef

    if kind == "started":
        metrics.started(LvRef(move.vg, move.lv).instance, move.source, move.mode)
    else:
        metrics.count(kind)


def under_systemd() -> bool:
    return bool(os.environ.get("INVOCATION_ID")) or bool(os.environ.get("JOURNAL_STREAM"))


def event(kind: str, message: str, move: MoveFields, percent: float | None = None,
          extra: Mapping[str, str] | None = None) -> None:
    """Log a structured event: journal fields under systemd, a plain line otherwise."""
    fields = {
        "MESSAGE_ID": MESSAGE_IDS[kind],
        "LVMOVE_EVENT": kind,
        "LVMOVE_VG": move.vg,
        "LVMOVE_LV": move.lv,
        "LVMOVE_LV_UUID": move.uuid,
    }
    if percent is not None:
        fields["LVMOVE_PERCENT"] = f"{percent:.2f}"
    fields.update(extra or {})
    if kind in _METRIC_EVENTS:
        _metrics(kind, move)
    if under_systemd() and _journal_send(message, fields, _PRIORITY[kind]):
        return
    stream = sys.stderr
    print(f"lvmove: {message}", file=stream, flush=True)
