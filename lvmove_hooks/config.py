"""/etc/lvmove/lvmove.yaml: loading and strict validation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvmove_hooks.errors import BadConfig
from lvmove_hooks.names import name_problem

DEFAULT_PATH = Path("/etc/lvmove/lvmove.yaml")
DEFAULT_METRICS_DIR = "/var/lib/prometheus/node-exporter"  # Debian's prometheus-node-exporter textfile dir
DEFAULT_MAX_RECOPY_MIB = 1024  # 1 GiB
MAX_RECOPY_LIMIT_MIB = 1 << 30  # 1 PiB: beyond any PV
_SIZE_UNITS = {"": 1, "m": 1, "mb": 1, "mib": 1, "g": 1 << 10, "gb": 1 << 10, "gib": 1 << 10,
               "t": 1 << 20, "tb": 1 << 20, "tib": 1 << 20}  # binary, as LVM reads sizes; "" = MiB


@dataclass(frozen=True)
class Config:
    auto_resume: bool = True
    poll_interval: int = 15
    progress_interval: int = 30
    activate_inactive: bool = True
    watch_kernel: bool = True
    remove_orphans: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    metrics_dir: str = DEFAULT_METRICS_DIR  # "" = no metrics
    max_recopy: int = DEFAULT_MAX_RECOPY_MIB  # MiB a crash may make a new move copy again; 0 = no bound
    path: str = field(default="(defaults)", compare=False)

    def wants_vg(self, vg: str) -> bool:
        if vg in self.exclude:
            return False
        return not self.include or vg in self.include


_FORMS = {
    "auto_resume": "true or false",
    "poll_interval": "a whole number of seconds from 1 to 3600",
    "progress_interval": "a whole number of seconds from 1 to 3600",
    "activate_inactive": "true or false",
    "watch_kernel": "true or false",
    "remove_orphans": "true or false",
    "include": "a list of VG names, e.g. [vg0, data-vg]",
    "exclude": "a list of VG names, e.g. [scratch]",
    "metrics_dir": "an absolute directory path, or false (no metrics)",
    "max_recopy": "a size in MiB or with a unit (512M, 1G, 2T), or false (no bound)",
}


def config_path() -> Path:
    return Path(os.environ.get("LVMOVE_CONFIG") or DEFAULT_PATH)


def load(path: Path | None = None) -> Config:
    """Load the config; an absent file means defaults."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise BadConfig(f"{path}: cannot read: {exc.strerror}") from None
    return parse(text, str(path))


def parse(text: str, where: str) -> Config:
    import yaml  # imported here: the generator and `--help` need no YAML

    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise BadConfig(f"{where}:{line} is not valid YAML", hint="see lvmove.yaml(5)") from None
    if data is None:
        return Config(path=where)
    if not isinstance(data, Mapping):
        raise BadConfig(f"{where}: expected a mapping of settings at the top level", hint="see lvmove.yaml(5)")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _FORMS:
            known = ", ".join(sorted(_FORMS))
            raise BadConfig(f"{where}: unknown key {key!r}", hint=f"known keys: {known}")
        values[key] = _check(where, str(key), value)
    return Config(path=where, **values)


def _check(where: str, key: str, value: Any) -> Any:
    def bad() -> BadConfig:
        return BadConfig(f"{where}: {key}: got {value!r}", hint=f"expected {_FORMS[key]}")

    if key in ("auto_resume", "activate_inactive", "watch_kernel", "remove_orphans"):
        if not isinstance(value, bool):
            raise bad()
        return value
    if key == "metrics_dir":
        if value is None or value is False or value == "":
            return ""
        if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
            raise bad()
        return value
    if key == "max_recopy":
        mib = parse_size_mib(value)
        if mib is None:
            raise bad()
        return mib
    if key in ("poll_interval", "progress_interval"):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3600:
            raise bad()
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad()
    for vg in value:
        problem = name_problem(vg)
        if problem:
            raise BadConfig(f"{where}: {key}: {vg!r} is not a VG name: {problem}")
    return tuple(value)


def parse_size_mib(value: Any) -> int | None:
    """A size as lvmove.yaml takes it, in whole MiB: an integer (MiB), a string with a binary unit (512M, 1G,
    1.5T; MiB/GiB/TiB and MB/GB/TB read as binary too, as LVM does), or false/0 for none. None: not a size."""
    if value is False or value == 0:
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number: float = value
    elif isinstance(value, str):
        text = value.strip().lower()
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz").strip()
        unit = text[len(digits):].strip() if digits else ""
        if unit not in _SIZE_UNITS or not digits:
            return None
        try:
            number = float(digits) * _SIZE_UNITS[unit]
        except ValueError:
            return None
    else:
        return None
    if not 1 <= number <= MAX_RECOPY_LIMIT_MIB and number != 0:
        return None
    return int(number)
