"""What a pvmove looks like, built from `lvs --segments --reportformat json` output (pure)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lvmove_hooks.errors import CommandFailed
from lvmove_hooks.names import LvRef, dm_join, is_pvmove_lv, pvmove_of_image

UNKNOWN_PV = "[unknown]"  # how LVM names a PV whose device is missing (devices, move_pv)


@dataclass(frozen=True)
class MissingPv:
    """A PV of the VG that LVM cannot find: its UUID and the device LVM last wrote it to ("" if unsaid)."""

    vg: str
    uuid: str
    last_device: str = ""

    def describe(self) -> str:
        return f"PV {self.uuid}" + (f" (last written to {self.last_device})" if self.last_device else "")


REPORT_FIELDS = (
    "vg_name",
    "vg_uuid",
    "vg_extent_size",
    "lv_name",
    "lv_uuid",
    "lv_attr",
    "lv_active",
    "lv_size",
    "move_pv",
    "copy_percent",
    "lv_layout",
    "lv_role",
    "segtype",
    "seg_size_pe",
    "seg_pe_ranges",
    "devices",
)
_DEVICE = re.compile(r"(?P<name>[^,()]+)\((?P<start>\d+)\)")
_MIMAGE = re.compile(r"(?P<base>pvmove\d+)_mimage_(?P<n>\d+)")


@dataclass(frozen=True)
class Segment:
    segtype: str
    size_pe: int
    devices: tuple[tuple[str, int], ...]  # (PV path or LV name, first extent)


@dataclass(frozen=True)
class LogicalVolume:
    vg: str
    vg_uuid: str
    name: str  # without the brackets LVM puts around hidden LVs
    uuid: str
    attr: str
    active: bool  # see active_known: `lvs --readonly` does not ask the kernel
    size: int  # bytes
    extent_size: int  # bytes
    move_pv: str
    copy_percent: float | None
    role: str
    segments: tuple[Segment, ...]
    active_known: bool = True

    @property
    def dm_uuid(self) -> str:
        """The dm UUID LVM gives this LV's device (newer LVM may append a layer suffix such as -real)."""
        return "LVM-" + self.vg_uuid.replace("-", "") + self.uuid.replace("-", "")

    @property
    def ref(self) -> LvRef:
        return LvRef(self.vg, self.name)

    @property
    def is_pvmove(self) -> bool:
        return self.attr.startswith("p") or "pvmove" in self.role.split(",")

    @property
    def locked(self) -> bool:
        return len(self.attr) > 2 and self.attr[2].isupper()

    @property
    def is_error_orphan(self) -> bool:
        """A leftover `pvmoveN` of a crash between LVM's two finish commits."""
        return is_pvmove_lv(self.name) and self._only_error

    @property
    def orphan_image_of(self) -> str | None:
        """`pvmoveN` when this is a leftover `pvmoveN_mimage_K` of an --atomic move's interrupted finish: an
        error LV by that name (LVM 2.03.39 leaves them visible and active beside the error pvmoveN)."""
        parent = pvmove_of_image(self.name)
        return parent if parent is not None and self._only_error else None

    @property
    def _only_error(self) -> bool:
        return not self.is_pvmove and bool(self.segments) and all(s.segtype == "error" for s in self.segments)

    def maps_to(self, name: str) -> bool:
        return any(dev == name for seg in self.segments for dev, _ in seg.devices)

    def extents_on(self, pv: str) -> int:
        """Extents of this LV's single-area segments that sit on `pv` directly."""
        return sum(s.size_pe for s in self.segments if len(s.devices) == 1 and s.devices[0][0] == pv)


