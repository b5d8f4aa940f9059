"""systemctl: start lvmove units and read their state (through the runner)."""

from __future__ import annotations

import shutil

from lvmove_hooks import runner
from lvmove_hooks.errors import CommandFailed

SYSTEMCTL = "systemctl"


def start(unit: str) -> None:
    result = runner.run([SYSTEMCTL, "--no-block", "start", unit], check=False)
    if not result.ok:
        raise CommandFailed(f"could not start {unit}: {result.summary()}",
                            hint="is systemd running? 'lvmove run VG/LV' carries the move in this shell")


def states(units: list[str]) -> dict[str, dict[str, str]]:
    """ActiveState/SubState/StatusText per unit; empty when systemctl is absent or fails."""
    if not units or shutil.which(SYSTEMCTL, path=runner.command_env()["PATH"]) is None:
        return {}
    result = runner.run(
        [SYSTEMCTL, "show", "--property=Id,ActiveState,SubState,StatusText", *units], check=False
    )
    if not result.ok:
        return {}
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in [*result.stdout.splitlines(), ""]:
        if not line.strip():
            if current.get("Id"):
                found[current["Id"]] = current
            current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    return found
