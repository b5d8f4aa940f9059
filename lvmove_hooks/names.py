"""LVM name rules, device-mapper names and systemd unit-name escaping (pure).

Imported by the generator at boot: stdlib-light on purpose (no re, no dataclasses).
"""

from __future__ import annotations

from lvmove_hooks.errors import BadInput

UNIT_TEMPLATE = "lvmove@.service"
UNIT_PREFIX = "lvmove@"
UNIT_SUFFIX = ".service"
NAME_MAX = 127
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+_.-")
# Characters systemd-escape leaves alone (outside path mode).
_UNIT_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.")


def name_problem(name: str) -> str | None:
    """Why `name` is not a valid LVM VG or LV name, or None when it is."""
    if not name:
        return "it is empty"
    if len(name) > NAME_MAX:
        return f"it is longer than {NAME_MAX} characters"
    if not set(name) <= _NAME_CHARS:
        return "LVM names use only A-Z a-z 0-9 + _ . -"
    if name.startswith("-"):
        return "LVM names may not start with '-'"
    if name in (".", ".."):
        return "'.' and '..' are not LVM names"
    return None


def check_name(name: str, what: str) -> str:
    problem = name_problem(name)
    if problem:
        raise BadInput(f"invalid {what} name {name!r}: {problem}")
    return name


def is_pvmove_lv(lv: str) -> bool:
    digits = lv[6:]
    return lv.startswith("pvmove") and digits.isascii() and digits.isdigit()


def pvmove_of_image(lv: str) -> str | None:
    """`pvmove0_mimage_1` -> `pvmove0` (an image sub-LV of an --atomic move's mirror), else None."""
    head, sep, index = lv.rpartition("_mimage_")
    if sep and is_pvmove_lv(head) and index.isascii() and index.isdigit():
        return head
    return None


class LvRef:
    """A VG/LV pair whose names follow LVM's rules (immutable, ordered, hashable)."""

    __slots__ = ("lv", "vg")
    vg: str
    lv: str

    def __init__(self, vg: str, lv: str) -> None:
        object.__setattr__(self, "vg", vg)
        object.__setattr__(self, "lv", lv)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("LvRef is immutable")

    def _key(self) -> tuple[str, str]:
        return (self.vg, self.lv)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LvRef) and self._key() == other._key()

    def __lt__(self, other: LvRef) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"LvRef({self.vg!r}, {self.lv!r})"

    def __str__(self) -> str:
        return f"{self.vg}/{self.lv}"

    @property
    def dm_name(self) -> str:
        return dm_join(self.vg, self.lv)

    @property
    def instance(self) -> str:
        return escape_instance(str(self))

    @property
    def unit(self) -> str:
        return f"{UNIT_PREFIX}{self.instance}{UNIT_SUFFIX}"


def parse_lvref(text: str, *, pvmove_only: bool = True) -> LvRef:
    """Parse and validate `VG/LV` (also accepts `/dev/VG/LV`)."""
    raw = text.removeprefix("/dev/")
    parts = raw.split("/")
    if len(parts) != 2:
        raise BadInput(f"{text!r} is not of the form VG/LV", hint="e.g. vg0/pvmove0")
    vg = check_name(parts[0], "volume group")
    lv = check_name(parts[1].strip("[]") if parts[1].startswith("[") else parts[1], "logical volume")
    if pvmove_only and not is_pvmove_lv(lv):
        raise BadInput(
            f"{text!r} is not a pvmove LV",
            hint="lvmove works on the temporary LV LVM names pvmoveN, e.g. vg0/pvmove0",
        )
    return LvRef(vg, lv)


def dm_join(vg: str, lv: str) -> str:
    """The device-mapper name LVM gives VG/LV: '-' inside a name is doubled."""
    return f"{vg.replace('-', '--')}-{lv.replace('-', '--')}"


def dm_split(dm_name: str) -> tuple[str, str, str]:
    """Split a dm name into (vg, lv, layer), as `dmsetup splitname` does."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(dm_name):
        ch = dm_name[i]
        if ch == "-":
            if i + 1 < len(dm_name) and dm_name[i + 1] == "-":
                current.append("-")
                i += 2
                continue
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current))
    if len(parts) < 2:
        raise BadInput(f"{dm_name!r} is not an LVM device-mapper name", hint="e.g. vg0-pvmove0")
    vg, lv = parts[0], parts[1]
    layer = "-".join(parts[2:])
    return vg, lv, layer


def escape_instance(text: str) -> str:
    """systemd-escape(1) without --path: '/' becomes '-', unsafe bytes become \\xNN."""
    out: list[str] = []
    for index, ch in enumerate(text):
        if ch == "/":
            out.append("-")
        elif ch in _UNIT_SAFE and not (index == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend(f"\\x{byte:02x}" for byte in ch.encode())
    return "".join(out)


def unescape_instance(instance: str) -> str:
    """systemd-escape --unescape: '-' becomes '/', \\xNN becomes the byte."""
    data = bytearray()
    i = 0
    while i < len(instance):
        ch = instance[i]
        if ch == "\\" and instance[i + 1 : i + 2] == "x" and len(instance) >= i + 4:
            hexpart = instance[i + 2 : i + 4]
            try:
                data.append(int(hexpart, 16))
            except ValueError:
                raise BadInput(f"bad escape in unit instance {instance!r}") from None
            i += 4
            continue
        data.extend(b"/" if ch == "-" else ch.encode())
        i += 1
    return data.decode(errors="replace")


def instance_from_unit(unit: str) -> str:
    """`lvmove@vg-pvmove0.service` -> `vg-pvmove0`; a bare instance passes through."""
    if unit.startswith(UNIT_PREFIX):
        unit = unit[len(UNIT_PREFIX) :]
        unit = unit.removesuffix(UNIT_SUFFIX)
    return unit