@dataclass(frozen=True)
class Move:
    """One in-flight pvmove: the pvmoveN LV and what hangs on it."""

    pvmove: LogicalVolume
    mode: str  # "by-segment" or "atomic"
    source: str
    destinations: tuple[str, ...]
    moved: tuple[LogicalVolume, ...]
    baseline_on_source: Mapping[str, int] = field(default_factory=dict)  # moved LV uuid -> extents

    @property
    def ref(self) -> LvRef:
        return self.pvmove.ref

    @property
    def uuid(self) -> str:
        return self.pvmove.uuid

    @property
    def dm_name(self) -> str:
        return dm_join(self.pvmove.vg, self.pvmove.name)

    @property
    def size(self) -> int:
        return self.pvmove.size

    @property
    def active(self) -> bool:
        return self.pvmove.active

    def waits_for(self, missing: Sequence[MissingPv]) -> tuple[MissingPv, ...]:
        """The missing PVs this move needs: LVM names a missing PV's device [unknown], so a move whose source
        and destinations all have a device needs none of them, whatever device a missing PV was last written
        to (names are handed out again at each boot: seen on 2.03.31, an unrelated PV last written to /dev/sda
        while /dev/sda was the move's source). With a leg [unknown], the VG's missing PVs (which of them that
        leg is, LVM's report does not say)."""
        if UNKNOWN_PV not in {self.source, *self.destinations}:
            return ()
        return tuple(pv for pv in missing if pv.vg == self.ref.vg)

    def refreshed(self, current: Move) -> Move:
        """`current` (the same move, read again) with what only the first reading knew: the moved LVs'
        extents on the source before the move began, and the moved LVs when LVM no longer lists them."""
        return replace(current, baseline_on_source=self.baseline_on_source, moved=current.moved or self.moved)

    def returned_to_source(self, volumes: list[LogicalVolume]) -> int:
        """After the move is gone: extents of the moved LVs that are (back) on the source PV beyond what
        they had there before the move. Non-zero means the move was aborted."""
        by_uuid = {lv.uuid: lv for lv in volumes}
        return sum(
            max(0, by_uuid[lv.uuid].extents_on(self.source) - self.baseline_on_source.get(lv.uuid, 0))
            for lv in self.moved
            if lv.uuid in by_uuid
        )


def segments_on(volumes: Iterable[LogicalVolume], source: str,
                lv: str | None = None) -> Iterator[tuple[LogicalVolume, Segment]]:
    """The segments with an area on the PV at path `source` (compared by resolved path), of LVs that are not
    pvmove LVs, of LV `lv` only when given."""
    real = os.path.realpath(source)
    for volume in volumes:
        if volume.is_pvmove or (lv and volume.name != lv):
            continue
        for seg in volume.segments:
            if any(dev.startswith("/") and os.path.realpath(dev) == real for dev, _ in seg.devices):
                yield volume, seg


def _rows(document: Mapping[str, Any]) -> Iterable[Mapping[str, str]]:
    reports = document.get("report")
    if not isinstance(reports, list):
        raise CommandFailed("lvs JSON has no 'report' list")
    for report in reports:
        if not isinstance(report, dict):
            continue
        for value in report.values():  # "lv" or "seg", whichever LVM chose
            if isinstance(value, list):
                yield from (row for row in value if isinstance(row, dict))


_UNITS = {"": 1, "b": 1, "s": 512, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def _int(text: str) -> int:
    """A number or size from a report: `123`, `123B` (--units b) or LVM's human `48.00m`."""
    text = text.strip().lstrip("<").rstrip("B")
    if not text:
        return 0
    unit = text[-1].lower() if text[-1].isalpha() else ""
    number = text[:-1] if unit else text
    try:
        return int(float(number) * _UNITS[unit])
    except (KeyError, ValueError):
        raise CommandFailed(f"unexpected number in lvs report: {text!r}") from None


def _percent(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def parse_devices(text: str) -> tuple[tuple[str, int], ...]:
    return tuple((m.group("name").strip(), int(m.group("start"))) for m in _DEVICE.finditer(text))


def parse_lvs(text: str) -> list[LogicalVolume]:
    """Parse lvs JSON (one row per segment or per LV; LVM 2.03.16 `json` and newer, extra keys ignored)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandFailed(f"lvs printed invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise CommandFailed("lvs JSON is not an object")
    order: list[str] = []
    rows: dict[str, list[Mapping[str, str]]] = {}
    for row in _rows(document):
        key = row.get("lv_uuid") or f"{row.get('vg_name', '')}/{row.get('lv_name', '')}"
        if key not in rows:
            order.append(key)
            rows[key] = []
        rows[key].append(row)
    return [_volume(rows[key]) for key in order]


def _volume(rows: list[Mapping[str, str]]) -> LogicalVolume:
    first = rows[0]
    name = first.get("lv_name", "").strip("[]")
    attr = first.get("lv_attr", "")
    active_text = first.get("lv_active", "")
    # With --readonly LVM does not ask the kernel: lv_active is "unknown" and the state column is "X".
    known = active_text != "unknown" and not (len(attr) > 4 and attr[4] == "X")
    active = known and (
        active_text.startswith("active") or active_text == "local exclusively"
        or (not active_text and len(attr) > 4 and attr[4] == "a")
    )
    segments = tuple(
        Segment(row.get("segtype", ""), _int(row.get("seg_size_pe", "0") or "0"),
                parse_devices(row.get("devices", "")))
        for row in rows
        if row.get("segtype") or row.get("devices")
    )
    return LogicalVolume(
        vg=first.get("vg_name", ""),
        vg_uuid=first.get("vg_uuid", ""),
        name=name,
        uuid=first.get("lv_uuid", ""),
        attr=attr,
        active=active,
        size=_int(first.get("lv_size", "0") or "0"),
        extent_size=_int(first.get("vg_extent_size", "0") or "0"),
        move_pv=first.get("move_pv", ""),
        copy_percent=_percent(first.get("copy_percent", "")),
        role=first.get("lv_role", ""),
        segments=segments,
        active_known=known,
    )


def find_moves(volumes: list[LogicalVolume]) -> list[Move]:
    """Every pvmove LV in the report, with its mode, source, destinations and moved LVs."""
    moves: list[Move] = []
    by_vg: dict[str, list[LogicalVolume]] = {}
    for lv in volumes:
        by_vg.setdefault(lv.vg, []).append(lv)
    for vg_lvs in by_vg.values():
        by_name = {lv.name: lv for lv in vg_lvs}
        for lv in vg_lvs:
            if not (lv.is_pvmove and is_pvmove_lv(lv.name)):
                continue
            moves.append(_move(lv, vg_lvs, by_name))
    return moves


def _move(pv_lv: LogicalVolume, vg_lvs: list[LogicalVolume], by_name: Mapping[str, LogicalVolume]) -> Move:
    images = {
        int(m.group("n")): by_name[name]
        for name in by_name
        if (m := _MIMAGE.fullmatch(name)) and m.group("base") == pv_lv.name
    }
    atomic = bool(images) or any(
        _MIMAGE.fullmatch(dev) for seg in pv_lv.segments for dev, _ in seg.devices
    )
    source = pv_lv.move_pv
    dests: list[str] = []

    def add_dest(dev: str) -> None:
        if dev != source and dev not in dests:
            dests.append(dev)

    if atomic:
        for n, image in sorted(images.items()):
            if n == 0:
                if not source:
                    source = next((d for s in image.segments for d, _ in s.devices), "")
                continue
            for seg in image.segments:
                for dev, _ in seg.devices:
                    add_dest(dev)
    else:
        for seg in pv_lv.segments:
            if not source and seg.devices:
                source = seg.devices[0][0]
            for dev, _ in seg.devices[1:] if len(seg.devices) > 1 else seg.devices:
                add_dest(dev)
    moved = tuple(
        lv for lv in vg_lvs
        if lv is not pv_lv and not _MIMAGE.fullmatch(lv.name) and lv.maps_to(pv_lv.name)
    )
    baseline = {lv.uuid: lv.extents_on(source) for lv in moved}
    return Move(pv_lv, "atomic" if atomic else "by-segment", source, tuple(dests), moved, baseline)
